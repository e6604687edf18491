#!/usr/bin/env python3
"""The reference article's indexing loop, timed: cn_clip + torch on the CPU, one image at a time
(`Image.open(p).convert('RGB')`, cn_clip's preprocess, `model.encode_image`, L2 normalise,
`.tolist()`), pymilvus inserts in batches of 300 into a fresh collection with the article's
schema, then its IVF_FLAT/COSINE nlist 512 index and load.

The model is cn_clip's ViT-B-16 with the SAME random weights as models/ViT-B-16-random: it is
built by models/export/export.py's own `build_model` with the same seed, and the script checks
that its embedding of the first photo matches image.onnx (cosine printed, must be > 0.9999).

Milvus: the Milvus Lite 2.5.1 server binary (the one shihua embeds) on a fresh database file,
reached by pymilvus over gRPC like the article's `MilvusClient(uri="http://localhost:19530")`. Run in .venv-bench (bench/setup.sh). Prints one JSON line.

    python bench/index/reference.py --photos DIR --model-dir models/ViT-B-16-random --db /tmp/x.db
"""
import argparse
import glob
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", required=True)
    ap.add_argument("--model-dir", required=True, help="the export to compare with (image.onnx)")
    ap.add_argument("--db", required=True, help="Milvus Lite database file (created)")
    ap.add_argument("--seed", type=int, default=20241127)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--batch-size", type=int, default=300)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (torch device)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image
    from cn_clip.clip.utils import image_transform
    from pymilvus import DataType, MilvusClient

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.join(ROOT, "models", "export"))
    import export  # models/export/export.py: the exact model the ONNX files were made from

    t0 = time.time()
    ns = argparse.Namespace(model="ViT-B-16", seed=args.seed, checkpoint=None, random=True)
    model, _ = export.build_model(ns, torch)
    device = args.device
    model = model.to(device).eval()
    preprocess = image_transform(224)
    load_s = time.time() - t0

    def encode_image(image_path):  # the article's function
        with torch.no_grad():
            raw_image = Image.open(image_path).convert("RGB")
            processed_image = preprocess(raw_image).unsqueeze(0).to(device)
            image_features = model.encode_image(processed_image)
            image_features /= image_features.norm(dim=-1, keepdim=True)
            return image_features.squeeze().tolist()

    paths = []
    for ext in ["*.jpg", "*.jpeg", "*.png", "*.webp", "*.JPG", "*.JPEG", "*.PNG"]:
        paths.extend(glob.glob(os.path.join(args.photos, "**", ext), recursive=True))
    paths = sorted(set(paths))

    # same weights as the ONNX export? (outside the timed part)
    import onnxruntime as ort
    so = ort.SessionOptions()
    if args.threads > 0:
        so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(os.path.join(args.model_dir, "image.onnx"), so,
                                providers=["CPUExecutionProvider"])
    x = preprocess(Image.open(paths[0]).convert("RGB")).unsqueeze(0)
    onnx_v = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0][0]
    del sess
    torch_v = np.array(encode_image(paths[0]))
    cos = float(np.dot(onnx_v, torch_v) / np.linalg.norm(onnx_v) / np.linalg.norm(torch_v))
    if cos < 0.9999:
        raise SystemExit(f"the torch model is not the exported one (cosine {cos:.6f})")

    if os.path.exists(args.db):
        os.remove(args.db)
    sys.path.insert(0, os.path.dirname(HERE))
    from lite import Lite
    lite = Lite(args.db)
    client = MilvusClient(uri=lite.uri)
    name = "reference_bench"
    schema = client.create_schema(auto_id=True, enable_dynamic_field=True, description="")
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="vectors", datatype=DataType.FLOAT_VECTOR, dim=512)
    schema.add_field(field_name="filepath", datatype=DataType.VARCHAR, max_length=200)
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(collection_name=name, schema=schema, shards_num=2)

    start = time.time()
    done = 0
    for b in range(0, len(paths), args.batch_size):
        batch = []
        for p in paths[b:b + args.batch_size]:
            try:
                batch.append({"vectors": encode_image(p), "filepath": p})
            except Exception as e:  # the article reports and continues
                print(f"error {p}: {e}", file=sys.stderr)
        if batch:
            client.insert(collection_name=name, data=batch)
            done += len(batch)
    ip = client.prepare_index_params()
    ip.add_index(index_name="IVF_FLAT", field_name="vectors", index_type="IVF_FLAT",
                 metric_type="COSINE", params={"nlist": 512})
    client.create_index(collection_name=name, index_params=ip)
    client.load_collection(collection_name=name)
    wall = time.time() - start
    client.close()
    lite.stop()
    print(json.dumps({"what": "reference", "images": done, "wall_s": wall,
                      "images_per_s": done / wall, "model_load_s": load_s,
                      "torch_threads": torch.get_num_threads(), "device": device,
                      "torch_vs_onnx_cosine": cos, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
