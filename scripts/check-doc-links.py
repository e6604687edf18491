#!/usr/bin/env python3
"""Checks that every relative link in the Markdown docs resolves: the file (or folder) exists
and, for `file.md#anchor`, the heading does. Web links are not fetched.

Usage: scripts/check-doc-links.py [FILE.md ...]   (default: README.md and docs/*.md)
Exit status 1 and one line per broken link when any is broken. Not run by `make test`.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def text_outside_fences(path: str):
    inside = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line.strip()):
                inside = not inside
                continue
            if not inside:
                yield n, line


def anchors(path: str) -> set:
    out = set()
    for _, line in text_outside_fences(path):
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            out.add(slug(m.group(1)))
    return out


def main(files) -> int:
    broken = 0
    for md in files:
        for n, line in text_outside_fences(md):
            # inline code spans never hold links
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # http:, https:, mailto:
                path, _, frag = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
                if not os.path.exists(dest):
                    print(f"{os.path.relpath(md, ROOT)}:{n}: {target}: no such file")
                    broken += 1
                elif frag and dest.endswith(".md") and frag not in anchors(dest):
                    print(f"{os.path.relpath(md, ROOT)}:{n}: {target}: no such heading")
                    broken += 1
    print(f"checked {len(files)} files: {broken} broken links")
    return 1 if broken else 0


if __name__ == "__main__":
    args = sys.argv[1:] or [os.path.join(ROOT, "README.md")] + sorted(
        glob.glob(os.path.join(ROOT, "docs", "*.md"))
    )
    sys.exit(main([os.path.abspath(a) for a in args]))
