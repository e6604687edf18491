#!/usr/bin/env python3
"""Export a Chinese-CLIP model (cn_clip 1.6.0) to the two ONNX graphs shihua loads.

  image.onnx  pixel_values float32 [batch,3,S,S]   -> image_embeds float32 [batch,D]
  text.onnx   input_ids    int64   [batch,sequence] -> text_embeds  float32 [batch,D]

Both outputs are the *unnormalised* features of cn_clip's `encode_image` / `encode_text`
(text: [CLS] output x text_projection); shihua L2-normalises them itself. The text graph
has a single input: the attention mask is computed inside it as `input_ids != 0` ([PAD]),
exactly as cn_clip does, so trailing padding can be trimmed (dynamic `sequence`, <= 52).

Weights come from an official checkpoint (`--checkpoint clip_cn_vit-b-16.pt`, any of the
five models) or are random (`--random`, fixed seed: same architecture, for speed work;
its embeddings are meaningless). Export uses torch's TorchScript exporter (dynamo=False),
opset 17. `--int8` adds image.int8.onnx / text.int8.onnx (onnxruntime dynamic
quantisation), `--fp16` adds image.fp16.onnx / text.fp16.onnx
(onnxruntime.transformers.float16, float32 inputs/outputs kept).

After export the script verifies the graphs with onnxruntime (CPU) against PyTorch and
writes <out>/export_report.json; it exits non-zero if a float32 check fails.

Usage (see models/export/README.md):
  python models/export/export.py --model ViT-B-16 --checkpoint clip_cn_vit-b-16.pt --out models/ViT-B-16
  python models/export/export.py --model ViT-B-16 --random --out models/ViT-B-16-random --int8
"""

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

MODELS = {
    # id: (cn_clip struct, input resolution)  -- cn_clip 1.6.0 clip/utils.py _MODEL_INFO
    "ViT-B-16": ("ViT-B-16@RoBERTa-wwm-ext-base-chinese", 224),
    "ViT-L-14": ("ViT-L-14@RoBERTa-wwm-ext-base-chinese", 224),
    "ViT-L-14-336": ("ViT-L-14-336@RoBERTa-wwm-ext-base-chinese", 336),
    "ViT-H-14": ("ViT-H-14@RoBERTa-wwm-ext-large-chinese", 224),
    "RN50": ("RN50@RBT3-chinese", 224),
}
OPSET = 17
CONTEXT_LENGTH = 52
PAD_ID = 0
TWO_GB = 2**31 - 1
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

# Three texts of different token lengths (all < 52, so trimming to the longest is real).
TEXTS = [
    "夕阳西下",
    "枯藤老树昏鸦，小桥流水人家，古道西风瘦马",
    "枯藤老树昏鸦，小桥流水人家，古道西风瘦马。夕阳西下，断肠人在天涯。",
]

# Pass/fail limits for the float32 graphs (int8/fp16 are reported, not failed).
FP32_MIN_COSINE = 0.99999
FP32_MAX_ABS = 1e-3
SAME_EMBEDDING_TOL = 1e-4  # trimmed vs padded ids, batch 1 vs batch 3 (L2-normalised)


def log(msg=""):
    print(msg, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Export Chinese-CLIP (cn_clip) to image.onnx + text.onnx for shihua.")
    p.add_argument("--model", required=True, choices=sorted(MODELS),
                   help="architecture (the cn_clip name, = shihua's manifest id)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="official cn_clip checkpoint, e.g. clip_cn_vit-b-16.pt")
    src.add_argument("--random", action="store_true",
                     help="random weights (fixed --seed): same architecture, meaningless embeddings")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--seed", type=int, default=20241127,
                   help="seed for --random weights and the verification inputs (default 20241127)")
    p.add_argument("--int8", action="store_true",
                   help="also write image.int8.onnx / text.int8.onnx (ORT dynamic quantisation)")
    p.add_argument("--int8-weights", choices=("uint8", "int8"), default="uint8",
                   help="int8 weight type (default uint8: int8 weights with uint8 activations "
                        "saturate on CPUs without VNNI, e.g. AVX2-only, and lose accuracy)")
    p.add_argument("--fp16", action="store_true",
                   help="also write image.fp16.onnx / text.fp16.onnx (onnxruntime.transformers.float16)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch and onnxruntime threads for export and verification (0 = all cores)")
    p.add_argument("--no-verify", action="store_true", help="skip the verification (not recommended)")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- building

def build_model(args, torch):
    from cn_clip.clip.utils import create_model

    struct, _ = MODELS[args.model]
    torch.manual_seed(args.seed)
    # create_model builds the architecture, initialises it randomly (cn_clip's own init) and
    # casts it to fp16 like cn_clip does; .float() below brings it back (as load_from_name does
    # on CPU).
    model = create_model(struct, None)
    info = {"source": "random", "seed": args.seed}
    if args.checkpoint:
        ckpt, how = load_checkpoint(args.checkpoint, torch)
        sd = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
        sd = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
        sd = {k: v for k, v in sd.items() if "bert.pooler" not in k}  # cn_clip drops the pooler
        try:
            res = model.load_state_dict(sd, strict=False)
        except RuntimeError as e:  # shape mismatches: a checkpoint of another architecture
            lines = str(e).strip().splitlines()
            raise SystemExit(f"checkpoint does not match --model {args.model}:\n  "
                             + "\n  ".join(lines[1:4]) + ("\n  ..." if len(lines) > 4 else ""))
        if res.missing_keys or res.unexpected_keys:
            raise SystemExit(
                f"checkpoint does not match {args.model}: missing {res.missing_keys[:5]}"
                f"{'...' if len(res.missing_keys) > 5 else ''}, unexpected {res.unexpected_keys[:5]}"
                f"{'...' if len(res.unexpected_keys) > 5 else ''}")
        info = {"source": "checkpoint", "checkpoint": os.path.abspath(args.checkpoint),
                "checkpoint_sha256": sha256(args.checkpoint), "torch_load": how,
                "checkpoint_epoch": ckpt.get("epoch") if isinstance(ckpt, dict) else None}
    model = model.float().eval()
    return model, info


def load_checkpoint(path, torch):
    try:
        return torch.load(path, map_location="cpu", weights_only=True), "weights_only=True"
    except Exception as e:  # older checkpoints may pickle non-tensor objects
        log(f"note: torch.load(weights_only=True) failed ({type(e).__name__}); "
            "retrying with weights_only=False (only do this for a checkpoint you trust)")
        return torch.load(path, map_location="cpu", weights_only=False), "weights_only=False"


def wrappers(model, torch):
    class ImageTower(torch.nn.Module):
        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, pixel_values):
            return self.clip.encode_image(pixel_values)

    class TextTower(torch.nn.Module):
        """cn_clip encode_text: mask = ids != [PAD] inside, [CLS] output x text_projection."""

        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, input_ids):
            return self.clip.encode_text(input_ids)

    return ImageTower(model).eval(), TextTower(model).eval()


# ----------------------------------------------------------------------------- inputs

def make_images(n, size, seed):
    """Random RGB pixels in [0,1], normalised like cn_clip's image_transform, NCHW float32."""
    rng = np.random.default_rng(seed)
    px = rng.random((n, size, size, 3), dtype=np.float32)
    px = (px - MEAN) / STD
    return np.ascontiguousarray(px.transpose(0, 3, 1, 2)).astype(np.float32)


def tokenize(texts):
    from cn_clip.clip import tokenize as cn_tokenize

    ids = cn_tokenize(texts, context_length=CONTEXT_LENGTH).numpy().astype(np.int64)
    lengths = [int((row != PAD_ID).sum()) for row in ids]
    return ids, lengths


# ----------------------------------------------------------------------------- export

def export_graph(torch, module, example, path, input_name, output_name, dynamic_axes):
    """TorchScript export into a temp folder, then re-save as one file (or one .data file
    beside it when the graph is over 2 GB, e.g. ViT-H-14's image tower)."""
    import onnx

    out_dir = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp:
        tmp_path = os.path.join(tmp, os.path.basename(path))
        with torch.no_grad():
            torch.onnx.export(
                module, (example,), tmp_path,
                export_params=True,
                opset_version=OPSET,
                do_constant_folding=True,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes=dynamic_axes,
                dynamo=False,
            )
        m = onnx.load(tmp_path)  # pulls in any external data torch wrote
    m.producer_name = "shihua models/export/export.py"
    save_onnx(m, path)
    return m


def save_onnx(m, path):
    import onnx

    data = path + ".data"
    if os.path.exists(data):
        os.remove(data)
    if m.ByteSize() >= TWO_GB:
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(data), size_threshold=1024)
    else:
        onnx.save_model(m, path)


def check_interface(path, input_name, input_dims, output_name, output_dims):
    import onnx

    m = onnx.load(path, load_external_data=False)
    ins = [i for i in m.graph.input]
    outs = [o for o in m.graph.output]

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    got = {"inputs": [(i.name, dims(i)) for i in ins], "outputs": [(o.name, dims(o)) for o in outs],
           "opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]}
    ok = (len(ins) == 1 and ins[0].name == input_name and dims(ins[0]) == input_dims
          and len(outs) == 1 and outs[0].name == output_name and dims(outs[0]) == output_dims)
    return ok, got


# ----------------------------------------------------------------------------- variants

def inline_identity_initializers(m):
    """torch's exporter de-duplicates identical weights as Identity(initializer) nodes (random
    weights have many: zeroed BN/LayerNorm/bias tensors). ORT's quantiser expects a Conv/MatMul
    weight to be an initializer itself, so point such consumers at the source initializer."""
    inits = {i.name for i in m.graph.initializer}
    outputs = {o.name for o in m.graph.output}
    alias = {n.output[0]: n.input[0] for n in m.graph.node
             if n.op_type == "Identity" and n.input[0] in inits and n.output[0] not in outputs}
    if not alias:
        return 0
    keep = [n for n in m.graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for n in keep:
        for i, name in enumerate(n.input):
            if name in alias:
                n.input[i] = alias[name]
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return len(alias)


def quantize_int8(src, dst, weights):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    m = onnx.load(src)
    inline_identity_initializers(m)
    big = m.ByteSize() >= TWO_GB
    out_dir = os.path.dirname(os.path.abspath(dst))
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".quant-") as tmp:
        tmp_src = os.path.join(tmp, "fp32.onnx")
        save_onnx(m, tmp_src)
        del m
        tmp_dst = os.path.join(tmp, "int8.onnx")
        wt = QuantType.QUInt8 if weights == "uint8" else QuantType.QInt8
        quantize_dynamic(tmp_src, tmp_dst, weight_type=wt, use_external_data_format=big)
        q = onnx.load(tmp_dst)
    q.producer_name = "shihua models/export/export.py (onnxruntime quantize_dynamic)"
    save_onnx(q, dst)


def convert_fp16(src, dst):
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    m = onnx.load(src)
    m16 = convert_float_to_float16(m, keep_io_types=True)
    save_onnx(m16, dst)


# ----------------------------------------------------------------------------- verification

def l2n(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def row_cosines(a, b):
    return np.sum(l2n(a) * l2n(b), axis=-1)


def compare(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    cos = row_cosines(a, b)
    return {
        "max_abs_diff": float(np.max(np.abs(a - b))),
        "max_abs_ref": float(np.max(np.abs(b))),
        "max_abs_diff_normalised": float(np.max(np.abs(l2n(a) - l2n(b)))),
        "min_cosine": float(np.min(cos)),
        "cosines": [float(c) for c in cos],
    }


class Runner:
    def __init__(self, path, threads):
        import onnxruntime as ort

        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        t = time.perf_counter()
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.load_s = time.perf_counter() - t
        self.input = self.sess.get_inputs()[0].name

    def __call__(self, x):
        return self.sess.run(None, {self.input: x})[0]  # positional: output 0


def timed(fn, *a):
    t = time.perf_counter()
    r = fn(*a)
    return r, time.perf_counter() - t


def verify(args, torch, image_tower, text_tower, paths, size, embed_dim):
    rep = {"checks": {}, "timings_s": {}, "inputs": {}}
    failures = []
    checks = rep["checks"]

    images3 = make_images(3, size, args.seed + 1)
    images2 = images3[:2]
    ids, lengths = tokenize(TEXTS)
    longest = max(lengths)
    rep["inputs"] = {"images": f"random pixels in [0,1], cn_clip-normalised, seed {args.seed + 1}",
                     "texts": TEXTS, "token_lengths": lengths, "context_length": CONTEXT_LENGTH}

    with torch.no_grad():
        ref_img2, t = timed(lambda x: image_tower(torch.from_numpy(x)).numpy(), images2)
        rep["timings_s"]["torch_image_batch2"] = t
        ref_txt3, t = timed(lambda x: text_tower(torch.from_numpy(x)).numpy(), ids)
        rep["timings_s"]["torch_text_batch3_len52"] = t
        # PyTorch itself on trimmed ids (shows cn_clip's mask makes padding irrelevant)
        ref_txt3_trim = text_tower(torch.from_numpy(ids[:, :longest].copy())).numpy()
    checks["torch_text_trimmed_vs_padded"] = compare(ref_txt3_trim, ref_txt3)

    def fail_if(cond, what):
        if cond:
            failures.append(what)

    # ---- float32 graphs
    img = Runner(paths["image"], args.threads)
    txt = Runner(paths["text"], args.threads)
    rep["timings_s"]["ort_load_image"] = img.load_s
    rep["timings_s"]["ort_load_text"] = txt.load_s

    out_img2, t = timed(img, images2)
    rep["timings_s"]["ort_image_batch2"] = t
    c = compare(out_img2, ref_img2)
    c["shape"] = list(out_img2.shape)
    checks["image_onnx_vs_torch_batch2"] = c
    fail_if(out_img2.shape != (2, embed_dim), "image output shape")
    fail_if(c["min_cosine"] < FP32_MIN_COSINE or c["max_abs_diff"] > FP32_MAX_ABS,
            "image ONNX vs PyTorch")

    out_txt3, t = timed(txt, ids)
    rep["timings_s"]["ort_text_batch3_len52"] = t
    c = compare(out_txt3, ref_txt3)
    c["shape"] = list(out_txt3.shape)
    checks["text_onnx_vs_torch_batch3_len52"] = c
    fail_if(out_txt3.shape != (3, embed_dim), "text output shape")
    fail_if(c["min_cosine"] < FP32_MIN_COSINE or c["max_abs_diff"] > FP32_MAX_ABS,
            "text ONNX vs PyTorch")

    # dynamic batch: 1 and 3, each row equal to the same input run alone
    out_img3, t = timed(img, images3)
    rep["timings_s"]["ort_image_batch3"] = t
    singles, t = timed(lambda: np.concatenate([img(images3[i:i + 1]) for i in range(3)]))
    rep["timings_s"]["ort_image_3x_batch1"] = t
    c = compare(singles, out_img3)
    c["shapes"] = [list(img(images3[:1]).shape), list(out_img3.shape)]
    checks["image_batch1_vs_batch3"] = c
    fail_if(out_img3.shape != (3, embed_dim) or c["max_abs_diff_normalised"] > SAME_EMBEDDING_TOL,
            "image dynamic batch")
    c = compare(out_img3[:2], out_img2)
    checks["image_batch3_vs_batch2"] = c
    fail_if(c["max_abs_diff_normalised"] > SAME_EMBEDDING_TOL, "image batch 3 vs 2")

    # dynamic sequence: batch trimmed to its longest real sequence, and each text alone at
    # exactly its own length, against the 52-padded batch
    out_trim, t = timed(txt, np.ascontiguousarray(ids[:, :longest]))
    rep["timings_s"][f"ort_text_batch3_len{longest}"] = t
    c = compare(out_trim, out_txt3)
    c["trimmed_to"] = longest
    checks["text_trimmed_batch_vs_padded52"] = c
    fail_if(c["max_abs_diff_normalised"] > SAME_EMBEDDING_TOL, "text trimmed batch vs padded")
    alone = np.concatenate([txt(np.ascontiguousarray(ids[i:i + 1, :lengths[i]])) for i in range(3)])
    c = compare(alone, out_txt3)
    c["lengths"] = lengths
    checks["text_batch1_own_length_vs_batch3_padded52"] = c
    fail_if(c["max_abs_diff_normalised"] > SAME_EMBEDDING_TOL, "text batch 1 own length vs padded batch 3")
    alone52 = np.concatenate([txt(ids[i:i + 1]) for i in range(3)])
    c = compare(alone52, out_txt3)
    checks["text_batch1_vs_batch3_len52"] = c
    fail_if(c["max_abs_diff_normalised"] > SAME_EMBEDDING_TOL, "text dynamic batch")

    # random weights: say how different the embeddings of different inputs are at all
    checks["spread"] = {
        "image_pairwise_cosine": float(row_cosines(out_img3[0:1], out_img3[1:2])[0]),
        "text_pairwise_cosines": [float(row_cosines(out_txt3[i:i + 1], out_txt3[j:j + 1])[0])
                                  for i, j in ((0, 1), (0, 2), (1, 2))],
    }

    # ---- variants: vs float32 ONNX on the same inputs (reported; not pass/fail)
    for kind in ("int8", "fp16"):
        if kind not in paths["variants"]:
            continue
        vi = Runner(paths["variants"][kind]["image"], args.threads)
        vt = Runner(paths["variants"][kind]["text"], args.threads)
        v_img3, t = timed(vi, images3)
        rep["timings_s"][f"ort_{kind}_image_batch3"] = t
        v_txt3, t = timed(vt, ids)
        rep["timings_s"][f"ort_{kind}_text_batch3_len52"] = t
        checks[f"{kind}_image_vs_fp32_batch3"] = compare(v_img3, out_img3)
        checks[f"{kind}_text_vs_fp32_batch3_len52"] = compare(v_txt3, out_txt3)
        v_trim = vt(np.ascontiguousarray(ids[:, :longest]))
        checks[f"{kind}_text_trimmed_vs_padded52"] = compare(v_trim, v_txt3)
        # batch neighbours: dynamic quantisation scales activations per tensor, i.e. per batch
        v_single = np.concatenate([vi(images3[i:i + 1]) for i in range(3)])
        checks[f"{kind}_image_batch1_vs_batch3"] = compare(v_single, v_img3)
        v_tsingle = np.concatenate([vt(ids[i:i + 1]) for i in range(3)])
        checks[f"{kind}_text_batch1_vs_batch3_len52"] = compare(v_tsingle, v_txt3)

    rep["failures"] = failures
    rep["passed"] = not failures
    return rep


# ----------------------------------------------------------------------------- report

def sha256(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def file_info(path):
    files = [path] + ([path + ".data"] if os.path.exists(path + ".data") else [])
    size = sum(os.path.getsize(f) for f in files)
    return {"file": os.path.basename(path), "bytes": size, "mib": round(size / 2**20, 1),
            "sha256": sha256(path), "external_data": len(files) > 1}


def print_report(rep):
    log("\n== files")
    for name, f in rep["files"].items():
        log(f"  {f['file']:<18} {f['mib']:>8.1f} MiB  sha256 {f['sha256'][:16]}…"
            + ("  (+ .data)" if f["external_data"] else ""))
    log("== interface")
    for k, v in rep["interface"].items():
        log(f"  {k}: inputs {v['inputs']} outputs {v['outputs']} opset {v['opset']}")
    log("== timings (s)")
    for k, v in {**rep["timings_s"], **rep.get("verify", {}).get("timings_s", {})}.items():
        log(f"  {k:<36} {v:8.3f}")
    if "verify" not in rep:
        return
    log("== checks (max_abs_diff on raw outputs; cosine and *_normalised on L2-normalised rows)")
    for k, c in rep["verify"]["checks"].items():
        if k == "spread":
            continue
        log(f"  {k:<44} max_abs_diff {c['max_abs_diff']:.3g} (|ref| max {c['max_abs_ref']:.3g})"
            f"  normalised {c['max_abs_diff_normalised']:.3g}  min_cosine {c['min_cosine']:.9f}")
    s = rep["verify"]["checks"].get("spread")
    if s:
        log(f"  spread: cosine between two different images {s['image_pairwise_cosine']:.4f}, "
            f"between the texts {', '.join(f'{x:.4f}' for x in s['text_pairwise_cosines'])}")
    log("== result: " + ("PASSED" if rep["verify"]["passed"] else
                         "FAILED: " + ", ".join(rep["verify"]["failures"])))


def cpu_flags():
    """The CPU features that decide int8 speed/accuracy (VNNI: no u8*s8 saturation)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return None
    return sorted(x for x in set(flags) if x in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"))


def versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "cn-clip", "onnx", "onnxruntime", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


# ----------------------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    t_all = time.perf_counter()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    struct, size = MODELS[args.model]
    timings = {}

    log(f"building {args.model} ({struct}, {size}px) from "
        + ("random weights, seed %d" % args.seed if args.random else args.checkpoint))
    (model, source), timings["build_model"] = timed(build_model, args, torch)
    image_tower, text_tower = wrappers(model, torch)
    n_params = {"image": sum(p.numel() for p in model.visual.parameters()),
                "text": sum(p.numel() for p in model.bert.parameters()) + model.text_projection.numel()}
    embed_dim = int(model.text_projection.shape[1])

    paths = {"image": os.path.join(args.out, "image.onnx"),
             "text": os.path.join(args.out, "text.onnx"), "variants": {}}

    ex_img = torch.from_numpy(make_images(2, size, args.seed))
    ex_ids = torch.from_numpy(tokenize(TEXTS[1:])[0])  # batch 2 at L=52 (dynamic axes below)
    log("exporting image tower -> " + paths["image"])
    _, timings["export_image"] = timed(
        export_graph, torch, image_tower, ex_img, paths["image"], "pixel_values", "image_embeds",
        {"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}})
    log("exporting text tower -> " + paths["text"])
    _, timings["export_text"] = timed(
        export_graph, torch, text_tower, ex_ids, paths["text"], "input_ids", "text_embeds",
        {"input_ids": {0: "batch", 1: "sequence"}, "text_embeds": {0: "batch"}})

    if args.int8:
        paths["variants"]["int8"] = {t: os.path.join(args.out, f"{t}.int8.onnx") for t in ("image", "text")}
        for t in ("image", "text"):
            log(f"quantising {t} -> {paths['variants']['int8'][t]}")
            _, timings[f"int8_{t}"] = timed(quantize_int8, paths[t], paths["variants"]["int8"][t],
                                              args.int8_weights)
    if args.fp16:
        paths["variants"]["fp16"] = {t: os.path.join(args.out, f"{t}.fp16.onnx") for t in ("image", "text")}
        for t in ("image", "text"):
            log(f"converting {t} to fp16 -> {paths['variants']['fp16'][t]}")
            _, timings[f"fp16_{t}"] = timed(convert_fp16, paths[t], paths["variants"]["fp16"][t])

    all_files = {"image": paths["image"], "text": paths["text"]}
    for kind, d in paths["variants"].items():
        for t, p in d.items():
            all_files[f"{t}.{kind}"] = p
    interface, bad = {}, []
    for name, p in all_files.items():
        tower = name.split(".")[0]
        if tower == "image":
            ok, got = check_interface(p, "pixel_values", ["batch", 3, size, size], "image_embeds", ["batch", embed_dim])
        else:
            ok, got = check_interface(p, "input_ids", ["batch", "sequence"], "text_embeds", ["batch", embed_dim])
        interface[name] = got
        if not ok:
            bad.append(f"{name} interface")

    report = {
        "model": args.model,
        "cn_clip_struct": struct,
        "image_size": size,
        "embed_dim": embed_dim,
        "context_length": CONTEXT_LENGTH,
        "weights": source,
        "fixture": bool(args.random),
        "parameters": n_params,
        "opset": OPSET,
        "exporter": "torch.onnx.export(dynamo=False)",
        "int8": ({"method": "onnxruntime.quantization.quantize_dynamic", "weights": args.int8_weights,
                  "activations": "uint8, per tensor, computed per run (depends on the whole batch)"}
                 if args.int8 else None),
        "fp16": ({"method": "onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)"}
                 if args.fp16 else None),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "versions": versions(),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "torch_threads": torch.get_num_threads(), "cpu_flags": cpu_flags()},
        "files": {n: file_info(p) for n, p in all_files.items()},
        "interface": interface,
        "timings_s": timings,
    }
    if not args.no_verify:
        log("verifying with onnxruntime (CPU) against PyTorch")
        report["verify"], timings["verify"] = timed(
            verify, args, torch, image_tower, text_tower, paths, size, embed_dim)
        report["verify"]["failures"] = bad + report["verify"]["failures"]
        report["verify"]["passed"] = not report["verify"]["failures"]
    elif bad:
        report["verify"] = {"checks": {}, "timings_s": {}, "failures": bad, "passed": False}
    timings["total"] = time.perf_counter() - t_all

    report_path = os.path.join(args.out, "export_report.json")
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print_report(report)
    log(f"report: {report_path}")
    if "verify" in report and not report["verify"]["passed"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
