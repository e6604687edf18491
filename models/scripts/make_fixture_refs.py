#!/usr/bin/env python3
"""Write models/testdata/fixture_embeddings.json: reference outputs of the fixture models.

Computed with onnxruntime (Python) on models/fixture/{image,text}.onnx:
  - text: for 5 cases of tokenizer_cases.json, the L2-normalised text_embeds of the
    52-id padded sequence (checked to equal the output for the padding-trimmed ids);
  - image: the L2-normalised image_embeds of a synthetic [1,3,224,224] input whose
    formula is stored in the json.

Run after make_tokenizer_cases.py and make_fixtures.py.
Usage: python models/scripts/make_fixture_refs.py
"""

import json
import os
import re

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
CASES = os.path.join(MODELS, "testdata", "tokenizer_cases.json")
TOKENIZER = os.path.join(MODELS, "tokenizer.json")
IMAGE = os.path.join(MODELS, "fixture", "image.onnx")
TEXT = os.path.join(MODELS, "fixture", "text.onnx")
OUT = os.path.join(MODELS, "testdata", "fixture_embeddings.json")

TEXT_CASES = [
    "枯藤老树昏鸦",
    "断肠人在天涯",
    "Hello 世界",
    "明月[CLS]光",
    "月" * 100,  # truncated to 52 ids
]

FORMULA = ("k = (c*7 + y*3 + x) % 17 (integers, c in 0..3, y and x in 0..224); "
           "pixel_values[0,c,y,x] = (k as f32) / 17.0 - 0.5, computed in float32")


def synthetic_pixels():
    c, y, x = np.meshgrid(np.arange(3), np.arange(224), np.arange(224), indexing="ij")
    k = (c * 7 + y * 3 + x) % 17
    v = k.astype(np.float32) / np.float32(17.0) - np.float32(0.5)
    assert v.dtype == np.float32
    return v[None]  # [1,3,224,224]


def l2n(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def floats(v):
    return [float(x) for x in v]  # float32 -> exact decimal repr of that float32 value


def main():
    cases = {c["text"]: c["ids"] for c in json.load(open(CASES, encoding="utf-8"))}
    tok = Tokenizer.from_file(TOKENIZER)
    text_sess = session(TEXT)
    texts = []
    for text in TEXT_CASES:
        ids = cases[text]
        assert tok.encode(text).ids == ids, f"tokenizer.json disagrees on {text!r}"
        arr = np.array([ids], dtype=np.int64)
        (full,) = text_sess.run(None, {"input_ids": arr})
        n = max(i for i, t in enumerate(ids) if t != 0) + 1
        (trim,) = text_sess.run(None, {"input_ids": arr[:, :n]})
        assert np.abs(full - trim).max() <= 1e-6, text
        emb = l2n(full[0])
        texts.append({"text": text, "ids": ids, "real_tokens": n, "embedding": floats(emb)})

    # batch of all five at once must give the same rows
    (batch,) = text_sess.run(None, {"input_ids": np.array([t["ids"] for t in texts], dtype=np.int64)})
    for row, t in zip(batch, texts):
        assert np.abs(l2n(row) - np.array(t["embedding"], dtype=np.float32)).max() <= 1e-6

    pixels = synthetic_pixels()
    (img,) = session(IMAGE).run(None, {"pixel_values": pixels})
    image = {
        "input_shape": [1, 3, 224, 224],
        "pixel_value_formula": FORMULA,
        "pixel_values_checksum": {
            "sum": float(pixels.astype(np.float64).sum()),
            "first_8": floats(pixels.reshape(-1)[:8]),
        },
        "embedding": floats(l2n(img[0])),
    }

    cos = [[float(np.dot(a["embedding"], b["embedding"])) for b in texts] for a in texts]
    doc = {
        "about": ("Reference outputs of the random fixture models models/fixture/{text,image}.onnx, "
                  "computed with onnxruntime " + ort.__version__ + " (Python, CPU). Embeddings are "
                  "L2-normalised float32 values of text_embeds / image_embeds. Text ids are the "
                  "52-id padded sequences from tokenizer_cases.json; the output is the same for "
                  "the ids trimmed to real_tokens. Regenerate: python models/scripts/make_fixture_refs.py"),
        "tolerance": 1e-5,
        "text": texts,
        "image": image,
        "text_cosines": cos,
    }
    text_json = json.dumps(doc, ensure_ascii=False, indent=1)
    # one line per list of numbers
    text_json = re.sub(r"\[\s+([-0-9.eE,\s]+?)\s+\]",
                       lambda m: "[" + " ".join(m.group(1).split()) + "]", text_json)
    assert json.loads(text_json) == doc
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text_json + "\n")
    print(f"wrote {OUT}: {len(texts)} text embeddings + 1 image embedding")
    off = [cos[i][j] for i in range(len(cos)) for j in range(i + 1, len(cos))]
    print(f"text-text cosines between the 5 cases: min {min(off):.3f} max {max(off):.3f}; "
          f"image vs text[0]: {np.dot(image['embedding'], texts[0]['embedding']):.3f}")


if __name__ == "__main__":
    main()
