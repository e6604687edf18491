#!/usr/bin/env python3
"""Write models/fixture/{image,text}.int8.onnx: the fixture graphs dynamically quantised to int8
exactly as models/export/export.py --int8 quantises real exports
(`onnxruntime.quantization.quantize_dynamic`, uint8 weights), so `--variant int8` is tested
on every machine without the 750 MB random ViT-B-16.

Usage (any venv with onnx + onnxruntime 1.31.1, e.g. .venv-bench):
    python models/scripts/make_fixture_int8.py
"""
import os

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(os.path.dirname(HERE), "fixture")


def main():
    for tower in ("image", "text"):
        src = os.path.join(FIX, f"{tower}.onnx")
        dst = os.path.join(FIX, f"{tower}.int8.onnx")
        quantize_dynamic(src, dst, weight_type=QuantType.QUInt8)
        a = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
        b = ort.InferenceSession(dst, providers=["CPUExecutionProvider"])
        if tower == "image":
            x = np.random.RandomState(0).randn(2, 3, 224, 224).astype(np.float32)
        else:
            x = np.array([[101, 1920, 1921, 102, 0], [101, 800, 102, 0, 0]], dtype=np.int64)
        ya = a.run(None, {a.get_inputs()[0].name: x})[0]
        yb = b.run(None, {b.get_inputs()[0].name: x})[0]
        cos = (ya * yb).sum(1) / np.linalg.norm(ya, axis=1) / np.linalg.norm(yb, axis=1)
        print(f"{dst}: {os.path.getsize(dst)} bytes, cosine vs fp32 {cos.min():.5f}")


if __name__ == "__main__":
    main()
