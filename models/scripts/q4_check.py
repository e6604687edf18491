#!/usr/bin/env python3
"""Does a 4-bit (MatMulNBits) Chinese-CLIP ViT-B-16 pay on the CPU with ONNX Runtime 1.31?

Builds transformers' ChineseCLIPModel with the real ViT-B-16 architecture (random weights,
fixed seed; the hub with the real file is not reachable here), exports it as ONE graph the way
transformers.js ships `onnx/model.onnx`, makes the two quantised copies transformers.js ships
(`model_quantized.onnx`: quantize_dynamic, uint8 weights; `model_q4.onnx`: MatMulNBits 4-bit,
block 32), cuts each into the image and text towers (onnx.utils.extract_model, as shihua's
fetch does in Rust), and measures per tower: file size, speed (images/s at batch 1 and 8,
texts at 16 tokens) and cosine to fp32 on random pixels and real token ids.

  python models/scripts/q4_check.py [--work /tmp/q4] [--threads 2]

Prints a table and writes <work>/q4_check.json. Random weights make the cosine an indicator
only (real weights have other outliers); speed does not depend on the weights.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import chinese_clip_config, export_combined  # noqa: E402


def cpu_flags():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return []
    return sorted({f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")
                   if f" {f}" in flags})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/q4check")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    import onnx
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from transformers import ChineseCLIPModel

    fp32 = os.path.join(args.work, "model.onnx")
    if not os.path.exists(fp32):
        torch.manual_seed(20261202)
        cfg = chinese_clip_config(hidden=768, layers=12, heads=12, intermediate=3072,
                                  max_positions=512)  # the real ViT-B-16 architecture
        model = ChineseCLIPModel(cfg).eval()
        ids = torch.ones(2, 8, dtype=torch.long)
        export_combined(
            torch, model, (ids, ids, torch.zeros(1, 3, 224, 224)), fp32,
            dynamic_axes={"input_ids": {0: "tb", 1: "seq"}, "attention_mask": {0: "tb", 1: "seq"},
                          "pixel_values": {0: "ib"}})
        del model
    files = {"fp32": fp32}
    int8 = os.path.join(args.work, "model_quantized.onnx")
    if not os.path.exists(int8):
        quantize_dynamic(fp32, int8, weight_type=QuantType.QUInt8)
    files["int8"] = int8
    for level in (0, 4):
        q4 = os.path.join(args.work, f"model_q4_acc{level}.onnx")
        if not os.path.exists(q4):
            q = MatMulNBitsQuantizer(onnx.load(fp32), block_size=32, is_symmetric=True,
                                     accuracy_level=level)
            q.process()
            q.model.save_model_to_file(q4, use_external_data_format=False)
        files[f"q4 (accuracy_level {level})"] = q4

    towers = {}
    for name, path in files.items():
        for tower, inputs, output in (("image", ["pixel_values"], "image_embeds"),
                                      ("text", ["input_ids", "attention_mask"], "text_embeds")):
            out = path.replace(".onnx", f".{tower}.onnx")
            if not os.path.exists(out):
                onnx.utils.extract_model(path, out, inputs, [output])
            towers[(name, tower)] = out

    rng = np.random.default_rng(1)
    px1 = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    px8 = rng.standard_normal((8, 3, 224, 224)).astype(np.float32)
    ids = rng.integers(672, 8000, (16, 16)).astype(np.int64)
    ids[:, 0] = 101
    ids[:, -1] = 102
    mask = np.ones_like(ids)

    def session(p):
        o = ort.SessionOptions()
        o.intra_op_num_threads = args.threads
        o.inter_op_num_threads = 1
        return ort.InferenceSession(p, o, providers=["CPUExecutionProvider"])

    def rate(fn, n_items, min_s=6.0):
        fn()
        t0, k = time.perf_counter(), 0
        while time.perf_counter() - t0 < min_s:
            fn()
            k += 1
        return n_items * k / (time.perf_counter() - t0)

    def l2n(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    results, base = [], {}
    for name in files:
        row = {"variant": name, "combined_bytes": os.path.getsize(files[name])}
        s = session(towers[(name, "image")])
        e8 = s.run(None, {"pixel_values": px8})[0]
        row["image_bytes"] = os.path.getsize(towers[(name, "image")])
        row["image_per_s_b1"] = rate(lambda: s.run(None, {"pixel_values": px1}), 1)
        row["image_per_s_b8"] = rate(lambda: s.run(None, {"pixel_values": px8}), 8)
        t = session(towers[(name, "text")])
        te = t.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        row["text_bytes"] = os.path.getsize(towers[(name, "text")])
        row["text_per_s_16tok"] = rate(
            lambda: t.run(None, {"input_ids": ids, "attention_mask": mask}), len(ids))
        if name == "fp32":
            base = {"image": l2n(e8), "text": l2n(te)}
        row["image_min_cos_vs_fp32"] = float((l2n(e8) * base["image"]).sum(-1).min())
        row["text_min_cos_vs_fp32"] = float((l2n(te) * base["text"]).sum(-1).min())
        results.append(row)
        print(json.dumps(row), flush=True)

    report = {"cpu": platform.processor() or platform.machine(), "cpu_flags": cpu_flags(),
              "threads": args.threads, "onnxruntime": ort.__version__, "results": results}
    json.dump(report, open(os.path.join(args.work, "q4_check.json"), "w"), indent=1)
    print(f"\nCPU flags {report['cpu_flags']}, {args.threads} threads, ORT {ort.__version__}")
    print(f"{'variant':<24} {'download':>10} {'img/s b1':>9} {'img/s b8':>9} {'txt/s':>7} "
          f"{'cos img':>8} {'cos txt':>8}")
    for r in results:
        print(f"{r['variant']:<24} {r['combined_bytes'] / 1e6:>8.0f}MB {r['image_per_s_b1']:>9.2f} "
              f"{r['image_per_s_b8']:>9.2f} {r['text_per_s_16tok']:>7.1f} "
              f"{r['image_min_cos_vs_fp32']:>8.4f} {r['text_min_cos_vs_fp32']:>8.4f}")


if __name__ == "__main__":
    main()
