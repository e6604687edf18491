#!/usr/bin/env python3
"""Write models/fixture/{image,text}.onnx: tiny random stand-ins for Chinese-CLIP.

They have exactly the interface of the real exports (opset 17):

  image.onnx  pixel_values float32 [batch,3,224,224] -> image_embeds float32 [batch,512]
              AveragePool(28x28, stride 28) -> [N,3,8,8] -> Flatten -> MatMul W[192,512] -> Add b
  text.onnx   input_ids int64 [batch,sequence]      -> text_embeds float32 [batch,512]
              mask = Cast(Not(Equal(ids, 0)))          (0 = [PAD])
              masked mean of Gather(E[21128,16], ids) over the sequence
              (sum / Max(sum(mask), 1)) -> MatMul W[16,512] -> Add b

The text output does not depend on trailing padding, like the real model with its
attention mask.  Weights are random (fixed seed, numpy's legacy RandomState,
whose stream is frozen across numpy versions): retrieval with them is meaningless.

The script checks both files with onnx.checker and runs them with onnxruntime
(batch 1 and 3; text at L=52 and trimmed to the longest real sequence).

Usage: python models/scripts/make_fixtures.py
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(os.path.dirname(HERE), "fixture")

SEED = 20241127
OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17
VOCAB = 21128
EMBED = 512
TEXT_DIM = 16
IMAGE = 224
POOL = 28
GRID = IMAGE // POOL  # 8
PAD_ID = 0


def _model(graph):
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="shihua models/scripts/make_fixtures.py",
        producer_version="1",
    )
    m.ir_version = IR_VERSION
    m.doc_string = "Random-weight test fixture with the Chinese-CLIP ONNX interface. Not a real model."
    onnx.checker.check_model(m, full_check=True)
    return m


def image_model(rng):
    feat = 3 * GRID * GRID  # 192
    w = rng.normal(0.0, 1.0 / np.sqrt(feat), size=(feat, EMBED)).astype(np.float32)
    b = rng.normal(0.0, 0.02, size=(EMBED,)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["pixel_values"], ["pooled"],
                         kernel_shape=[POOL, POOL], strides=[POOL, POOL]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["proj"]),
        helper.make_node("Add", ["proj", "b"], ["image_embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fixture_image_tower",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, IMAGE, IMAGE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", EMBED])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    return _model(graph)


def text_model(rng):
    emb = rng.normal(0.0, 1.0, size=(VOCAB, TEXT_DIM)).astype(np.float32)
    w = rng.normal(0.0, 1.0 / np.sqrt(TEXT_DIM), size=(TEXT_DIM, EMBED)).astype(np.float32)
    b = rng.normal(0.0, 0.02, size=(EMBED,)).astype(np.float32)
    inits = [
        numpy_helper.from_array(emb, "E"),
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(b, "b"),
        numpy_helper.from_array(np.array(PAD_ID, dtype=np.int64), "pad_id"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_seq"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis_last"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
    ]
    nodes = [
        helper.make_node("Equal", ["input_ids", "pad_id"], ["is_pad"]),
        helper.make_node("Not", ["is_pad"], ["not_pad"]),
        helper.make_node("Cast", ["not_pad"], ["mask"], to=TensorProto.FLOAT),      # [N,L]
        helper.make_node("Gather", ["E", "input_ids"], ["tok_emb"], axis=0),        # [N,L,16]
        helper.make_node("Unsqueeze", ["mask", "axis_last"], ["mask3"]),            # [N,L,1]
        helper.make_node("Mul", ["tok_emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis_seq"], ["summed"], keepdims=0),  # [N,16]
        helper.make_node("ReduceSum", ["mask", "axis_seq"], ["count"], keepdims=1),     # [N,1]
        helper.make_node("Max", ["count", "one"], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["mean"]),
        helper.make_node("MatMul", ["mean", "W"], ["proj"]),
        helper.make_node("Add", ["proj", "b"], ["text_embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fixture_text_tower",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", EMBED])],
        initializer=inits,
    )
    return _model(graph)


def _session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def check_image(path):
    sess = _session(path)
    assert [i.name for i in sess.get_inputs()] == ["pixel_values"]
    assert [o.name for o in sess.get_outputs()] == ["image_embeds"]
    rng = np.random.RandomState(1)
    x = rng.normal(0, 1, size=(3, 3, IMAGE, IMAGE)).astype(np.float32)
    (y3,) = sess.run(None, {"pixel_values": x})
    (y1,) = sess.run(None, {"pixel_values": x[1:2]})
    assert y3.shape == (3, EMBED) and y1.shape == (1, EMBED), (y3.shape, y1.shape)
    assert np.allclose(y1[0], y3[1], atol=1e-6), "image: batch 1 vs batch 3 differ"
    # cross-check against numpy
    pooled = x.reshape(3, 3, GRID, POOL, GRID, POOL).mean(axis=(3, 5)).reshape(3, -1)
    model = onnx.load(path)
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    ref = pooled @ w["W"] + w["b"]
    assert np.allclose(ref, y3, atol=1e-4), np.abs(ref - y3).max()
    yn = y3 / np.linalg.norm(y3, axis=1, keepdims=True)
    cos = yn @ yn.T
    print(f"  image: batch 1/3 ok, numpy agrees (max diff {np.abs(ref - y3).max():.2e}), "
          f"off-diagonal cosines {[f'{c:.3f}' for c in cos[np.triu_indices(3, 1)]]}")


def check_text(path):
    sess = _session(path)
    assert [i.name for i in sess.get_inputs()] == ["input_ids"]
    assert [o.name for o in sess.get_outputs()] == ["text_embeds"]
    # [CLS] ... [SEP] then zero padding to 52; lengths 5, 9 and 3 (= [CLS] x [SEP])
    ids = np.zeros((3, 52), dtype=np.int64)
    rows = [[101, 3361, 5972, 5439, 102],
            [101, 2207, 3441, 3837, 3717, 782, 2157, 8024, 102],
            [101, 1378, 102]]
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    (full,) = sess.run(None, {"input_ids": ids})
    longest = max(len(r) for r in rows)
    (trim,) = sess.run(None, {"input_ids": ids[:, :longest]})
    (one,) = sess.run(None, {"input_ids": ids[2:3]})
    (one_trim,) = sess.run(None, {"input_ids": ids[2:3, : len(rows[2])]})
    assert full.shape == (3, EMBED) and one.shape == (1, EMBED)
    d_trim = np.abs(full - trim).max()
    d_one = max(np.abs(one[0] - full[2]).max(), np.abs(one_trim[0] - full[2]).max())
    assert d_trim <= 1e-6, f"text: trimming padding changed the output by {d_trim}"
    assert d_one <= 1e-6, f"text: batch 1 vs batch 3 differ by {d_one}"
    # all-padding row: guarded mean (no NaN)
    (zeros,) = sess.run(None, {"input_ids": np.zeros((1, 52), dtype=np.int64)})
    assert np.all(np.isfinite(zeros)), "text: all-padding row is not finite"
    # cross-check against numpy
    model = onnx.load(path)
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    ref = np.stack([w["E"][r].mean(axis=0) for r in rows]) @ w["W"] + w["b"]
    assert np.allclose(ref, full, atol=1e-5), np.abs(ref - full).max()
    print(f"  text: batch 1/3 ok, L=52 vs L={longest} max diff {d_trim:.1e}, "
          f"batch-1 vs batch-3 max diff {d_one:.1e}, numpy agrees, all-padding row finite")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = np.random.RandomState(SEED)
    image = image_model(rng)
    text = text_model(rng)
    paths = {}
    for name, model in (("image", image), ("text", text)):
        path = os.path.join(OUT_DIR, f"{name}.onnx")
        onnx.save_model(model, path)
        onnx.checker.check_model(path, full_check=True)
        paths[name] = path
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    print(f"onnxruntime {ort.__version__}:")
    check_image(paths["image"])
    check_text(paths["text"])
    print("fixture checks passed")


if __name__ == "__main__":
    main()
