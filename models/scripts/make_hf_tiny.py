#!/usr/bin/env python3
"""Write models/fixture/hf-tiny/: a transformers-shaped Chinese-CLIP test model, and its refs.

The real ViT-B-16 that `shihua models fetch` downloads (Xenova/chinese-clip-vit-base-patch16,
`onnx/model.onnx`) is ONE graph exported from transformers' `ChineseCLIPModel`: inputs
`input_ids`, `attention_mask`, `pixel_values`; outputs `logits_per_image`, `logits_per_text`,
`text_embeds`, `image_embeds`. The hub is not reachable from CI, so this makes the same kind of
file from a `ChineseCLIPModel` with random weights (fixed seed) and a narrow 2-layer config
(the real vocab, 21,128 ids; ViT patch 16 at 224; projection 512), plus

  onnx/model_quantized.onnx  onnxruntime quantize_dynamic of it (what transformers.js ships as
                             the int8 file),

and the reference embeddings models/testdata/hf_tiny_refs.json: transformers'
`get_text_features(...).pooler_output` for >= 100 texts fed cn_clip's token ids
(models/testdata/tokenizer_cases.json, made with cn_clip's tokenizer) and
`get_image_features(...).pooler_output` for the photos of models/testdata/preprocess/ (cn_clip's
image_transform of real photos, stored as the 224x224 RGB image before ToTensor/Normalize),
normalised with cn_clip's constants. (A 4-bit MatMulNBitsQuantizer copy, the kind of file
`model_q4.onnx` is, is made in a temporary folder and checked to run, not committed: shihua
does not offer q4, see docs/models.md.) The references are taken BEFORE torch.onnx.export: after
the export, the same eager model returned different text features (NOTES.md).

Read by server/tests/models_hub.rs, which serves these files in the hub's layout from a local
HTTP server and checks `shihua models fetch` + `shihua embed` against the references.

Needs torch 2.14.1 + transformers 5.23.0 + onnx + onnxruntime 1.31.1 (the venv of
models/export/README.md plus `pip install transformers==5.23.0`):
  python models/scripts/make_hf_tiny.py
"""

import json
import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "models", "fixture", "hf-tiny")
REFS = os.path.join(ROOT, "models", "testdata", "hf_tiny_refs.json")
SEED = 20261202
N_TEXTS = 110
N_PHOTOS = 24
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def l2n(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def roughen(model, torch, seed):
    """Random weights at a scale where every part of the network matters.

    The libraries' own inits (std 0.02) give a nearly linear model whose embeddings barely
    change when, say, the attention mask is dropped (cosine 0.99993), which would let a broken
    graph pass a 0.9999 check. Weights ~ N(0, 1/fan_in), norms ~ 1 + N(0, 0.2), biases
    ~ N(0, 0.2): no part can be wrong without moving the embeddings."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(fan_in))
            elif name.endswith("weight") and (
                    "norm" in name.lower() or ".ln_" in name or ".bn" in name):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def main():
    import torch
    from PIL import Image
    from transformers import ChineseCLIPConfig, ChineseCLIPModel

    torch.manual_seed(SEED)
    config = ChineseCLIPConfig(
        text_config=dict(vocab_size=21128, hidden_size=16, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=64, type_vocab_size=2),
        vision_config=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, patch_size=16, image_size=224,
                           hidden_act="quick_gelu"),
        projection_dim=512,
    )
    model = ChineseCLIPModel(config).eval()
    roughen(model, torch, SEED)

    # ---- references, before any export
    cases = json.load(open(os.path.join(ROOT, "models", "testdata", "tokenizer_cases.json")))
    cases = cases[:N_TEXTS]
    ids = torch.tensor([c["ids"] for c in cases], dtype=torch.long)
    mask = (ids != 0).long()
    with torch.no_grad():
        t = model.get_text_features(input_ids=ids, attention_mask=mask,
                                    token_type_ids=torch.zeros_like(ids))
    t = getattr(t, "pooler_output", t).numpy()

    index = json.load(open(os.path.join(ROOT, "models", "testdata", "preprocess", "index.json")))
    photos = [p["reference"] for p in index["entries"]][:N_PHOTOS]
    pixels = []
    for name in photos:
        im = Image.open(os.path.join(ROOT, "models", "testdata", "preprocess", name)).convert("RGB")
        assert im.size == (224, 224), name
        px = (np.asarray(im, dtype=np.float32) / 255.0 - MEAN) / STD
        pixels.append(px.transpose(2, 0, 1))
    pixels = torch.from_numpy(np.stack(pixels).astype(np.float32))
    with torch.no_grad():
        v = model.get_image_features(pixel_values=pixels)
    v = getattr(v, "pooler_output", v).numpy()

    # ---- one graph, as transformers.js ships it
    class Combined(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, pixel_values):
            o = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       pixel_values=pixel_values)
            return o.logits_per_image, o.logits_per_text, o.text_embeds, o.image_embeds

    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    fp32 = os.path.join(OUT, "onnx", "model.onnx")
    with torch.no_grad():
        torch.onnx.export(
            Combined(model), (ids[:2], mask[:2], pixels[:1]), fp32,
            input_names=["input_ids", "attention_mask", "pixel_values"],
            output_names=["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"],
            dynamic_axes={"input_ids": {0: "text_batch_size", 1: "sequence_length"},
                          "attention_mask": {0: "text_batch_size", 1: "sequence_length"},
                          "pixel_values": {0: "image_batch_size"},
                          "logits_per_image": {0: "image_batch_size", 1: "text_batch_size"},
                          "logits_per_text": {0: "text_batch_size", 1: "image_batch_size"},
                          "text_embeds": {0: "text_batch_size"},
                          "image_embeds": {0: "image_batch_size"}},
            opset_version=14, dynamo=False, do_constant_folding=True,
        )

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # Re-save as one self-contained file (no external data).
    onnx.save(onnx.load(fp32), fp32)
    int8 = os.path.join(OUT, "onnx", "model_quantized.onnx")
    quantize_dynamic(fp32, int8, weight_type=QuantType.QUInt8)
    # Not committed: shihua does not offer q4 (docs/models.md); made to check ORT runs it.
    import tempfile
    q4 = os.path.join(tempfile.mkdtemp(prefix="hf-tiny-q4-"), "model_q4.onnx")
    quant = MatMulNBitsQuantizer(onnx.load(fp32), block_size=16, is_symmetric=True)
    quant.process()
    quant.model.save_model_to_file(q4, use_external_data_format=False)

    # ---- the graph itself equals the eager references (fresh ORT session)
    import onnxruntime as ort

    def run(path):
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        te, = s.run(["text_embeds"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                                      "pixel_values": pixels[:1].numpy()})
        ie, = s.run(["image_embeds"], {"input_ids": ids[:1].numpy(),
                                       "attention_mask": mask[:1].numpy(),
                                       "pixel_values": pixels.numpy()})
        return te, ie

    report = {}
    for name, path in (("fp32", fp32), ("int8", int8), ("q4", q4)):
        te, ie = run(path)
        ct = (l2n(te) * l2n(t)).sum(-1)
        ci = (l2n(ie) * l2n(v)).sum(-1)
        report[name] = {"bytes": os.path.getsize(path), "text_min_cos": float(ct.min()),
                        "image_min_cos": float(ci.min())}
        print(f"{name}: {os.path.getsize(path):,} B; min cosine to transformers: "
              f"text {ct.min():.6f}, image {ci.min():.6f}")
    if report["fp32"]["text_min_cos"] < 0.9999 or report["fp32"]["image_min_cos"] < 0.9999:
        sys.exit("the fp32 export does not equal transformers' features")

    def r(x):
        return [float(f"{a:.7g}") for a in l2n(x)]

    import transformers
    refs = {
        "about": "transformers ChineseCLIPModel (random weights, seed %d, 2-layer narrow config, "
                 "vocab 21128, projection 512) get_text_features / get_image_features "
                 ".pooler_output, L2-normalised, taken before torch.onnx.export; texts fed "
                 "cn_clip's ids (tokenizer_cases.json), photos cn_clip's image_transform "
                 "(testdata/preprocess). Made by models/scripts/make_hf_tiny.py." % SEED,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "onnxruntime": ort.__version__,
        "files": {k: {"bytes": os.path.getsize(p), "sha256": sha256(p)}
                  for k, p in (("fp32", fp32), ("int8", int8))},
        "graph_vs_transformers": report,
        "texts": [{"text": c["text"], "ids": c["ids"], "embedding": r(e)}
                  for c, e in zip(cases, t)],
        "photos": [{"file": p, "embedding": r(e)} for p, e in zip(photos, v)],
    }
    with open(REFS, "w") as f:
        json.dump(refs, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"wrote {OUT}/onnx and {REFS}")


def sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


if __name__ == "__main__":
    main()
