#!/usr/bin/env python3
"""Convert an official cn_clip checkpoint (.pt) into shihua's two ONNX graphs, WITHOUT torch.

  image.onnx  pixel_values float32 [batch,3,S,S]   -> image_embeds float32 [batch,D]
  text.onnx   input_ids    int64   [batch,sequence] -> text_embeds  float32 [batch,D]

exactly what models/export/export.py writes with torch (cn_clip 1.6.0 `encode_image` /
`encode_text`: unnormalised features; the text mask `input_ids != 0` is computed inside), but
needing only numpy and onnx:

* the checkpoint is read as what it is, a zip of a pickle plus raw tensor storages: the pickle
  is unpickled with a restricted unpickler that knows only the few torch globals a state dict
  uses (no code from the file runs), and each storage is read only when the graph needs it;
* the architecture follows from the tensor shapes (ViT or ModifiedResNet, widths, layers,
  patch, input size, embedding dim, text layers and width); head counts are width / 64 as in
  cn_clip's configs, except ViT-H-14's 80-wide vision heads (`--vision-head-width`);
* the graphs are written node by node with onnx.helper (opset 17): cn_clip's VisualTransformer
  (conv patch embedding, class token, LayerNorm eps 1e-5, nn.MultiheadAttention blocks with
  QuickGELU MLPs), ModifiedResNet (BatchNorm folded into the convolutions, anti-aliased
  average pools, attention pooling) and its BERT (LayerNorm eps 1e-12, erf GELU, additive
  -10000 mask), all in float32. A graph over 2 GB (ViT-H-14's image tower) keeps its weights
  in `<name>.data` beside it.

  python models/convert/pt_to_onnx.py --checkpoint clip_cn_vit-l-14.pt --out models/ViT-L-14 [--model ViT-L-14]

`shihua models fetch --model <id>` runs this (with the project's .venv Python) after
downloading the checkpoint. models/scripts/make_pt_tiny.py checks it against cn_clip + torch.
"""

import argparse
import json
import os
import pickle
import sys
import zipfile
from collections import OrderedDict

import numpy as np

OPSET = 17
# cn_clip 1.6.0 model_configs: ViT-H-14 has vision_head_width 80; every other width / 64.
VISION_HEAD_WIDTH = {"ViT-H-14": 80}
TEXT_HEAD_WIDTH = 64

# ----------------------------------------------------------------------------- reading .pt

_DTYPES = {
    "HalfStorage": np.float16, "FloatStorage": np.float32, "DoubleStorage": np.float64,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Lazy:
    """A tensor of the checkpoint, read from the zip only when asked for."""

    def __init__(self, reader, key, dtype, offset, size, stride):
        self.reader, self.key, self.dtype = reader, key, dtype
        self.offset, self.shape, self.stride = offset, tuple(size), tuple(stride)

    def numpy(self):
        raw = self.reader.storage(self.key)
        if self.dtype == "bfloat16":
            u16 = np.frombuffer(raw, dtype=np.uint16)
            flat = (u16.astype(np.uint32) << 16).view(np.float32)
        else:
            flat = np.frombuffer(raw, dtype=self.dtype)
        item = flat.itemsize
        if not self.shape:
            return np.array(flat[self.offset])
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.shape, strides=[s * item for s in self.stride])
        return np.ascontiguousarray(view).astype(np.float32 if flat.dtype.kind == "f" else flat.dtype)


class _Inert:
    """Stands in for any other class a checkpoint pickles; absorbs its state."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __call__(self, *args, **kwargs):
        return _Inert()


def _rebuild_tensor(storage, offset, size, stride, *_rest):
    reader, key, dtype = storage
    return _Lazy(reader, key, dtype, offset, size, stride)


def _rebuild_parameter(data, *_rest):
    return data


class _Unpickler(pickle.Unpickler):
    ALLOWED = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("builtins", "set"): set,
    }

    def __init__(self, f, reader):
        super().__init__(f)
        self.reader = reader

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        # Anything else (training arguments, optimizer classes…) is not needed: an inert
        # stand-in, so no code named by the file ever runs.
        return _Inert
    def persistent_load(self, pid):
        # ('storage', <StorageType>, key, location, numel)
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        name = storage_type.name if isinstance(storage_type, _StorageType) else str(storage_type)
        return (self.reader, str(key), _DTYPES[name])


class Checkpoint:
    def __init__(self, path):
        if not zipfile.is_zipfile(path):
            raise SystemExit(f"{path} is not a torch zip checkpoint (torch >= 1.6 format); "
                             "convert it with models/export/export.py (torch) instead")
        self.zip = zipfile.ZipFile(path)
        names = self.zip.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise SystemExit(f"{path}: no data.pkl inside")
        self.prefix = pkl[0][: -len("data.pkl")]
        with self.zip.open(pkl[0]) as f:
            obj = _Unpickler(f, self).load()
        sd = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
        self.tensors = {}
        for k, v in sd.items():
            if isinstance(v, _Lazy):
                k = k[len("module."):] if k.startswith("module.") else k
                self.tensors[k] = v
        self.meta = {k: obj[k] for k in ("epoch", "step", "name")
                     if isinstance(obj, dict) and k in obj}

    def storage(self, key):
        return self.zip.read(f"{self.prefix}data/{key}")

    def __contains__(self, k):
        return k in self.tensors

    def __getitem__(self, k):
        if k not in self.tensors:
            raise SystemExit(f"the checkpoint has no {k}: not a cn_clip CLIP state dict")
        return self.tensors[k].numpy().astype(np.float32)

    def shape(self, k):
        return self.tensors[k].shape

    def count(self, prefix):
        n = 0
        while any(k.startswith(f"{prefix}{n}.") for k in self.tensors):
            n += 1
        return n


# ----------------------------------------------------------------------------- graph building

class Graph:
    def __init__(self, name):
        from onnx import helper
        self.h = helper
        self.name = name
        self.nodes, self.inits, self.n = [], [], 0
        self.bytes = 0

    def const(self, array, name=None):
        from onnx import numpy_helper
        self.n += 1
        name = name or f"c{self.n}"
        arr = np.array(array, order="C")  # (ascontiguousarray would make a scalar 1-D)
        self.inits.append(numpy_helper.from_array(arr, name))
        self.bytes += arr.nbytes
        return name

    def op(self, op_type, inputs, **attrs):
        self.n += 1
        out = f"{op_type.lower()}_{self.n}"
        self.nodes.append(self.h.make_node(op_type, inputs, [out], name=f"{op_type}_{self.n}", **attrs))
        return out

    def i64(self, values):
        return self.const(np.array(values, dtype=np.int64))

    def f32(self, value):
        return self.const(np.array(value, dtype=np.float32))

    # -- layers
    def linear(self, x, w, b=None):
        """x @ w.T + b (torch nn.Linear weight layout [out, in])."""
        y = self.op("MatMul", [x, self.const(np.ascontiguousarray(w.T))])
        return self.op("Add", [y, self.const(b)]) if b is not None else y

    def layer_norm(self, x, w, b, eps):
        return self.op("LayerNormalization", [x, self.const(w), self.const(b)], axis=-1, epsilon=eps)

    def quick_gelu(self, x):
        return self.op("Mul", [x, self.op("Sigmoid", [self.op("Mul", [x, self.f32(1.702)])])])

    def gelu(self, x):
        e = self.op("Erf", [self.op("Div", [x, self.f32(np.sqrt(2.0))])])
        return self.op("Mul", [self.op("Mul", [x, self.f32(0.5)]), self.op("Add", [e, self.f32(1.0)])])

    def attention(self, q, k, v, heads, width, mask=None):
        """Batch-first multi-head attention on projected q, k, v [N, L, width]."""
        hd = width // heads
        shape = self.i64([0, 0, heads, hd])
        qh = self.op("Transpose", [self.op("Reshape", [q, shape])], perm=[0, 2, 1, 3])
        kh = self.op("Transpose", [self.op("Reshape", [k, shape])], perm=[0, 2, 3, 1])
        vh = self.op("Transpose", [self.op("Reshape", [v, shape])], perm=[0, 2, 1, 3])
        s = self.op("Mul", [self.op("MatMul", [qh, kh]), self.f32(1.0 / np.sqrt(hd))])
        if mask is not None:
            s = self.op("Add", [s, mask])
        p = self.op("Softmax", [s], axis=-1)
        o = self.op("Transpose", [self.op("MatMul", [p, vh])], perm=[0, 2, 1, 3])
        return self.op("Reshape", [o, self.i64([0, 0, width])])

    def conv(self, x, w, b=None, stride=1, pad=0):
        k = w.shape[-1]
        ins = [x, self.const(w)] + ([self.const(b)] if b is not None else [])
        return self.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)

    def avgpool(self, x, k):
        return self.op("AveragePool", [x], kernel_shape=[k, k], strides=[k, k])

    def save(self, inputs, outputs, path, external_over):
        import onnx
        g = self.h.make_graph(self.nodes, self.name, inputs, outputs, self.inits)
        m = self.h.make_model(g, opset_imports=[self.h.make_opsetid("", OPSET)],
                              producer_name="shihua pt_to_onnx")
        m.ir_version = 8
        tmp = path + ".tmp"
        if self.bytes > external_over:
            data = os.path.basename(path) + ".data"
            onnx.save_model(m, tmp, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data, size_threshold=1024)
        else:
            onnx.save_model(m, tmp)
        os.replace(tmp, path)


def fold_bn(ck, conv, bn, eps=1e-5):
    w = ck[f"{conv}.weight"]
    g, b = ck[f"{bn}.weight"], ck[f"{bn}.bias"]
    mean, var = ck[f"{bn}.running_mean"], ck[f"{bn}.running_var"]
    scale = g / np.sqrt(var + eps)
    return (w * scale[:, None, None, None]).astype(np.float32), (b - mean * scale).astype(np.float32)


def vit_tower(ck, g, x, head_width):
    p = "visual."
    w_conv = ck[p + "conv1.weight"]
    width, patch = w_conv.shape[0], w_conv.shape[-1]
    heads = width // head_width
    x = g.conv(x, w_conv, stride=patch)
    x = g.op("Transpose", [g.op("Reshape", [x, g.i64([0, width, -1])])], perm=[0, 2, 1])
    first = g.op("Slice", [x, g.i64([0]), g.i64([1]), g.i64([1])])
    cls = g.op("Add", [g.op("Mul", [first, g.f32(0.0)]),
                       g.const(ck[p + "class_embedding"].reshape(1, 1, width))])
    x = g.op("Concat", [cls, x], axis=1)
    x = g.op("Add", [x, g.const(ck[p + "positional_embedding"])])
    x = g.layer_norm(x, ck[p + "ln_pre.weight"], ck[p + "ln_pre.bias"], 1e-5)
    for i in range(ck.count(p + "transformer.resblocks.")):
        b = f"{p}transformer.resblocks.{i}."
        h = g.layer_norm(x, ck[b + "ln_1.weight"], ck[b + "ln_1.bias"], 1e-5)
        w_in, b_in = ck[b + "attn.in_proj_weight"], ck[b + "attn.in_proj_bias"]
        q = g.linear(h, w_in[:width], b_in[:width])
        k = g.linear(h, w_in[width:2 * width], b_in[width:2 * width])
        v = g.linear(h, w_in[2 * width:], b_in[2 * width:])
        a = g.attention(q, k, v, heads, width)
        a = g.linear(a, ck[b + "attn.out_proj.weight"], ck[b + "attn.out_proj.bias"])
        x = g.op("Add", [x, a])
        h = g.layer_norm(x, ck[b + "ln_2.weight"], ck[b + "ln_2.bias"], 1e-5)
        h = g.quick_gelu(g.linear(h, ck[b + "mlp.c_fc.weight"], ck[b + "mlp.c_fc.bias"]))
        h = g.linear(h, ck[b + "mlp.c_proj.weight"], ck[b + "mlp.c_proj.bias"])
        x = g.op("Add", [x, h])
    x0 = g.op("Gather", [x, g.i64(0)], axis=1)
    x0 = g.layer_norm(x0, ck[p + "ln_post.weight"], ck[p + "ln_post.bias"], 1e-5)
    return g.op("MatMul", [x0, g.const(ck[p + "proj"])])


def resnet_tower(ck, g, x, head_width):
    p = "visual."
    relu = lambda t: g.op("Relu", [t])  # noqa: E731
    for i in (1, 2, 3):
        w, b = fold_bn(ck, f"{p}conv{i}", f"{p}bn{i}")
        x = relu(g.conv(x, w, b, stride=2 if i == 1 else 1, pad=1))
    x = g.avgpool(x, 2)
    for layer in (1, 2, 3, 4):
        stride = 1 if layer == 1 else 2
        for j in range(ck.count(f"{p}layer{layer}.")):
            b = f"{p}layer{layer}.{j}."
            s = stride if j == 0 else 1
            w1, b1 = fold_bn(ck, b + "conv1", b + "bn1")
            w2, b2 = fold_bn(ck, b + "conv2", b + "bn2")
            w3, b3 = fold_bn(ck, b + "conv3", b + "bn3")
            out = relu(g.conv(x, w1, b1))
            out = relu(g.conv(out, w2, b2, pad=1))
            if s > 1:
                out = g.avgpool(out, s)
            out = g.conv(out, w3, b3)
            if b + "downsample.0.weight" in ck:
                idn = g.avgpool(x, s) if s > 1 else x
                wd, bd = fold_bn(ck, b + "downsample.0", b + "downsample.1")
                idn = g.conv(idn, wd, bd)
            else:
                idn = x
            x = relu(g.op("Add", [out, idn]))
    # attention pooling: tokens = [mean, spatial...] + positional; output of the first token
    a = p + "attnpool."
    c = ck.shape(a + "q_proj.weight")[1]
    heads = c // head_width
    x = g.op("Transpose", [g.op("Reshape", [x, g.i64([0, c, -1])])], perm=[0, 2, 1])
    mean = g.op("ReduceMean", [x], axes=[1], keepdims=1)
    x = g.op("Concat", [mean, x], axis=1)
    x = g.op("Add", [x, g.const(ck[a + "positional_embedding"])])
    q = g.linear(x, ck[a + "q_proj.weight"], ck[a + "q_proj.bias"])
    k = g.linear(x, ck[a + "k_proj.weight"], ck[a + "k_proj.bias"])
    v = g.linear(x, ck[a + "v_proj.weight"], ck[a + "v_proj.bias"])
    o = g.attention(q, k, v, heads, c)
    o = g.linear(o, ck[a + "c_proj.weight"], ck[a + "c_proj.bias"])
    return g.op("Gather", [o, g.i64(0)], axis=1)


def text_tower(ck, g, ids, head_width):
    e = "bert.embeddings."
    hidden = ck.shape(e + "word_embeddings.weight")[1]
    heads = hidden // head_width
    mask = g.op("Cast", [g.op("Not", [g.op("Equal", [ids, g.i64(0)])])], to=1)  # float
    ext = g.op("Mul", [g.op("Sub", [g.f32(1.0), mask]), g.f32(-10000.0)])
    ext = g.op("Unsqueeze", [ext, g.i64([1, 2])])  # [N,1,1,L]
    words = g.op("Gather", [g.const(ck[e + "word_embeddings.weight"]), ids], axis=0)
    seq = g.op("Gather", [g.op("Shape", [ids]), g.i64(1)], axis=0)
    pos_ids = g.op("Range", [g.i64(0), seq, g.i64(1)])
    pos = g.op("Gather", [g.const(ck[e + "position_embeddings.weight"]), pos_ids], axis=0)
    tok0 = g.const(ck[e + "token_type_embeddings.weight"][0])
    x = g.op("Add", [g.op("Add", [words, pos]), tok0])
    x = g.layer_norm(x, ck[e + "LayerNorm.weight"], ck[e + "LayerNorm.bias"], 1e-12)
    for i in range(ck.count("bert.encoder.layer.")):
        b = f"bert.encoder.layer.{i}."
        s = b + "attention.self."
        q = g.linear(x, ck[s + "query.weight"], ck[s + "query.bias"])
        k = g.linear(x, ck[s + "key.weight"], ck[s + "key.bias"])
        v = g.linear(x, ck[s + "value.weight"], ck[s + "value.bias"])
        a = g.attention(q, k, v, heads, hidden, mask=ext)
        a = g.linear(a, ck[b + "attention.output.dense.weight"], ck[b + "attention.output.dense.bias"])
        x = g.layer_norm(g.op("Add", [a, x]), ck[b + "attention.output.LayerNorm.weight"],
                         ck[b + "attention.output.LayerNorm.bias"], 1e-12)
        h = g.gelu(g.linear(x, ck[b + "intermediate.dense.weight"], ck[b + "intermediate.dense.bias"]))
        h = g.linear(h, ck[b + "output.dense.weight"], ck[b + "output.dense.bias"])
        x = g.layer_norm(g.op("Add", [h, x]), ck[b + "output.LayerNorm.weight"],
                         ck[b + "output.LayerNorm.bias"], 1e-12)
    cls = g.op("Gather", [x, g.i64(0)], axis=1)
    return g.op("MatMul", [cls, g.const(ck["text_projection"])])


def describe(ck):
    embed_dim = ck.shape("text_projection")[1]
    if "visual.layer1.0.conv1.weight" in ck:
        pos = ck.shape("visual.attnpool.positional_embedding")[0]
        size = int(round((pos - 1) ** 0.5)) * 32
        arch = "ModifiedResNet"
    else:
        patch = ck.shape("visual.conv1.weight")[-1]
        pos = ck.shape("visual.positional_embedding")[0]
        size = int(round((pos - 1) ** 0.5)) * patch
        arch = f"ViT/{patch}"
    return {"arch": arch, "image_size": size, "embed_dim": embed_dim,
            "text_hidden": ck.shape("bert.embeddings.word_embeddings.weight")[1],
            "text_layers": ck.count("bert.encoder.layer.")}


def main(argv=None):
    from onnx import TensorProto, helper

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="", help="manifest id (ViT-H-14 has 80-wide vision heads)")
    ap.add_argument("--vision-head-width", type=int)
    ap.add_argument("--text-head-width", type=int, default=TEXT_HEAD_WIDTH)
    ap.add_argument("--external-data-over", type=int, default=1_800_000_000,
                    help="bytes of weights above which a graph keeps them in <graph>.data "
                         "(protobuf's limit is 2 GB)")
    ap.add_argument("--int8", action="store_true",
                    help="also write image.int8.onnx / text.int8.onnx (onnxruntime "
                         "quantize_dynamic; needs the onnxruntime Python package)")
    ap.add_argument("--int8-weights", choices=("uint8", "int8"), default="uint8",
                    help="int8 weight type (uint8, as models/export/export.py: int8 weights "
                         "with uint8 activations saturate on CPUs without VNNI)")
    ap.add_argument("--expect-dim", type=int, help="fail unless the embedding dim is this")
    ap.add_argument("--expect-size", type=int, help="fail unless the input size is this")
    args = ap.parse_args(argv)

    ck = Checkpoint(args.checkpoint)
    info = describe(ck)
    print(f"{args.checkpoint}: {info}", flush=True)
    for what, want, got in (("embedding dim", args.expect_dim, info["embed_dim"]),
                            ("input size", args.expect_size, info["image_size"])):
        if want and want != got:
            raise SystemExit(f"the checkpoint's {what} is {got}, but models/manifest.toml says "
                             f"{want} for {args.model}: is it the right file?")
    head = args.vision_head_width or VISION_HEAD_WIDTH.get(args.model, 64)
    os.makedirs(args.out, exist_ok=True)
    s, d = info["image_size"], info["embed_dim"]

    g = Graph("cn_clip_image")
    x = "pixel_values"
    tower = resnet_tower if info["arch"] == "ModifiedResNet" else vit_tower
    y = tower(ck, g, x, head)
    g.nodes.append(helper.make_node("Identity", [y], ["image_embeds"]))
    g.save([helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, s, s])],
           [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", d])],
           os.path.join(args.out, "image.onnx"), args.external_data_over)
    print(f"wrote {os.path.join(args.out, 'image.onnx')}", flush=True)

    g = Graph("cn_clip_text")
    y = text_tower(ck, g, "input_ids", args.text_head_width)
    g.nodes.append(helper.make_node("Identity", [y], ["text_embeds"]))
    g.save([helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
           [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", d])],
           os.path.join(args.out, "text.onnx"), args.external_data_over)
    print(f"wrote {os.path.join(args.out, 'text.onnx')}", flush=True)
    if args.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        weights = QuantType.QUInt8 if args.int8_weights == "uint8" else QuantType.QInt8
        for tower in ("image", "text"):
            src = os.path.join(args.out, f"{tower}.onnx")
            dst = os.path.join(args.out, f"{tower}.int8.onnx")
            quantize_dynamic(src, dst, weight_type=weights,
                             use_external_data_format=os.path.exists(src + ".data"))
            print(f"wrote {dst}", flush=True)
    with open(os.path.join(args.out, "convert_report.json"), "w") as f:
        json.dump({"checkpoint": os.path.abspath(args.checkpoint), **info,
                   "vision_head_width": head, "text_head_width": args.text_head_width,
                   "meta": {k: str(v) for k, v in ck.meta.items()}}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
