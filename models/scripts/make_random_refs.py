"""Reference embeddings of the full-size random-weight ViT-B-16 export, computed the reference
way: cn_clip's own image transform and tokenizer (needs torch: run it with the export venv, see
models/export/README.md) and onnxruntime-python on the same ONNX files shihua loads.
Writes models/ViT-B-16-random/refs.json, which server/tests/fidelity_random.rs compares with
shihua's Rust pipeline (cosine >= 0.9999 for both towers).

Usage: python models/scripts/make_random_refs.py [--model-dir models/ViT-B-16-random]
"""
import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from cn_clip.clip import tokenize
from cn_clip.clip.utils import image_transform

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["枯藤老树昏鸦", "小桥流水人家", "古道西风瘦马", "夕阳西下", "断肠人在天涯，一片孤城万仞山"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=str(ROOT / "models" / "ViT-B-16-random"))
    ap.add_argument("--photos", type=int, default=8)
    args = ap.parse_args()
    mdir = Path(args.model_dir)
    opts = ort.SessionOptions()
    image = ort.InferenceSession(str(mdir / "image.onnx"), opts, providers=["CPUExecutionProvider"])
    text = ort.InferenceSession(str(mdir / "text.onnx"), opts, providers=["CPUExecutionProvider"])

    photos = sorted((ROOT / "demo" / "photos").iterdir())[: args.photos]
    transform = image_transform(224)
    pixels = np.stack([transform(Image.open(p)).numpy() for p in photos]).astype(np.float32)
    img = image.run(None, {image.get_inputs()[0].name: pixels})[0]
    ids = tokenize(TEXTS, context_length=52).numpy().astype(np.int64)
    txt = text.run(None, {text.get_inputs()[0].name: ids})[0]

    def norm(a):
        return (a / np.linalg.norm(a, axis=1, keepdims=True)).tolist()

    out = {
        "about": "cn_clip image_transform + tokenize, onnxruntime-python CPU, L2-normalised",
        "images": [{"file": f"demo/photos/{p.name}", "embedding": e} for p, e in zip(photos, norm(img))],
        "texts": [{"text": t, "embedding": e} for t, e in zip(TEXTS, norm(txt))],
    }
    (mdir / "refs.json").write_text(json.dumps(out))
    print(f"wrote {mdir / 'refs.json'}: {len(photos)} photos, {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
