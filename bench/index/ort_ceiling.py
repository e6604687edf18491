#!/usr/bin/env python3
"""The ceiling for `shihua index`: raw ONNX Runtime throughput of the image graph on tensors
that are already preprocessed (cn_clip's transform, done before the clock starts), batch after
batch, nothing else. Same onnxruntime version (1.31.1) and graph optimisation level as the
library shihua loads. Also reports, for the int8 variant, the cosine of its embeddings with
the fp32 ones on the same photos (same batches).

    python bench/index/ort_ceiling.py --photos DIR --model-dir models/ViT-B-16-random \
        --variants fp32,int8 --batch 16 [--threads 0] [--device cuda]

Prints one JSON line per (variant, batch, threads) and one with the int8-vs-fp32 cosines.
With --profile N, also where the graph's time goes: ONNX Runtime's own profiler over N more
batches per variant (first batch size, all threads), kernel time summed per operator type.
"""
import argparse
import glob
import json
import os
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--variants", default="fp32,int8")
    ap.add_argument("--batch", default="16", help="comma-separated batch sizes")
    ap.add_argument("--threads", default="0", help="comma-separated intra-op thread counts (0: all cores)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (CUDAExecutionProvider)")
    ap.add_argument("--profile", type=int, default=0,
                    help="profile N batches per variant (kernel time per operator type)")
    args = ap.parse_args()

    import numpy as np
    import onnxruntime as ort
    from PIL import Image
    from cn_clip.clip.utils import image_transform

    paths = sorted(p for p in glob.glob(os.path.join(args.photos, "**", "*"), recursive=True)
                   if p.lower().endswith((".jpg", ".jpeg", ".png", ".webp")))
    if args.limit:
        paths = paths[:args.limit]
    tf = image_transform(224)
    t0 = time.time()
    x = np.stack([tf(Image.open(p).convert("RGB")).numpy() for p in paths]).astype(np.float32)
    prep_s = time.time() - t0
    providers = ["CPUExecutionProvider"]
    if args.device == "cuda":
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]

    outs = {}
    for variant in args.variants.split(","):
        f = "image.onnx" if variant == "fp32" else f"image.{variant}.onnx"
        for threads in [int(t) for t in args.threads.split(",")]:
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if threads > 0:
                so.intra_op_num_threads = threads
            sess = ort.InferenceSession(os.path.join(args.model_dir, f), so, providers=providers)
            if sess.get_providers()[0] != providers[0]:
                raise SystemExit(f"asked for {providers[0]}, ONNX Runtime runs on "
                                 f"{sess.get_providers()} ({ort.__file__})")
            name = sess.get_inputs()[0].name
            for batch in [int(b) for b in args.batch.split(",")]:
                sess.run(None, {name: x[:batch]})  # warm-up, not timed
                start = time.time()
                vecs = []
                for i in range(0, len(x), batch):
                    vecs.append(sess.run(None, {name: x[i:i + batch]})[0])
                wall = time.time() - start
                v = np.concatenate(vecs)
                outs[(variant, batch, threads)] = v / np.linalg.norm(v, axis=1, keepdims=True)
                print(json.dumps({"what": "ort_ceiling", "variant": variant, "batch": batch,
                                  "threads": threads, "images": len(x), "wall_s": wall,
                                  "images_per_s": len(x) / wall, "device": args.device,
                                  "providers": sess.get_providers(),
                                  "preprocess_s_untimed": prep_s}), flush=True)
            del sess
        if args.profile:
            profile(os.path.join(args.model_dir, f), variant, x, int(args.batch.split(",")[0]),
                    args.profile, providers)
    for (variant, batch, threads), v in outs.items():
        if variant == "fp32":
            continue
        ref = outs.get(("fp32", batch, threads))
        if ref is None:
            continue
        cos = (v * ref).sum(axis=1)
        print(json.dumps({"what": "variant_cosine", "variant": variant, "vs": "fp32",
                          "batch": batch, "images": len(cos), "min": float(cos.min()),
                          "mean": float(cos.mean())}), flush=True)
        # Signed int8 weights (shihua's int8.s8 copy) against the uint8 graph they came from.
        u8 = outs.get(("int8", batch, threads)) if variant == "int8.s8" else None
        if u8 is not None:
            cos = (v * u8).sum(axis=1)
            print(json.dumps({"what": "variant_cosine", "variant": variant, "vs": "int8",
                              "batch": batch, "images": len(cos), "min": float(cos.min()),
                              "mean": float(cos.mean())}), flush=True)


def profile(path, variant, x, batch, runs, providers):
    import collections
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=providers)
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x[:batch]})  # warm-up, not profiled
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join("/tmp", f"ort-profile-{variant}")
    sess = ort.InferenceSession(path, so, providers=providers)
    sess.run(None, {name: x[:batch]})
    start = time.time()
    for _ in range(runs):
        sess.run(None, {name: x[:batch]})
    wall = time.time() - start
    trace = sess.end_profiling()
    with open(trace) as f:
        events = json.load(f)
    os.remove(trace)
    per_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]  # microseconds
    # Kernel times cover all runs + 1 profiled runs (the first one is this session's warm-up).
    total = sum(per_op.values())
    images = batch * (runs + 1)
    print(json.dumps({"what": "ort_profile", "variant": variant, "batch": batch,
                      "runs": runs, "ms_per_image_wall": 1000 * wall / (batch * runs),
                      "ops": [[op, us / total, us / 1000 / images]
                              for op, us in per_op.most_common()]}), flush=True)


if __name__ == "__main__":
    main()
