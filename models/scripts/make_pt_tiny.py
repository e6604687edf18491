#!/usr/bin/env python3
"""Write models/fixture/pt-tiny/: a cn_clip checkpoint as the official ones are saved, and refs.

The ViT-L-14, ViT-L-14-336, ViT-H-14 and RN50 weights are published only as cn_clip PyTorch
checkpoints (`clip_cn_*.pt`: a dict with `epoch`, `step`, `name` and the DDP `state_dict`,
keys prefixed `module.`, weights in fp16 after cn_clip's `convert_weights`). `shihua models
fetch` converts them with models/convert/pt_to_onnx.py, without torch. The hub is not
reachable from CI, so this makes a file of the same kind from cn_clip's own `CLIP` class with
random weights (fixed seed) and a narrow config: ViT patch 16 at 224, width 32, 2 layers,
16-wide heads (the head width is a converter argument, as ViT-H-14's 80 is); the real BERT
vocab (21,128) with 32 hidden, 2 layers, 2 heads; embedding dim 256 (so the manifest's dim is
really read).

  models/fixture/pt-tiny/clip_cn_tiny.pt       the checkpoint (committed, ~1.5 MB)
  models/testdata/pt_tiny_refs.json            cn_clip's encode_text (fed cn_clip's tokenize)
                                               and encode_image (fed cn_clip's preprocessing of
                                               models/testdata/preprocess), L2-normalised

It also converts the checkpoint with pt_to_onnx.py and checks the graphs against cn_clip
(onnxruntime), and does the same for a small ModifiedResNet (RN50's architecture; not
committed) and a ViT with 80-wide heads, so every converter path is checked here:
  python models/scripts/make_pt_tiny.py            (the export venv: torch + cn_clip + onnx)
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    PREPROCESS_DIR, ROOT, l2n, preprocess_references, rounded, roughen, sha256_file,
    tokenizer_cases, write_json,
)

OUT = os.path.join(ROOT, "models", "fixture", "pt-tiny")
REFS = os.path.join(ROOT, "models", "testdata", "pt_tiny_refs.json")
CONVERT = os.path.join(ROOT, "models", "convert", "pt_to_onnx.py")
SEED = 20261203
N_TEXTS = 104
N_PHOTOS = 20

TEXT = dict(vocab_size=21128, text_attention_probs_dropout_prob=0.1, text_hidden_act="gelu",
            text_hidden_dropout_prob=0.1, text_hidden_size=32, text_initializer_range=0.02,
            text_intermediate_size=64, text_max_position_embeddings=64,
            text_num_attention_heads=2, text_num_hidden_layers=2, text_type_vocab_size=2)
CONFIGS = {
    # name: (CLIP kwargs, converter args, committed)
    "vit": (dict(embed_dim=256, image_resolution=224, vision_layers=2, vision_width=32,
                 vision_patch_size=16, vision_head_width=16, **TEXT),
            ["--vision-head-width", "16", "--text-head-width", "16"], True),
    "vit-h80": (dict(embed_dim=64, image_resolution=112, vision_layers=1, vision_width=160,
                     vision_patch_size=14, vision_head_width=80, **TEXT),
                # also: weights in image.onnx.data / text.onnx.data (ViT-H-14's >2 GB path)
                ["--model", "ViT-H-14", "--text-head-width", "16", "--external-data-over", "0"],
                False),
    "rn": (dict(embed_dim=128, image_resolution=224, vision_layers=[1, 2, 1, 1], vision_width=8,
                vision_patch_size=None, vision_head_width=32, **TEXT),
           ["--vision-head-width", "32", "--text-head-width", "16"], False),
}


def save_like_official(model, path, torch):
    """cn_clip's training loop saves {epoch, step, name, state_dict} of the DDP model."""
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"epoch": 1, "step": 1, "name": "shihua-test", "state_dict": sd}, path)


def main():
    import onnxruntime as ort
    import torch
    from PIL import Image
    from cn_clip.clip import tokenize
    from cn_clip.clip.model import CLIP, convert_weights
    from cn_clip.clip.utils import image_transform

    cases = tokenizer_cases(N_TEXTS)
    texts = [c["text"] for c in cases]
    ids = tokenize(texts, context_length=52)
    assert ids.tolist() == [c["ids"] for c in cases]
    photos = preprocess_references(N_PHOTOS)

    ok = True
    for name, (cfg, conv_args, committed) in CONFIGS.items():
        torch.manual_seed(SEED)
        model = CLIP(**cfg)
        roughen(model, torch, SEED)
        convert_weights(model)  # fp16, as the official checkpoints are stored
        out_dir = OUT if committed else tempfile.mkdtemp(prefix=f"pt-{name}-")
        os.makedirs(out_dir, exist_ok=True)
        ckpt = os.path.join(out_dir, "clip_cn_tiny.pt")
        save_like_official(model, ckpt, torch)
        model = model.float().eval()  # what cn_clip's load_from_name does on the CPU
        size = cfg["image_resolution"]
        transform = image_transform(size)
        with torch.no_grad():
            t = model.encode_text(ids).numpy()
            px = torch.stack([transform(Image.open(os.path.join(PREPROCESS_DIR, p)))
                              for p in photos])
            v = model.encode_image(px).numpy()

        graphs = tempfile.mkdtemp(prefix=f"pt-{name}-onnx-")
        subprocess.run([sys.executable, CONVERT, "--checkpoint", ckpt, "--out", graphs,
                        "--expect-dim", str(cfg["embed_dim"]), "--expect-size", str(size)]
                       + conv_args, check=True)
        ti = ort.InferenceSession(os.path.join(graphs, "text.onnx"),
                                  providers=["CPUExecutionProvider"])
        ii = ort.InferenceSession(os.path.join(graphs, "image.onnx"),
                                  providers=["CPUExecutionProvider"])
        te = ti.run(None, {"input_ids": ids.numpy().astype(np.int64)})[0]
        ie = ii.run(None, {"pixel_values": px.numpy()})[0]
        ct = (l2n(te) * l2n(t)).sum(-1).min()
        ci = (l2n(ie) * l2n(v)).sum(-1).min()
        ab = max(np.abs(te - t).max(), np.abs(ie - v).max())
        print(f"{name}: converted graphs vs cn_clip: min cosine text {ct:.7f}, image {ci:.7f}, "
              f"max abs {ab:.2e}; checkpoint {os.path.getsize(ckpt):,} B")
        ok &= ct >= 0.99999 and ci >= 0.99999
        if committed:
            refs = {
                "about": "cn_clip 1.6.0 CLIP (random weights, seed %d, config below) saved like "
                         "the official checkpoints (fp16, module. prefix); encode_text of "
                         "cn_clip's tokenize and encode_image of cn_clip's image_transform, "
                         "L2-normalised. Made by models/scripts/make_pt_tiny.py." % SEED,
                "config": cfg, "converter_args": conv_args, "torch": torch.__version__,
                "checkpoint": {"file": "clip_cn_tiny.pt", "bytes": os.path.getsize(ckpt),
                               "sha256": sha256_file(ckpt)},
                "converted_vs_cn_clip": {"text_min_cos": float(ct), "image_min_cos": float(ci)},
                "texts": [{"text": s, "embedding": rounded(e)} for s, e in zip(texts, t)],
                "photos": [{"file": p, "embedding": rounded(e)} for p, e in zip(photos, v)],
            }
            write_json(REFS, refs, indent=0)
    if not ok:
        sys.exit("a converted graph does not equal cn_clip")
    print(f"wrote {OUT} and {REFS}")


if __name__ == "__main__":
    main()
