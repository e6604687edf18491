#!/usr/bin/env python3
"""Write models/fixture/{image,text,combined}.onnx: tiny random stand-ins for Chinese-CLIP.

They have exactly the interface of the real exports (opset 17):

  image.onnx  pixel_values float32 [batch,3,224,224] -> image_embeds float32 [batch,512]
              AveragePool(28x28, stride 28) -> [N,3,8,8] -> Flatten -> MatMul W[192,512] -> Add b
  text.onnx   input_ids int64 [batch,sequence]      -> text_embeds float32 [batch,512]
              mask = Cast(Not(Equal(ids, 0)))          (0 = [PAD])
              masked mean of Gather(E[21128,16], ids) over the sequence
              (sum / Max(sum(mask), 1)) -> MatMul W[16,512] -> Add b

  combined.onnx  both towers in ONE graph, shaped like the Hugging Face export that
              `shihua models fetch` downloads (Xenova/chinese-clip-vit-base-patch16):
              inputs  input_ids int64 [text_batch,sequence], attention_mask int64
                      [text_batch,sequence], pixel_values float32 [image_batch,3,224,224];
              outputs logits_per_image [image_batch,text_batch], logits_per_text,
                      text_embeds [text_batch,512], image_embeds [image_batch,512]
                      (embeds L2-normalised, logits = exp(logit_scale) * cosine, like HF).
              Same weights as image.onnx / text.onnx, but the text tower takes its mask from
              attention_mask, so once split (input_ids only, mask = ids != 0) its embeddings
              equal the split fixtures' after L2 normalisation.

The text output does not depend on trailing padding, like the real model with its
attention mask.  Weights are random (fixed seed, numpy's legacy RandomState,
whose stream is frozen across numpy versions): retrieval with them is meaningless.

The script checks every file with onnx.checker and runs them with onnxruntime
(batch 1 and 3; text at L=52 and trimmed to the longest real sequence; combined.onnx
against image.onnx and text.onnx).

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


def combined_model(image, text):
    """Both towers in one graph, from the same initializers (no new random numbers, so
    image.onnx and text.onnx stay byte-identical)."""
    iw = {t.name: numpy_helper.to_array(t) for t in image.graph.initializer}
    tw = {t.name: numpy_helper.to_array(t) for t in text.graph.initializer}
    inits = [numpy_helper.from_array(v, f"vision.{k}") for k, v in iw.items()]
    # text.pad_id is not needed: the combined graph's mask comes from attention_mask
    inits += [numpy_helper.from_array(v, f"text.{k}") for k, v in tw.items() if k != "pad_id"]
    inits += [
        numpy_helper.from_array(np.array(np.log(100.0), dtype=np.float32), "logit_scale"),
    ]
    V, T = "vision.", "text."
    nodes = [
        # vision tower (as image.onnx)
        helper.make_node("AveragePool", ["pixel_values"], ["v_pooled"],
                         kernel_shape=[POOL, POOL], strides=[POOL, POOL]),
        helper.make_node("Flatten", ["v_pooled"], ["v_flat"], axis=1),
        helper.make_node("MatMul", ["v_flat", V + "W"], ["v_proj"]),
        helper.make_node("Add", ["v_proj", V + "b"], ["image_features"]),
        # text tower (as text.onnx, but the mask comes from attention_mask)
        helper.make_node("Cast", ["attention_mask"], ["t_mask"], to=TensorProto.FLOAT),
        helper.make_node("Gather", [T + "E", "input_ids"], ["t_tok"], axis=0),
        helper.make_node("Unsqueeze", ["t_mask", T + "axis_last"], ["t_mask3"]),
        helper.make_node("Mul", ["t_tok", "t_mask3"], ["t_masked"]),
        helper.make_node("ReduceSum", ["t_masked", T + "axis_seq"], ["t_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["t_mask", T + "axis_seq"], ["t_count"], keepdims=1),
        helper.make_node("Max", ["t_count", T + "one"], ["t_count1"]),
        helper.make_node("Div", ["t_sum", "t_count1"], ["t_mean"]),
        helper.make_node("MatMul", ["t_mean", T + "W"], ["t_proj"]),
        helper.make_node("Add", ["t_proj", T + "b"], ["text_features"]),
        # HF ChineseCLIPModel: normalise both, logits = exp(logit_scale) * text @ image.T
        helper.make_node("ReduceL2", ["image_features"], ["i_norm"], axes=[-1], keepdims=1),
        helper.make_node("Div", ["image_features", "i_norm"], ["image_embeds"]),
        helper.make_node("ReduceL2", ["text_features"], ["t_norm"], axes=[-1], keepdims=1),
        helper.make_node("Div", ["text_features", "t_norm"], ["text_embeds"]),
        helper.make_node("Exp", ["logit_scale"], ["scale"]),
        helper.make_node("Transpose", ["image_embeds"], ["image_embeds_t"], perm=[1, 0]),
        helper.make_node("MatMul", ["text_embeds", "image_embeds_t"], ["cos_ti"]),
        helper.make_node("Mul", ["cos_ti", "scale"], ["logits_per_text"]),
        helper.make_node("Transpose", ["logits_per_text"], ["logits_per_image"], perm=[1, 0]),
    ]
    graph = helper.make_graph(
        nodes,
        "fixture_chinese_clip_combined",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["text_batch_size", "sequence_length"]),
            helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["image_batch_size", 3, IMAGE, IMAGE]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["text_batch_size", "sequence_length"]),
        ],
        [
            helper.make_tensor_value_info("logits_per_image", TensorProto.FLOAT, ["image_batch_size", "text_batch_size"]),
            helper.make_tensor_value_info("logits_per_text", TensorProto.FLOAT, ["text_batch_size", "image_batch_size"]),
            helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["text_batch_size", EMBED]),
            helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["image_batch_size", EMBED]),
        ],
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


def check_combined(path, image_path, text_path):
    sess = _session(path)
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "pixel_values", "attention_mask"]
    assert [o.name for o in sess.get_outputs()] == [
        "logits_per_image", "logits_per_text", "text_embeds", "image_embeds"]
    rng = np.random.RandomState(2)
    x = rng.normal(0, 1, size=(2, 3, IMAGE, IMAGE)).astype(np.float32)
    ids = np.zeros((3, 52), dtype=np.int64)
    for i, r in enumerate([[101, 3361, 5972, 5439, 102], [101, 2207, 3441, 102], [101, 102]]):
        ids[i, : len(r)] = r
    mask = (ids != PAD_ID).astype(np.int64)
    lpi, lpt, te, ie = sess.run(None, {"input_ids": ids, "attention_mask": mask, "pixel_values": x})
    assert lpi.shape == (2, 3) and lpt.shape == (3, 2), (lpi.shape, lpt.shape)
    (ref_i,) = _session(image_path).run(None, {"pixel_values": x})
    (ref_t,) = _session(text_path).run(None, {"input_ids": ids})
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    d_i = np.abs(unit(ref_i) - ie).max()
    d_t = np.abs(unit(ref_t) - te).max()
    assert d_i <= 1e-5 and d_t <= 1e-5, (d_i, d_t)
    assert np.allclose(lpt, 100.0 * te @ ie.T, atol=1e-3)
    print(f"  combined: embeds equal image.onnx/text.onnx after L2 normalisation "
          f"(max diff {max(d_i, d_t):.1e}), logits ok")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = np.random.RandomState(SEED)
    image = image_model(rng)
    text = text_model(rng)
    combined = combined_model(image, text)
    paths = {}
    for name, model in (("image", image), ("text", text), ("combined", combined)):
        path = os.path.join(OUT_DIR, f"{name}.onnx")
        onnx.save_model(model, path)
        onnx.checker.check_model(path, full_check=True)
        paths[name] = path
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    print(f"onnxruntime {ort.__version__}:")
    check_image(paths["image"])
    check_text(paths["text"])
    check_combined(paths["combined"], paths["image"], paths["text"])
    print("fixture checks passed")


if __name__ == "__main__":
    main()
