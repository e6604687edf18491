#!/usr/bin/env python3
"""Grow a shihua collection to --rows rows with synthetic rows: random unit vectors (the store
part of a query does not care what they mean) whose `filepath` cycles through the real photos
already in the collection, so thumbnails and images of every hit can be served.

    python bench/query/fill.py --db bench/tmp/q10000.db --collection bench_index --rows 10000
"""
import argparse
import os
import sys

import numpy as np
from pymilvus import MilvusClient

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lite import Lite  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--collection", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    lite = Lite(args.db)
    try:
        c = MilvusClient(uri=lite.uri)
        c.load_collection(args.collection)
        real = c.query(args.collection, filter="id > 0", output_fields=["filepath"], limit=16384)
        paths = sorted({r["filepath"] for r in real})
        have = len(real)
        rng = np.random.default_rng(args.seed)
        todo = args.rows - have
        i = 0
        while i < todo:
            n = min(5000, todo - i)
            v = rng.standard_normal((n, args.dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            c.insert(args.collection, [{"vectors": v[j].tolist(),
                                        "filepath": paths[(i + j) % len(paths)],
                                        "synthetic": True} for j in range(n)])
            i += n
        c.flush(args.collection)
        print(f"{args.collection}: {have} real rows + {max(todo, 0)} synthetic", flush=True)
        c.close()
    finally:
        lite.stop()


if __name__ == "__main__":
    main()
