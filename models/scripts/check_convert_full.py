#!/usr/bin/env python3
"""models/convert/pt_to_onnx.py at full size: the real cn_clip architectures (random weights,
saved like the official checkpoints) converted without torch, against cn_clip + torch.

  python models/scripts/check_convert_full.py ViT-B-16 RN50 ...   (the export venv)

Prints, per model: checkpoint size, conversion time, graph sizes, min cosine and max abs
difference to cn_clip's encode_text / encode_image (8 texts of models/testdata/tokenizer_cases,
4 random images), and the embedding dim / input size the converter read from the checkpoint.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STRUCT = {
    "ViT-B-16": ("ViT-B-16@RoBERTa-wwm-ext-base-chinese", 224),
    "ViT-L-14": ("ViT-L-14@RoBERTa-wwm-ext-base-chinese", 224),
    "ViT-L-14-336": ("ViT-L-14-336@RoBERTa-wwm-ext-base-chinese", 336),
    "ViT-H-14": ("ViT-H-14@RoBERTa-wwm-ext-large-chinese", 224),
    "RN50": ("RN50@RBT3-chinese", 224),
}


def l2n(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def main():
    import onnxruntime as ort
    import torch
    from cn_clip.clip import tokenize
    from cn_clip.clip.utils import create_model

    cases = json.load(open(os.path.join(ROOT, "models", "testdata", "tokenizer_cases.json")))
    ids = tokenize([c["text"] for c in cases[:8]], context_length=52)
    for name in sys.argv[1:]:
        struct, size = STRUCT[name]
        torch.manual_seed(1)
        model = create_model(struct)  # cn_clip's init, fp16 like the official files
        work = tempfile.mkdtemp(prefix=f"full-{name}-")
        ckpt = os.path.join(work, "ckpt.pt")
        torch.save({"epoch": 1, "step": 1, "name": name,
                    "state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, ckpt)
        model = model.float().eval()
        px = torch.randn(4, 3, size, size)
        with torch.no_grad():
            t = model.encode_text(ids).numpy()
            v = model.encode_image(px).numpy()
        del model
        t0 = time.time()
        subprocess.run([sys.executable, os.path.join(ROOT, "models/convert/pt_to_onnx.py"),
                        "--checkpoint", ckpt, "--out", work, "--model", name], check=True)
        took = time.time() - t0
        so = ort.SessionOptions()
        te = ort.InferenceSession(os.path.join(work, "text.onnx"), so,
                                  providers=["CPUExecutionProvider"]).run(
            None, {"input_ids": ids.numpy()})[0]
        ie = ort.InferenceSession(os.path.join(work, "image.onnx"), so,
                                  providers=["CPUExecutionProvider"]).run(
            None, {"pixel_values": px.numpy()})[0]
        sizes = {f: os.path.getsize(os.path.join(work, f)) for f in sorted(os.listdir(work))}
        print(json.dumps({
            "model": name, "convert_s": round(took, 1), "files": sizes,
            "text_min_cos": float((l2n(te) * l2n(t)).sum(-1).min()),
            "image_min_cos": float((l2n(ie) * l2n(v)).sum(-1).min()),
            "text_max_abs": float(np.abs(te - t).max()),
            "image_max_abs": float(np.abs(ie - v).max()),
            "dims": [int(te.shape[1]), int(ie.shape[1])]}), flush=True)
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)


if __name__ == "__main__":
    main()
