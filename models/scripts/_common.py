"""What the scripts that make models/testdata and models/fixture share.

- Paths: ROOT (the repository), MODELS (models/).
- cn_clip's image preprocessing, reproduced with Pillow (constants, the check that the installed
  cn_clip still does what is reproduced, the transform itself) and how its reference sets are
  written (entries, index.json): make_preprocess_refs.py, make_demo_preprocess_refs.py,
  make_orientation_refs.py.
- Random-weight test models and their reference embeddings: l2n, roughen, sha256_file,
  rounded, the test texts and photos, write_json (make_hf_tiny.py, make_pt_tiny.py), and the
  transformers ChineseCLIP config and one-graph export as transformers.js ships it
  (make_hf_tiny.py, q4_check.py).

Only numpy and Pillow are imported here; torch and transformers are passed in or imported by the
functions that need them, so the preprocessing scripts keep running without torch.
"""

import hashlib
import json
import os
import re
import sys

import numpy as np
from PIL import Image, ImageOps

from cnclip_ref import cnclip_dir

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
ROOT = os.path.dirname(MODELS)
TESTDATA = os.path.join(MODELS, "testdata")

# ---- cn_clip's preprocessing (make_preprocess_refs.py's docstring explains the reproduction)

SIZE = 224
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
TOLERANCE = 0.02  # max |shihua - cn_clip| after normalisation, asserted by the Rust test

# JPEG decoding differs: shihua decodes with the `image` crate (zune-jpeg), cn_clip with Pillow
# (libjpeg-turbo). zune-jpeg rounds 4:2:0/4:2:2 chroma upsampling twice where libjpeg-turbo rounds
# once, and its IDCT differs by 1 on rare samples, so a decoded JPEG differs by up to ~4 levels on
# a few percent of pixels. The 224x224 resize averages most of it away, but not all: on the whole
# photo folder, 54 of 106 JPEGs stay within 0.02 and the worst is 4 levels (0.057). PNG and WebP
# decode identically, and the resize is bit-exact, so those references are matched exactly.
# The Rust test therefore holds JPEGs to 3 levels (3/255/min(std) = 0.0450) and everything
# else to TOLERANCE, and requires at least MIN_STRICT photos within TOLERANCE.
JPEG_TOLERANCE = 0.046
JPEG_TOLERANCE_NOTE = ("JPEG: zune-jpeg (shihua) and libjpeg-turbo (Pillow) decode chroma upsampling "
                       "and a few IDCT samples with different rounding; up to 3 levels after the resize")
MIN_STRICT = 20

EXPECTED_TRANSFORM = re.compile(
    r"def image_transform\(image_size=224\):\s*"
    r"transform = Compose\(\[\s*"
    r"Resize\(\(image_size, image_size\), interpolation=InterpolationMode\.BICUBIC\),\s*"
    r"_convert_to_rgb,\s*"
    r"ToTensor\(\),\s*"
    r"Normalize\(\(0\.48145466, 0\.4578275, 0\.40821073\), \(0\.26862954, 0\.26130258, 0\.27577711\)\),\s*"
    r"\]\)\s*return transform"
)
EXPECTED_CONVERT = re.compile(r"def _convert_to_rgb\(image\):\s*return image\.convert\('RGB'\)")


def check_cn_clip_transform():
    """Fail unless the installed cn_clip's image_transform is the one reproduced here."""
    path = os.path.join(cnclip_dir(), "utils.py")
    with open(path, encoding="utf-8") as f:
        src = f.read()
    if not EXPECTED_TRANSFORM.search(src) or not EXPECTED_CONVERT.search(src):
        raise SystemExit(f"{path}: image_transform / _convert_to_rgb differ from what this script reproduces")


def cn_clip_preprocess(img):
    """cn_clip's Resize((224,224), BICUBIC) + _convert_to_rgb on a PIL image, as torchvision runs it."""
    img = ImageOps.exif_transpose(img)  # shihua's one deliberate deviation (see make_preprocess_refs.py)
    resized = img.resize((SIZE, SIZE), Image.Resampling.BICUBIC)  # torchvision: img.resize(size[::-1], interpolation)
    rgb = resized.convert("RGB")
    # Fresh image: no info (ICC profile, EXIF, dpi) carried into the reference PNG.
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


def reference_name(source):
    stem, ext = os.path.splitext(source)
    return f"{stem}_{ext.lstrip('.').lower()}.png"


def clear_outputs(out_dir, extensions=(".png",)):
    """Make out_dir and delete the files a previous run wrote there."""
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        if old.endswith(extensions):
            os.remove(os.path.join(out_dir, old))


def source_entry(source, data, img, note):
    """index.json's record of one source photo (its bytes `data`, opened as `img`)."""
    return {
        "source": source,
        "reference": reference_name(source),
        "format": img.format,
        "mode": img.mode,
        "width": img.width,
        "height": img.height,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "exif_orientation": img.getexif().get(0x0112),
        "notes": note,
    }


def save_reference(image, rgb, out, source):
    """Save a reference PNG and check that it reads back as exactly `rgb`."""
    image.save(out, format="PNG", optimize=True)
    back = np.asarray(Image.open(out).convert("RGB"))
    assert back.shape == (SIZE, SIZE, 3) and np.array_equal(back, rgb), source


def reference_index(about, photos_dir, entries, deviation=None, min_within_tolerance=MIN_STRICT,
                    jpeg_note=JPEG_TOLERANCE_NOTE, not_in_dataset=None, excluded=()):
    """The index.json of a reference set, as server/tests/preprocess_fidelity.rs reads it."""
    import PIL

    index = {"about": about}
    if deviation is not None:
        index["deviation"] = deviation
    index.update({
        "photos_dir": photos_dir,
        "cn_clip": "1.6.0",
        "pillow": PIL.__version__,
        "size": SIZE,
        "mean": list(MEAN),
        "std": list(STD),
        "tolerance": TOLERANCE,
        "min_within_tolerance": min_within_tolerance,
        "jpeg_tolerance": JPEG_TOLERANCE,
        "jpeg_note": jpeg_note,
    })
    if not_in_dataset is not None:
        index["not_in_dataset"] = not_in_dataset
    index["excluded"] = list(excluded)
    index["entries"] = entries
    return index


def size_verdict(count, total, out_dir, max_bytes):
    """Print what was written; 1 (the exit status) when it is over the committed-size budget."""
    print(f"{count} references, {total / 1e6:.2f} MB in {os.path.relpath(out_dir, ROOT)}")
    if total > max_bytes:
        print(f"total size over {max_bytes} bytes", file=sys.stderr)
        return 1
    return 0


def write_json(path, obj, indent):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


# ---- random-weight test models and their reference embeddings


def l2n(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def rounded(x):
    """An embedding, L2-normalised, as JSON numbers with 7 significant digits."""
    return [float(f"{a:.7g}") for a in l2n(x)]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def tokenizer_cases(n):
    """The first n texts of models/testdata/tokenizer_cases.json, with cn_clip's ids."""
    with open(os.path.join(TESTDATA, "tokenizer_cases.json"), encoding="utf-8") as f:
        return json.load(f)[:n]


PREPROCESS_DIR = os.path.join(TESTDATA, "preprocess")


def preprocess_references(n):
    """File names (in PREPROCESS_DIR) of the first n cn_clip-preprocessed real photos."""
    with open(os.path.join(PREPROCESS_DIR, "index.json"), encoding="utf-8") as f:
        return [e["reference"] for e in json.load(f)["entries"]][:n]


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


def chinese_clip_config(hidden, layers, heads, intermediate, max_positions):
    """transformers' ChineseCLIPConfig with the real vocab (21,128 ids), ViT patch 16 at 224,
    QuickGELU and projection 512; both towers `hidden` wide, `layers` deep."""
    from transformers import ChineseCLIPConfig

    return ChineseCLIPConfig(
        text_config=dict(vocab_size=21128, hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=heads, intermediate_size=intermediate,
                         max_position_embeddings=max_positions, type_vocab_size=2),
        vision_config=dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=intermediate, patch_size=16, image_size=224,
                           hidden_act="quick_gelu"),
        projection_dim=512,
    )


COMBINED_INPUTS = ["input_ids", "attention_mask", "pixel_values"]
COMBINED_OUTPUTS = ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"]


def export_combined(torch, model, example, path, dynamic_axes, **kwargs):
    """Export a ChineseCLIPModel as ONE graph, the way transformers.js ships `onnx/model.onnx`:
    inputs COMBINED_INPUTS, outputs COMBINED_OUTPUTS (opset 14, TorchScript exporter)."""

    class Combined(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, pixel_values):
            o = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       pixel_values=pixel_values)
            return o.logits_per_image, o.logits_per_text, o.text_embeds, o.image_embeds

    with torch.no_grad():
        torch.onnx.export(
            Combined(model), example, path,
            input_names=COMBINED_INPUTS, output_names=COMBINED_OUTPUTS,
            dynamic_axes=dynamic_axes, opset_version=14, dynamo=False, **kwargs,
        )
