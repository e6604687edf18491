#!/usr/bin/env python3
"""Write models/testdata/orientation/: JPEGs carrying every EXIF Orientation (1-8) and the
reference preprocessing of each, for server/tests/preprocess_fidelity.rs and the browser test
end2end/tests/orientation.spec.ts.

Each JPEG stores the same upright picture (320x240, landscape: four coloured quadrants, a
diagonal gradient and a white bar near the top, so that any wrong rotation or flip moves whole
colour areas) *un-done* by its orientation, with the EXIF tag that undoes it again: a viewer
that honours EXIF shows all eight upright and identical. The reference is what cn_clip's
pipeline gives once the photo is upright: Pillow's `ImageOps.exif_transpose` (shihua's one
deliberate deviation from cn_clip, which ignores EXIF) then cn_clip 1.6.0's `image_transform`
(reproduced with Pillow by make_preprocess_refs.py), stored as the 224x224 RGB uint8 image
before ToTensor/Normalize.

`large-orientation-6.jpg` (stored 1200x1600, upright 1600x1200) is over the browser's 1024 px
downscale limit: the Playwright test uploads it and checks that the picture the page sends is
still upright.

Usage (from the repository root, Pillow==13.0.0 and cn-clip==1.6.0 installed):
    /tmp/models-venv/bin/python models/scripts/make_orientation_refs.py
"""

import hashlib
import os
import sys

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as ref  # noqa: E402

OUT_DIR = os.path.join(ref.MODELS, "testdata", "orientation")
T = Image.Transpose
# The transpose that exif_transpose applies for each tag; its inverse makes the stored pixels.
UNDO = {
    1: None,
    2: T.FLIP_LEFT_RIGHT,
    3: T.ROTATE_180,
    4: T.FLIP_TOP_BOTTOM,
    5: T.TRANSPOSE,
    6: T.ROTATE_90,  # exif_transpose rotates 270 (90 clockwise): store it rotated 90 counter-clockwise
    7: T.TRANSVERSE,
    8: T.ROTATE_270,
}


def upright(width, height):
    """Quadrants red / green (top), blue / yellow (bottom), a soft diagonal gradient on top,
    and a white bar across the top tenth: asymmetric under every rotation and flip."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    top, left = y < height / 2, x < width / 2
    rgb = np.zeros((height, width, 3), np.float32)
    rgb[top & left] = (220, 40, 40)
    rgb[top & ~left] = (40, 200, 60)
    rgb[~top & left] = (40, 60, 220)
    rgb[~top & ~left] = (230, 210, 40)
    rgb += ((x / width + y / height) * 20.0)[..., None]
    rgb[y < height / 10] = (250, 250, 250)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def write_jpeg(picture, orientation, path):
    stored = picture if UNDO[orientation] is None else picture.transpose(UNDO[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    # 4:4:4 at high quality: the decoders' chroma rounding differences stay small.
    stored.save(path, "JPEG", quality=95, subsampling=0, exif=exif.tobytes())
    with Image.open(path) as back:
        assert back.getexif().get(0x0112) == orientation
        shown = ImageOps.exif_transpose(back).convert("RGB")
        assert shown.size == picture.size, (orientation, shown.size)
        diff = np.abs(np.asarray(shown, np.int16) - np.asarray(picture, np.int16))
        assert diff.mean() < 3, (orientation, diff.mean())


def main():
    ref.check_cn_clip_transform()
    ref.clear_outputs(OUT_DIR, (".png", ".jpg"))
    picture = upright(320, 240)
    entries = []
    for o in range(1, 9):
        source = f"orientation-{o}.jpg"
        path = os.path.join(OUT_DIR, source)
        write_jpeg(picture, o, path)
        data = open(path, "rb").read()
        with Image.open(path) as img:
            stored_size = img.size
            rgb = np.asarray(ref.cn_clip_preprocess(img))
        reference = f"orientation-{o}_jpg.png"
        ref.save_reference(Image.fromarray(rgb, "RGB"), rgb, os.path.join(OUT_DIR, reference), source)
        entries.append({
            "source": source,
            "reference": reference,
            "format": "JPEG",
            "mode": "RGB",
            "exif_orientation": o,
            "stored_width": stored_size[0],
            "stored_height": stored_size[1],
            "width": picture.width,
            "height": picture.height,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "tolerance": ref.JPEG_TOLERANCE,
        })
        print(f"{source}: stored {stored_size[0]}x{stored_size[1]}, upright {picture.width}x{picture.height}")
    # Every orientation's reference is (nearly) the same upright picture; a wrong rotation is not.
    refs = [np.asarray(Image.open(os.path.join(OUT_DIR, e["reference"])), np.int16) for e in entries]
    for e, r in zip(entries, refs):
        assert np.abs(r - refs[0]).max() <= 12, e["source"]
    rotated = np.asarray(ref.cn_clip_preprocess(picture.transpose(T.ROTATE_90)), np.int16)
    assert np.abs(rotated - refs[0]).max() > 100

    large = upright(1600, 1200)
    write_jpeg(large, 6, os.path.join(OUT_DIR, "large-orientation-6.jpg"))

    index = ref.reference_index(
        about="JPEGs with EXIF Orientation 1-8 of one upright 320x240 picture, and Pillow's "
              "ImageOps.exif_transpose + cn_clip 1.6.0 image_transform of each (224x224 RGB uint8 "
              "before ToTensor/Normalize). Made by models/scripts/make_orientation_refs.py; read by "
              "server/tests/preprocess_fidelity.rs. large-orientation-6.jpg (stored 1200x1600, upright "
              "1600x1200) is for end2end/tests/orientation.spec.ts.",
        photos_dir="models/testdata/orientation",
        min_within_tolerance=0,
        entries=entries,
    )
    ref.write_json(os.path.join(OUT_DIR, "index.json"), index, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT_DIR, n)) for n in os.listdir(OUT_DIR))
    print(f"{len(entries)} orientations, {total / 1e3:.0f} kB in {os.path.relpath(OUT_DIR, ref.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
