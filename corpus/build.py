#!/usr/bin/env python3
"""Rebuilds corpus/poems.jsonl, the classical poem corpus shihua ships (issue 16).

Source: the `chinese-poetry/chinese-poetry` repository (MIT licence, see corpus/SOURCE.md),
at the commit pinned below. The texts themselves are in the public domain.

Selection (exactly these, in this order):
  1. 唐诗三百首   全唐诗/唐诗三百首.json             every poem
  2. 宋词三百首   宋词/宋词三百首.json               every poem
  3. 千家诗       蒙学/qianjiashi.json               every poem
  4. 元曲 (散曲)  元曲/yuanqu.json                   散曲 whose title starts with a 宫调
                                                      (正宫・, 双调・, 越调・ …), i.e. 散曲, not
                                                      excerpts of 杂剧/南戏, by the authors in
                                                      AUTHORS_QU; only 小令 (≤ 4 paragraphs,
                                                      ≤ 120 characters), which also drops the
                                                      source's few merged or scraped entries

Every text is converted to simplified characters with OpenCC's t2s table
(opencc-python-reimplemented 0.1.7): the corpus is displayed and embedded in simplified form,
which is what people type. Punctuation is kept in `paragraphs`; shihua splits poems into lines
(on ，。！？；、 and line breaks) with the same rule it uses for a pasted whole poem, and embeds
each line without its punctuation.

Usage:
  python corpus/build.py <chinese-poetry checkout or bare git dir>   (needs git for a bare dir)
Requires: pip install opencc-python-reimplemented==0.1.7
"""
import json
import re
import subprocess
import sys
from pathlib import Path

from opencc import OpenCC

COMMIT = "99ebbef7e1345c0985c44b9fd96a3f9e776f117b"
AUTHORS_QU = ["马致远", "关汉卿", "白朴", "张养浩", "张可久", "乔吉", "贯云石", "卢挚", "徐再思",
              "睢景臣", "王实甫", "姚燧", "刘致", "薛昂夫", "赵善庆", "杨果", "刘秉忠", "周德清"]
GONGDIAO = ("正宫", "中吕", "南吕", "仙吕", "黄钟", "大石调", "双调", "商调", "越调", "般涉调", "小石调", "高平调")
SPLIT = re.compile(r"[，,。！!？?；;、\n]+")

t2s = OpenCC("t2s").convert


def read(repo: Path, rel: str):
    if (repo / rel).is_file():
        return json.loads((repo / rel).read_text(encoding="utf-8"))
    out = subprocess.run(["git", "--git-dir", str(repo), "show", f"{COMMIT}:{rel}"],
                         check=True, capture_output=True)
    return json.loads(out.stdout.decode("utf-8"))


def clean(s: str) -> str:
    return t2s(s.strip())


def lines_of(paragraphs):
    return [p for p in SPLIT.split("\n".join(paragraphs)) if p.strip()]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    repo = Path(sys.argv[1])
    poems = []

    def add(collection, prefix, title, author, dynasty, paragraphs):
        paragraphs = [clean(p) for p in paragraphs if p.strip()]
        if not paragraphs:
            return
        poems.append({
            "id": f"{prefix}{sum(1 for p in poems if p['id'].startswith(prefix)) + 1:04d}",
            "collection": collection, "title": clean(title), "author": clean(author),
            "dynasty": dynasty, "paragraphs": paragraphs,
        })

    for p in read(repo, "全唐诗/唐诗三百首.json"):
        add("唐诗三百首", "tang300-", p["title"], p["author"], "唐", p["paragraphs"])
    for p in read(repo, "宋词/宋词三百首.json"):
        add("宋词三百首", "song300-", p["rhythmic"], p["author"], "宋", p["paragraphs"])
    for section in read(repo, "蒙学/qianjiashi.json")["content"]:
        for p in section["content"]:
            m = re.match(r"[（(](.+?)[）)](.*)", p["author"].strip())
            dynasty, author = (clean(m.group(1)), m.group(2)) if m else ("", p["author"])
            parts = p["paragraphs"]
            if parts and isinstance(parts[0], dict):  # 其一, 其二 …: one poem each
                for sub in parts:
                    add("千家诗", "qianjia-", f'{p["chapter"]}·{sub["subchapter"]}', author,
                        dynasty, sub["paragraphs"])
            else:
                add("千家诗", "qianjia-", p["chapter"], author, dynasty, parts)
    for p in read(repo, "元曲/yuanqu.json"):
        if (p["author"] in AUTHORS_QU and p["title"].startswith(GONGDIAO)
                and len(p["paragraphs"]) <= 4 and sum(map(len, p["paragraphs"])) <= 120
                and not any("诗歌库" in x or "诗库" in x for x in p["paragraphs"])):
            add("元曲", "yuanqu-", p["title"], p["author"], "元", p["paragraphs"])

    out = Path(__file__).with_name("poems.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for p in poems:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    n_lines = sum(len(lines_of(p["paragraphs"])) for p in poems)
    by = {}
    for p in poems:
        by[p["collection"]] = by.get(p["collection"], 0) + 1
    print(f"{out}: {len(poems)} poems, {n_lines} lines; {by}")


if __name__ == "__main__":
    main()
