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

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    MEAN, PREPROCESS_DIR, ROOT, STD, chinese_clip_config, export_combined, l2n,
    preprocess_references, rounded, roughen, sha256_file, tokenizer_cases, write_json,
)

OUT = os.path.join(ROOT, "models", "fixture", "hf-tiny")
REFS = os.path.join(ROOT, "models", "testdata", "hf_tiny_refs.json")
SEED = 20261202
N_TEXTS = 110
N_PHOTOS = 24


def main():
    import torch
    from PIL import Image
    from transformers import ChineseCLIPModel

    torch.manual_seed(SEED)
    config = chinese_clip_config(hidden=16, layers=2, heads=2, intermediate=64, max_positions=64)
    model = ChineseCLIPModel(config).eval()
    roughen(model, torch, SEED)

    # ---- references, before any export
    cases = tokenizer_cases(N_TEXTS)
    ids = torch.tensor([c["ids"] for c in cases], dtype=torch.long)
    mask = (ids != 0).long()
    with torch.no_grad():
        t = model.get_text_features(input_ids=ids, attention_mask=mask,
                                    token_type_ids=torch.zeros_like(ids))
    t = getattr(t, "pooler_output", t).numpy()

    photos = preprocess_references(N_PHOTOS)
    mean = np.array(MEAN, dtype=np.float32)
    std = np.array(STD, dtype=np.float32)
    pixels = []
    for name in photos:
        im = Image.open(os.path.join(PREPROCESS_DIR, name)).convert("RGB")
        assert im.size == (224, 224), name
        px = (np.asarray(im, dtype=np.float32) / 255.0 - mean) / std
        pixels.append(px.transpose(2, 0, 1))
    pixels = torch.from_numpy(np.stack(pixels).astype(np.float32))
    with torch.no_grad():
        v = model.get_image_features(pixel_values=pixels)
    v = getattr(v, "pooler_output", v).numpy()

    # ---- one graph, as transformers.js ships it
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    fp32 = os.path.join(OUT, "onnx", "model.onnx")
    export_combined(
        torch, model, (ids[:2], mask[:2], pixels[:1]), fp32,
        dynamic_axes={"input_ids": {0: "text_batch_size", 1: "sequence_length"},
                      "attention_mask": {0: "text_batch_size", 1: "sequence_length"},
                      "pixel_values": {0: "image_batch_size"},
                      "logits_per_image": {0: "image_batch_size", 1: "text_batch_size"},
                      "logits_per_text": {0: "text_batch_size", 1: "image_batch_size"},
                      "text_embeds": {0: "text_batch_size"},
                      "image_embeds": {0: "image_batch_size"}},
        do_constant_folding=True,
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

    import transformers
    refs = {
        "about": "transformers ChineseCLIPModel (random weights, seed %d, 2-layer narrow config, "
                 "vocab 21128, projection 512) get_text_features / get_image_features "
                 ".pooler_output, L2-normalised, taken before torch.onnx.export; texts fed "
                 "cn_clip's ids (tokenizer_cases.json), photos cn_clip's image_transform "
                 "(testdata/preprocess). Made by models/scripts/make_hf_tiny.py." % SEED,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "onnxruntime": ort.__version__,
        "files": {k: {"bytes": os.path.getsize(p), "sha256": sha256_file(p)}
                  for k, p in (("fp32", fp32), ("int8", int8))},
        "graph_vs_transformers": report,
        "texts": [{"text": c["text"], "ids": c["ids"], "embedding": rounded(e)}
                  for c, e in zip(cases, t)],
        "photos": [{"file": p, "embedding": rounded(e)} for p, e in zip(photos, v)],
    }
    write_json(REFS, refs, indent=0)
    print(f"wrote {OUT}/onnx and {REFS}")


if __name__ == "__main__":
    main()
