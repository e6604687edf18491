#!/usr/bin/env python3
"""Can a collection made by one variant be searched with queries of another? (issue 15)

    .venv-bench/bin/python bench/index/cross_variant.py --model-dir models/ViT-B-16-random

Embeds the demo photos (the collection, batches of 16 as `shihua index` does) and a set of
queries (poem lines, and photos from ../shared/datasets/photos that are not in the
collection, batch 1 as a query is) with fp32, int8 with uint8 weights and, when given, int8
with signed weights (`--s8-dir`: where shihua cached `*.int8.s8.onnx`). For every pair
(collection variant, query variant) it reports the cosine between the two query vectors and
the overlap of the top 10 (exact cosine search) with the same-variant search. One JSON line
per pair, then a summary line. Preprocessing follows cn_clip (squash to 224 bicubic, CLIP
mean/std); texts are tokenized with cn_clip's tokenizer and trimmed to their length, as
shihua does.
"""
import argparse
import glob
import json
import os

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
POEMS = ["枯藤老树昏鸦", "小桥流水人家", "古道西风瘦马", "夕阳西下", "断肠人在天涯", "大漠孤烟直",
         "长河落日圆", "春眠不觉晓", "处处闻啼鸟", "千山鸟飞绝", "万径人踪灭", "孤舟蓑笠翁",
         "独钓寒江雪", "明月松间照", "清泉石上流", "两个黄鹂鸣翠柳", "一行白鹭上青天",
         "窗含西岭千秋雪", "门泊东吴万里船", "落霞与孤鹜齐飞", "秋水共长天一色", "白日依山尽",
         "黄河入海流", "海上生明月", "天涯共此时", "野火烧不尽", "春风吹又生", "停车坐爱枫林晚",
         "霜叶红于二月花", "接天莲叶无穷碧"]


def pixels(path, size=224):
    img = Image.open(path)
    img = img.convert("RGB").resize((size, size), Image.BICUBIC)
    a = np.asarray(img, dtype=np.float32) / 255.0
    a = (a - MEAN) / STD
    return a.transpose(2, 0, 1)


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def embed_images(sess, arrays, batch):
    out = []
    for i in range(0, len(arrays), batch):
        x = np.stack(arrays[i:i + batch])
        out.append(sess.run(None, {sess.get_inputs()[0].name: x})[0])
    return unit(np.concatenate(out))


def embed_texts(sess, ids):
    out = []
    for row in ids:
        n = int((row != 0).sum())
        out.append(sess.run(None, {sess.get_inputs()[0].name: row[None, :n]})[0])
    return unit(np.concatenate(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--s8-dir", help="folder with image.int8.s8.onnx / text.int8.s8.onnx")
    ap.add_argument("--collection", default=os.path.join(ROOT, "demo", "photos"))
    ap.add_argument("--query-photos", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()

    import cn_clip.clip as clip
    coll_paths = sorted(p for p in glob.glob(os.path.join(args.collection, "*"))
                        if p.lower().endswith((".jpg", ".jpeg", ".png", ".webp")))
    shared = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "datasets", "photos", "*.jpg")))
    names = {os.path.basename(p) for p in coll_paths}
    step = max(1, len(shared) // args.query_photos)
    q_paths = [p for p in shared[::step] if os.path.basename(p) not in names][:args.query_photos]
    coll = [pixels(p) for p in coll_paths]
    q_img = [pixels(p) for p in q_paths]
    ids = clip.tokenize(POEMS, context_length=52).numpy().astype(np.int64)

    variants = {"fp32": ("image.onnx", "text.onnx", args.model_dir),
                "int8-u8": ("image.int8.onnx", "text.int8.onnx", args.model_dir)}
    if args.s8_dir:
        variants["int8-s8"] = ("image.int8.s8.onnx", "text.int8.s8.onnx", args.s8_dir)
    emb = {}
    for v, (img, txt, d) in variants.items():
        si = session(os.path.join(d, img), args.threads)
        st = session(os.path.join(d, txt), args.threads)
        emb[v] = {"coll": embed_images(si, coll, 16),
                  "qimg": embed_images(si, q_img, 1),
                  "qtxt": embed_texts(st, ids)}

    k = args.k
    summary = []
    for cv in variants:
        for qv in variants:
            if cv == qv:
                continue
            c = emb[cv]["coll"]
            for kind in ("qtxt", "qimg"):
                same = emb[cv][kind]
                other = emb[qv][kind]
                cos = (same * other).sum(1)
                overlaps = []
                for a, b in zip(same, other):
                    ta = set(np.argsort(-(c @ a))[:k])
                    tb = set(np.argsort(-(c @ b))[:k])
                    overlaps.append(len(ta & tb))
                r = {"what": "cross_variant", "collection": cv, "queries": qv,
                     "kind": "text" if kind == "qtxt" else "picture", "n": len(same),
                     "collection_size": len(c), "k": k,
                     "query_cos_min": float(cos.min()), "query_cos_mean": float(cos.mean()),
                     "overlap_min": int(min(overlaps)), "overlap_mean": float(np.mean(overlaps)),
                     "queries_below_9": int(sum(o < 9 for o in overlaps))}
                print(json.dumps(r), flush=True)
                summary.append(r)
    # How alike the collection's own vectors are (random weights: very alike).
    c = emb["fp32"]["coll"]
    sims = c @ c.T
    off = sims[~np.eye(len(c), dtype=bool)]
    print(json.dumps({"what": "collection_spread", "variant": "fp32",
                      "pairwise_cos_mean": float(off.mean()), "pairwise_cos_min": float(off.min()),
                      "model_dir": args.model_dir, "collection": args.collection,
                      "query_photos": [os.path.basename(p) for p in q_paths]}))


if __name__ == "__main__":
    main()
