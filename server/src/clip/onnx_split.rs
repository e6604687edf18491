//! Splitting a combined Chinese-CLIP ONNX graph into an image graph and a text graph.
//!
//! Hugging Face exports (e.g. `Xenova/chinese-clip-vit-base-patch16`) publish ONE graph with
//! both towers: inputs `input_ids`, `attention_mask`, `pixel_values`; outputs `text_embeds`,
//! `image_embeds` and the logits. Run as is, every image would also run the text tower and every
//! query the vision tower. This module cuts it, like `onnx.utils.extract_model`, into
//!
//! * `image.onnx`: `pixel_values` → `image_embeds` (only the nodes that output needs), and
//! * `text.onnx`: `input_ids` → `text_embeds`, where the export's other text inputs are
//!   computed inside: `attention_mask = (input_ids != 0)` (`[PAD]` is id 0 in the Chinese BERT
//!   vocab, as in cn_clip) and `token_type_ids = zeros_like(input_ids)`. The encoder feeds the
//!   text graph `input_ids` only.
//!
//! A tower input or output that is not float32 (image) / int64 (ids) — an fp16 export without
//! kept I/O types — gets a `Cast` so the encoder can always feed float32 and int64 and read
//! float32.
//!
//! It works on the protobuf wire format directly: the few fields it needs (node inputs and
//! outputs, value names and types) are parsed, everything else — the weights above all — is
//! copied byte for byte. No Python and no onnx library are needed at fetch time.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

/// A graph that cannot be split, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SplitError(pub String);

fn bad(msg: impl Into<String>) -> SplitError {
    SplitError(msg.into())
}

/// Minimal protobuf wire format: read fields, write fields (also used by `int8_signed`).
pub(crate) mod pb {
    use super::{bad, SplitError};

    pub const VARINT: u8 = 0;
    pub const LEN: u8 = 2;

    #[derive(Clone, Copy, Debug)]
    pub enum Value<'a> {
        Varint(u64),
        Bytes(&'a [u8]),
        Fixed,
    }

    /// One field: its number, its value and its whole encoding (key included).
    #[derive(Clone, Copy, Debug)]
    pub struct Field<'a> {
        pub num: u32,
        pub value: Value<'a>,
        pub raw: &'a [u8],
    }

    impl<'a> Field<'a> {
        pub fn bytes(&self) -> Result<&'a [u8], SplitError> {
            match self.value {
                Value::Bytes(b) => Ok(b),
                _ => Err(bad(format!("field {} is not length-delimited", self.num))),
            }
        }

        pub fn string(&self) -> Result<&'a str, SplitError> {
            std::str::from_utf8(self.bytes()?)
                .map_err(|_| bad(format!("field {} is not UTF-8", self.num)))
        }

        pub fn varint(&self) -> Option<u64> {
            match self.value {
                Value::Varint(v) => Some(v),
                _ => None,
            }
        }
    }

    fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, SplitError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *buf
                .get(*pos)
                .ok_or_else(|| bad("truncated protobuf (varint)"))?;
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("malformed protobuf varint"))
    }

    /// All fields of one message, in order.
    pub fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, SplitError> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let start = pos;
            let key = read_varint(buf, &mut pos)?;
            let num = u32::try_from(key >> 3).map_err(|_| bad("protobuf field number"))?;
            let value = match (key & 7) as u8 {
                VARINT => Value::Varint(read_varint(buf, &mut pos)?),
                1 => {
                    pos += 8;
                    Value::Fixed
                }
                LEN => {
                    let len = usize::try_from(read_varint(buf, &mut pos)?)
                        .map_err(|_| bad("protobuf length"))?;
                    let end = pos
                        .checked_add(len)
                        .filter(|&e| e <= buf.len())
                        .ok_or_else(|| bad("truncated protobuf (length-delimited field)"))?;
                    let b = &buf[pos..end];
                    pos = end;
                    Value::Bytes(b)
                }
                5 => {
                    pos += 4;
                    Value::Fixed
                }
                w => return Err(bad(format!("unsupported protobuf wire type {w}"))),
            };
            if pos > buf.len() {
                return Err(bad("truncated protobuf"));
            }
            out.push(Field {
                num,
                value,
                raw: &buf[start..pos],
            });
        }
        Ok(out)
    }

    pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn put_key(out: &mut Vec<u8>, num: u32, wire: u8) {
        put_varint(out, (u64::from(num) << 3) | u64::from(wire));
    }

    pub fn put_bytes(out: &mut Vec<u8>, num: u32, b: &[u8]) {
        put_key(out, num, LEN);
        put_varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    pub fn put_uint(out: &mut Vec<u8>, num: u32, v: u64) {
        put_key(out, num, VARINT);
        put_varint(out, v);
    }

    /// Key and length prefix of a length-delimited field of `len` bytes.
    pub fn len_prefix(num: u32, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        put_key(&mut out, num, LEN);
        put_varint(&mut out, len as u64);
        out
    }
}

// ONNX field numbers (onnx/onnx.proto).
const MODEL_GRAPH: u32 = 7;
const MODEL_METADATA: u32 = 14;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const GRAPH_OUTPUT: u32 = 12;
const GRAPH_VALUE_INFO: u32 = 13;
const GRAPH_QUANT_ANNOTATION: u32 = 14;
const GRAPH_SPARSE_INITIALIZER: u32 = 15;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_NAME: u32 = 3;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const ATTR_NAME: u32 = 1;
const ATTR_I: u32 = 3;
const ATTR_T: u32 = 5;
const ATTR_G: u32 = 6;
const ATTR_GRAPHS: u32 = 11;
const ATTR_TYPE: u32 = 20;
const ATTR_TYPE_INT: u64 = 2;
const ATTR_TYPE_TENSOR: u64 = 4;
const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;
const TENSOR_DATA_LOCATION: u32 = 14;
const SPARSE_VALUES: u32 = 1;
const VALUE_INFO_NAME: u32 = 1;
const VALUE_INFO_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TENSOR_TYPE_ELEM: u32 = 1;

/// ONNX `TensorProto.DataType` values used here.
pub const FLOAT: i32 = 1;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const BOOL: i32 = 9;
pub const FLOAT16: i32 = 10;

fn type_name(t: i32) -> String {
    match t {
        FLOAT => "float32".into(),
        INT32 => "int32".into(),
        INT64 => "int64".into(),
        BOOL => "bool".into(),
        FLOAT16 => "float16".into(),
        11 => "float64".into(),
        16 => "bfloat16".into(),
        other => format!("type {other}"),
    }
}

/// The two towers' interface names (Hugging Face CLIP export names).
pub const IMAGE_INPUT: &str = "pixel_values";
pub const IMAGE_OUTPUT: &str = "image_embeds";
pub const TEXT_INPUT: &str = "input_ids";
pub const TEXT_OUTPUT: &str = "text_embeds";
const ATTENTION_MASK: &str = "attention_mask";
const TOKEN_TYPE_IDS: &str = "token_type_ids";
const PAD_ID: i64 = 0;

struct Node<'a> {
    raw: &'a [u8],
    fields: Vec<pb::Field<'a>>,
    inputs: Vec<&'a str>,
    outputs: Vec<&'a str>,
    /// Names read inside this node's subgraphs (If/Loop/Scan bodies): a superset of the
    /// outer-scope values it captures.
    captured: Vec<&'a str>,
}

struct ValueInfo<'a> {
    name: &'a str,
    elem_type: Option<i32>,
    raw: &'a [u8],
}

struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    /// (name, whole field)
    initializers: Vec<(&'a str, &'a [u8])>,
    sparse_initializers: Vec<(&'a str, &'a [u8])>,
    inputs: Vec<ValueInfo<'a>>,
    outputs: Vec<ValueInfo<'a>>,
    value_info: Vec<ValueInfo<'a>>,
    quant_annotations: Vec<(&'a str, &'a [u8])>,
    /// name, doc_string, metadata: copied as they are.
    other: Vec<&'a [u8]>,
}

fn tensor_name(buf: &[u8]) -> Result<&str, SplitError> {
    for f in pb::fields(buf)? {
        if f.num == TENSOR_NAME {
            return f.string();
        }
    }
    Ok("")
}

fn tensor_is_external(buf: &[u8]) -> Result<bool, SplitError> {
    Ok(pb::fields(buf)?
        .iter()
        .any(|f| f.num == TENSOR_DATA_LOCATION && f.varint() == Some(1)))
}

fn parse_value_info(buf: &[u8]) -> Result<ValueInfo<'_>, SplitError> {
    let mut name = "";
    let mut elem_type = None;
    for f in pb::fields(buf)? {
        match f.num {
            VALUE_INFO_NAME => name = f.string()?,
            VALUE_INFO_TYPE => {
                for t in pb::fields(f.bytes()?)? {
                    if t.num == TYPE_TENSOR {
                        for e in pb::fields(t.bytes()?)? {
                            if e.num == TENSOR_TYPE_ELEM {
                                elem_type = e.varint().map(|v| v as i32);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ValueInfo {
        name,
        elem_type,
        raw: buf,
    })
}

/// Every node input read anywhere inside `graph` (recursively).
fn graph_reads<'a>(graph: &'a [u8], out: &mut Vec<&'a str>) -> Result<(), SplitError> {
    for f in pb::fields(graph)? {
        if f.num == GRAPH_NODE {
            let node = parse_node(f.bytes()?)?;
            out.extend(node.inputs.iter().filter(|s| !s.is_empty()));
            out.extend(node.captured);
        }
    }
    Ok(())
}

fn parse_node(buf: &[u8]) -> Result<Node<'_>, SplitError> {
    let fields = pb::fields(buf)?;
    let mut node = Node {
        raw: buf,
        fields: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        captured: Vec::new(),
    };
    for f in &fields {
        match f.num {
            NODE_INPUT => node.inputs.push(f.string()?),
            NODE_OUTPUT => node.outputs.push(f.string()?),
            NODE_ATTRIBUTE => {
                for a in pb::fields(f.bytes()?)? {
                    if a.num == ATTR_G || a.num == ATTR_GRAPHS {
                        graph_reads(a.bytes()?, &mut node.captured)?;
                    }
                }
            }
            _ => {}
        }
    }
    node.fields = fields;
    Ok(node)
}

fn parse_graph(buf: &[u8]) -> Result<Graph<'_>, SplitError> {
    let mut g = Graph {
        nodes: Vec::new(),
        initializers: Vec::new(),
        sparse_initializers: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        value_info: Vec::new(),
        quant_annotations: Vec::new(),
        other: Vec::new(),
    };
    for f in pb::fields(buf)? {
        match f.num {
            GRAPH_NODE => g.nodes.push(parse_node(f.bytes()?)?),
            GRAPH_INITIALIZER => g.initializers.push((tensor_name(f.bytes()?)?, f.raw)),
            GRAPH_SPARSE_INITIALIZER => {
                let mut name = "";
                for s in pb::fields(f.bytes()?)? {
                    if s.num == SPARSE_VALUES {
                        name = tensor_name(s.bytes()?)?;
                    }
                }
                g.sparse_initializers.push((name, f.raw));
            }
            GRAPH_INPUT => g.inputs.push(parse_value_info(f.bytes()?)?),
            GRAPH_OUTPUT => g.outputs.push(parse_value_info(f.bytes()?)?),
            GRAPH_VALUE_INFO => g.value_info.push(parse_value_info(f.bytes()?)?),
            GRAPH_QUANT_ANNOTATION => {
                let mut name = "";
                for a in pb::fields(f.bytes()?)? {
                    if a.num == 1 {
                        name = a.string()?;
                    }
                }
                g.quant_annotations.push((name, f.raw));
            }
            _ => g.other.push(f.raw),
        }
    }
    Ok(g)
}

// ---- building new nodes ----

fn attr_int(name: &str, v: i64) -> Vec<u8> {
    let mut a = Vec::new();
    pb::put_bytes(&mut a, ATTR_NAME, name.as_bytes());
    pb::put_uint(&mut a, ATTR_I, v as u64);
    pb::put_uint(&mut a, ATTR_TYPE, ATTR_TYPE_INT);
    a
}

/// A tensor attribute holding `dims` and raw little-endian bytes of `data_type`.
fn attr_tensor(name: &str, dims: &[i64], data_type: i32, raw: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    for d in dims {
        pb::put_uint(&mut t, TENSOR_DIMS, *d as u64);
    }
    pb::put_uint(&mut t, TENSOR_DATA_TYPE, data_type as u64);
    pb::put_bytes(&mut t, TENSOR_RAW_DATA, raw);
    let mut a = Vec::new();
    pb::put_bytes(&mut a, ATTR_NAME, name.as_bytes());
    pb::put_bytes(&mut a, ATTR_T, &t);
    pb::put_uint(&mut a, ATTR_TYPE, ATTR_TYPE_TENSOR);
    a
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        pb::put_bytes(&mut n, NODE_INPUT, i.as_bytes());
    }
    for o in outputs {
        pb::put_bytes(&mut n, NODE_OUTPUT, o.as_bytes());
    }
    pb::put_bytes(&mut n, NODE_NAME, name.as_bytes());
    pb::put_bytes(&mut n, NODE_OP_TYPE, op.as_bytes());
    for a in attrs {
        pb::put_bytes(&mut n, NODE_ATTRIBUTE, a);
    }
    n
}

fn field(num: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    pb::put_bytes(&mut out, num, body);
    out
}

fn elem_size(t: i32) -> Option<usize> {
    match t {
        INT64 => Some(8),
        INT32 => Some(4),
        BOOL => Some(1),
        _ => None,
    }
}

/// `value_info` with its tensor element type replaced (shape kept).
fn retype_value_info(v: &ValueInfo, elem: i32) -> Result<Vec<u8>, SplitError> {
    let mut out = Vec::new();
    for f in pb::fields(v.raw)? {
        if f.num != VALUE_INFO_TYPE {
            out.extend_from_slice(f.raw);
            continue;
        }
        let mut ty = Vec::new();
        for t in pb::fields(f.bytes()?)? {
            if t.num != TYPE_TENSOR {
                ty.extend_from_slice(t.raw);
                continue;
            }
            let mut tt = Vec::new();
            for e in pb::fields(t.bytes()?)? {
                if e.num == TENSOR_TYPE_ELEM {
                    pb::put_uint(&mut tt, TENSOR_TYPE_ELEM, elem as u64);
                } else {
                    tt.extend_from_slice(e.raw);
                }
            }
            pb::put_bytes(&mut ty, TYPE_TENSOR, &tt);
        }
        pb::put_bytes(&mut out, VALUE_INFO_TYPE, &ty);
    }
    Ok(out)
}

/// A node with some input/output names replaced.
fn rename_node(n: &Node, map: &HashMap<String, String>) -> Result<Vec<u8>, SplitError> {
    if let Some(c) = n.captured.iter().find(|c| map.contains_key(**c)) {
        return Err(bad(format!(
            "cannot retype {c}: a subgraph reads it (unsupported graph layout)"
        )));
    }
    let mut out = Vec::new();
    for f in &n.fields {
        if f.num == NODE_INPUT || f.num == NODE_OUTPUT {
            if let Some(new) = map.get(f.string()?) {
                pb::put_bytes(&mut out, f.num, new.as_bytes());
                continue;
            }
        }
        out.extend_from_slice(f.raw);
    }
    Ok(out)
}

/// Which tower to cut out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tower {
    Image,
    Text,
}

impl Tower {
    pub fn input(self) -> &'static str {
        match self {
            Tower::Image => IMAGE_INPUT,
            Tower::Text => TEXT_INPUT,
        }
    }

    pub fn output(self) -> &'static str {
        match self {
            Tower::Image => IMAGE_OUTPUT,
            Tower::Text => TEXT_OUTPUT,
        }
    }

    fn input_type(self) -> i32 {
        match self {
            Tower::Image => FLOAT,
            Tower::Text => INT64,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tower::Image => "image",
            Tower::Text => "text",
        }
    }
}

/// The inputs and outputs of an ONNX model (names), for messages and checks.
pub fn interface(model: &[u8]) -> Result<(Vec<String>, Vec<String>), SplitError> {
    let graph = model_graph(model)?;
    let g = parse_graph(graph)?;
    let inits: HashSet<&str> = g.initializers.iter().map(|(n, _)| *n).collect();
    Ok((
        g.inputs
            .iter()
            .filter(|v| !inits.contains(v.name))
            .map(|v| v.name.to_string())
            .collect(),
        g.outputs.iter().map(|v| v.name.to_string()).collect(),
    ))
}

fn model_graph(model: &[u8]) -> Result<&[u8], SplitError> {
    let fields =
        pb::fields(model).map_err(|e| bad(format!("not an ONNX model (protobuf: {e})")))?;
    let graph = fields
        .iter()
        .find(|f| f.num == MODEL_GRAPH)
        .ok_or_else(|| bad("not an ONNX model: it has no graph"))?;
    graph.bytes()
}

/// Cut `tower` out of the combined model `model` (the bytes of an .onnx file) and write it to
/// `out`. `origin` is recorded in the new model's metadata (`shihua.split`).
pub fn extract_tower(
    model: &[u8],
    tower: Tower,
    origin: &str,
    out: &mut impl Write,
) -> Result<(), SplitError> {
    let model_fields =
        pb::fields(model).map_err(|e| bad(format!("not an ONNX model (protobuf: {e})")))?;
    let graph_buf = model_graph(model)?;
    let g = parse_graph(graph_buf)?;
    let new_graph = build_tower_graph(&g, tower)?;

    let mut meta = Vec::new();
    pb::put_bytes(&mut meta, 1, b"shihua.split");
    pb::put_bytes(
        &mut meta,
        2,
        format!("{} tower of {origin}", tower.label()).as_bytes(),
    );
    let has_meta = model_fields.iter().any(|f| {
        f.num == MODEL_METADATA
            && f.bytes()
                .ok()
                .and_then(|b| pb::fields(b).ok())
                .is_some_and(|kv| {
                    kv.iter()
                        .any(|e| e.num == 1 && e.bytes().ok() == Some(b"shihua.split"))
                })
    });

    let w = |e: std::io::Error| bad(format!("writing the {} graph: {e}", tower.label()));
    for f in &model_fields {
        if f.num == MODEL_GRAPH {
            let len: usize = new_graph.iter().map(|p| p.len()).sum();
            out.write_all(&pb::len_prefix(MODEL_GRAPH, len))
                .map_err(w)?;
            for p in &new_graph {
                out.write_all(p).map_err(w)?;
            }
        } else {
            out.write_all(f.raw).map_err(w)?;
        }
    }
    if !has_meta {
        out.write_all(&field(MODEL_METADATA, &meta)).map_err(w)?;
    }
    Ok(())
}

/// The new graph's fields, in order (mostly borrowed from the original).
fn build_tower_graph<'a>(g: &Graph<'a>, tower: Tower) -> Result<Vec<Cow<'a, [u8]>>, SplitError> {
    let want_in = tower.input();
    let want_out = tower.output();
    let inits: HashSet<&str> = g
        .initializers
        .iter()
        .chain(&g.sparse_initializers)
        .map(|(n, _)| *n)
        .collect();
    let real_inputs: Vec<&str> = g
        .inputs
        .iter()
        .map(|v| v.name)
        .filter(|n| !inits.contains(n))
        .collect();
    let out_names: Vec<&str> = g.outputs.iter().map(|v| v.name).collect();
    let Some(out_vi) = g.outputs.iter().find(|v| v.name == want_out) else {
        return Err(bad(format!(
            "not a combined Chinese-CLIP graph: no output {want_out:?} (outputs: {}; inputs: {})",
            out_names.join(", "),
            real_inputs.join(", ")
        )));
    };
    let Some(in_vi) = g.inputs.iter().find(|v| v.name == want_in) else {
        return Err(bad(format!(
            "not a combined Chinese-CLIP graph: no input {want_in:?} (inputs: {})",
            real_inputs.join(", ")
        )));
    };

    // Walk back from the output (nodes are topologically sorted).
    let mut needed: HashSet<&str> = HashSet::from([want_out]);
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| needed.contains(o)) {
            keep[i] = true;
            needed.extend(n.inputs.iter().filter(|s| !s.is_empty()));
            needed.extend(&n.captured);
        }
    }
    let produced: HashSet<&str> = g
        .nodes
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .flat_map(|(n, _)| n.outputs.iter().copied())
        .collect();
    let used_inputs: Vec<&str> = real_inputs
        .iter()
        .copied()
        .filter(|n| needed.contains(n) && !produced.contains(n))
        .collect();
    let allowed: &[&str] = match tower {
        Tower::Image => &[IMAGE_INPUT],
        Tower::Text => &[TEXT_INPUT, ATTENTION_MASK, TOKEN_TYPE_IDS],
    };
    if let Some(other) = used_inputs.iter().find(|n| !allowed.contains(n)) {
        return Err(bad(format!(
            "the {} tower of this graph also needs the input {other:?}; shihua can only \
             feed {}",
            tower.label(),
            allowed.join(", ")
        )));
    }
    if !used_inputs.contains(&want_in) {
        return Err(bad(format!(
            "{want_out:?} does not depend on {want_in:?}: not a Chinese-CLIP graph"
        )));
    }

    // Values computed from input_ids instead of fed.
    let mut prefix: Vec<Vec<u8>> = Vec::new();
    let mut renames: HashMap<String, String> = HashMap::new();
    let mut suffix: Vec<Vec<u8>> = Vec::new();
    let in_type = in_vi.elem_type.unwrap_or(tower.input_type());
    let mut new_input = Cow::Borrowed(in_vi.raw);
    if in_type != tower.input_type() {
        // Feed the usual type; cast to what the graph wants.
        let inner = format!("{want_in}/shihua_{}", type_name(in_type));
        prefix.push(node(
            "Cast",
            "shihua/cast_input",
            &[want_in],
            &[&inner],
            &[attr_int("to", in_type as i64)],
        ));
        renames.insert(want_in.to_string(), inner);
        new_input = Cow::Owned(retype_value_info(in_vi, tower.input_type())?);
    }
    for name in &used_inputs {
        let vi = g.inputs.iter().find(|v| v.name == *name).expect("listed");
        let ty = vi.elem_type.unwrap_or(INT64);
        match *name {
            ATTENTION_MASK => {
                // attention_mask = (input_ids != [PAD]), in the export's type.
                let pad = match elem_size(in_type) {
                    Some(8) => PAD_ID.to_le_bytes().to_vec(),
                    Some(4) => (PAD_ID as i32).to_le_bytes().to_vec(),
                    _ => {
                        return Err(bad(format!(
                            "input_ids is {}, expected an integer type",
                            type_name(in_type)
                        )))
                    }
                };
                let ids = renames.get(want_in).map_or(want_in, String::as_str);
                prefix.push(node(
                    "Constant",
                    "shihua/pad_id",
                    &[],
                    &["shihua/pad_id"],
                    &[attr_tensor("value", &[], in_type, &pad)],
                ));
                prefix.push(node(
                    "Equal",
                    "shihua/is_pad",
                    &[ids, "shihua/pad_id"],
                    &["shihua/is_pad"],
                    &[],
                ));
                if ty == BOOL {
                    prefix.push(node(
                        "Not",
                        "shihua/attention_mask",
                        &["shihua/is_pad"],
                        &[ATTENTION_MASK],
                        &[],
                    ));
                } else {
                    prefix.push(node(
                        "Not",
                        "shihua/not_pad",
                        &["shihua/is_pad"],
                        &["shihua/not_pad"],
                        &[],
                    ));
                    prefix.push(node(
                        "Cast",
                        "shihua/attention_mask",
                        &["shihua/not_pad"],
                        &[ATTENTION_MASK],
                        &[attr_int("to", ty as i64)],
                    ));
                }
            }
            TOKEN_TYPE_IDS => {
                // token_type_ids = zeros_like(input_ids), in the export's type.
                let size = elem_size(ty).ok_or_else(|| {
                    bad(format!("token_type_ids is {}, unsupported", type_name(ty)))
                })?;
                prefix.push(node(
                    "Shape",
                    "shihua/ids_shape",
                    &[want_in],
                    &["shihua/ids_shape"],
                    &[],
                ));
                prefix.push(node(
                    "ConstantOfShape",
                    "shihua/token_type_ids",
                    &["shihua/ids_shape"],
                    &[TOKEN_TYPE_IDS],
                    &[attr_tensor("value", &[1], ty, &vec![0u8; size])],
                ));
            }
            _ => {}
        }
    }
    let out_type = out_vi.elem_type.unwrap_or(FLOAT);
    let mut new_output = Cow::Borrowed(out_vi.raw);
    if out_type != FLOAT {
        let inner = format!("{want_out}/shihua_{}", type_name(out_type));
        renames.insert(want_out.to_string(), inner.clone());
        suffix.push(node(
            "Cast",
            "shihua/cast_output",
            &[&inner],
            &[want_out],
            &[attr_int("to", FLOAT as i64)],
        ));
        new_output = Cow::Owned(retype_value_info(out_vi, FLOAT)?);
    }

    // External weights would have to travel with the new files: refuse them clearly.
    for (name, raw) in g.initializers.iter() {
        if needed.contains(name) {
            let body = pb::fields(raw)?.first().map(|f| f.bytes()).transpose()?;
            if body.map(tensor_is_external).transpose()? == Some(true) {
                return Err(bad(format!(
                    "weight {name} is stored outside the .onnx file (external data); \
                     only self-contained .onnx files can be split"
                )));
            }
        }
    }

    let mut parts: Vec<Cow<'a, [u8]>> = Vec::new();
    for n in &prefix {
        parts.push(Cow::Owned(field(GRAPH_NODE, n)));
    }
    for (n, _) in g.nodes.iter().zip(&keep).filter(|(_, k)| **k) {
        if renames.is_empty() {
            parts.push(Cow::Owned(pb::len_prefix(GRAPH_NODE, n.raw.len())));
            parts.push(Cow::Borrowed(n.raw));
        } else {
            parts.push(Cow::Owned(field(GRAPH_NODE, &rename_node(n, &renames)?)));
        }
    }
    for n in &suffix {
        parts.push(Cow::Owned(field(GRAPH_NODE, n)));
    }
    for raw in &g.other {
        parts.push(Cow::Borrowed(raw));
    }
    for (name, raw) in g.initializers.iter().chain(&g.sparse_initializers) {
        if needed.contains(name) {
            parts.push(Cow::Borrowed(raw));
        }
    }
    parts.push(Cow::Owned(pb::len_prefix(GRAPH_INPUT, new_input.len())));
    parts.push(new_input);
    // Initializers listed as inputs too (IR < 4) stay inputs.
    for v in &g.inputs {
        if inits.contains(v.name) && needed.contains(v.name) {
            parts.push(Cow::Owned(pb::len_prefix(GRAPH_INPUT, v.raw.len())));
            parts.push(Cow::Borrowed(v.raw));
        }
    }
    parts.push(Cow::Owned(pb::len_prefix(GRAPH_OUTPUT, new_output.len())));
    parts.push(new_output);
    for v in &g.value_info {
        if (needed.contains(v.name) || produced.contains(v.name))
            && !renames.contains_key(v.name)
            && v.name != want_in
            && v.name != want_out
        {
            parts.push(Cow::Owned(pb::len_prefix(GRAPH_VALUE_INFO, v.raw.len())));
            parts.push(Cow::Borrowed(v.raw));
        }
    }
    for (name, raw) in &g.quant_annotations {
        if needed.contains(name) || produced.contains(name) {
            parts.push(Cow::Borrowed(raw));
        }
    }
    Ok(parts)
}

/// Split the combined graph at `combined` into `image` and `text` (written as given: the
/// caller picks temporary names and renames them into place). `origin` describes the source
/// for the models' metadata.
pub fn split_file(
    combined: &Path,
    image: &Path,
    text: &Path,
    origin: &str,
) -> Result<(), SplitError> {
    let model =
        std::fs::read(combined).map_err(|e| bad(format!("reading {}: {e}", combined.display())))?;
    for (tower, path) in [(Tower::Image, image), (Tower::Text, text)] {
        let io = |e: std::io::Error| bad(format!("writing {}: {e}", path.display()));
        let file = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        extract_tower(&model, tower, origin, &mut w)?;
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn combined() -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixture/combined.onnx"))
            .expect("models/fixture/combined.onnx (models/scripts/make_fixtures.py)")
    }

    fn split(model: &[u8], tower: Tower) -> Vec<u8> {
        let mut out = Vec::new();
        extract_tower(model, tower, "test", &mut out).unwrap();
        out
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            pb::put_uint(&mut b, 3, v);
            let f = pb::fields(&b).unwrap();
            assert_eq!((f[0].num, f[0].varint()), (3, Some(v)));
        }
    }

    #[test]
    fn towers_have_one_input_and_one_output() {
        let model = combined();
        let (ins, outs) = interface(&model).unwrap();
        assert_eq!(ins, ["input_ids", "pixel_values", "attention_mask"]);
        assert!(outs.contains(&"text_embeds".to_string()));

        let image = split(&model, Tower::Image);
        assert_eq!(
            interface(&image).unwrap(),
            (vec!["pixel_values".into()], vec!["image_embeds".into()])
        );
        let text = split(&model, Tower::Text);
        assert_eq!(
            interface(&text).unwrap(),
            (vec!["input_ids".into()], vec!["text_embeds".into()])
        );
        // No text weights in the image graph and no vision weights in the text graph.
        let g = parse_graph(model_graph(&image).unwrap()).unwrap();
        assert!(g.initializers.iter().all(|(n, _)| n.starts_with("vision.")));
        assert!(g.nodes.iter().all(|n| !n.inputs.contains(&"input_ids")));
        let g = parse_graph(model_graph(&text).unwrap()).unwrap();
        assert!(g.initializers.iter().all(|(n, _)| n.starts_with("text.")));
        assert!(g
            .nodes
            .iter()
            .any(|n| n.outputs.contains(&"attention_mask")));
        // The text embedding table (1.35 MB) is copied, not re-encoded.
        assert!(text.len() > 1_300_000 && image.len() < 500_000);
    }

    #[test]
    fn splitting_is_deterministic_and_idempotent() {
        let model = combined();
        let text = split(&model, Tower::Text);
        assert_eq!(text, split(&model, Tower::Text));
        // Splitting a split graph again changes nothing but is allowed.
        let again = split(&text, Tower::Text);
        assert_eq!(
            interface(&again).unwrap(),
            (vec!["input_ids".into()], vec!["text_embeds".into()])
        );
    }

    fn value_info(name: &str, elem: i32) -> Vec<u8> {
        let mut tt = Vec::new();
        pb::put_uint(&mut tt, TENSOR_TYPE_ELEM, elem as u64);
        let mut ty = Vec::new();
        pb::put_bytes(&mut ty, TYPE_TENSOR, &tt);
        let mut v = Vec::new();
        pb::put_bytes(&mut v, VALUE_INFO_NAME, name.as_bytes());
        pb::put_bytes(&mut v, VALUE_INFO_TYPE, &ty);
        v
    }

    /// A combined graph with what an fp16 export without kept I/O types, or another BERT
    /// export, may have: float16 pixels and image output, int32 ids, token_type_ids.
    fn odd_combined() -> Vec<u8> {
        let cast =
            |i: &str, o: &str, to: i32| node("Cast", o, &[i], &[o], &[attr_int("to", to as i64)]);
        let nodes = [
            cast("input_ids", "ids64", INT64),
            node(
                "Add",
                "m",
                &["attention_mask", "token_type_ids"],
                &["m"],
                &[],
            ),
            cast("m", "mf", FLOAT),
            cast("ids64", "idsf", FLOAT),
            node("Mul", "te", &["idsf", "mf"], &["text_embeds"], &[]),
            cast("pixel_values", "pv", FLOAT),
            cast("pv", "image_embeds", FLOAT16),
        ];
        let mut g = Vec::new();
        for n in &nodes {
            pb::put_bytes(&mut g, GRAPH_NODE, n);
        }
        pb::put_bytes(&mut g, 2, b"odd");
        for (name, t) in [
            ("input_ids", INT32),
            ("attention_mask", INT64),
            ("token_type_ids", INT64),
            ("pixel_values", FLOAT16),
        ] {
            pb::put_bytes(&mut g, GRAPH_INPUT, &value_info(name, t));
        }
        pb::put_bytes(&mut g, GRAPH_OUTPUT, &value_info("text_embeds", FLOAT));
        pb::put_bytes(&mut g, GRAPH_OUTPUT, &value_info("image_embeds", FLOAT16));
        let mut opset = Vec::new();
        pb::put_bytes(&mut opset, 1, b"");
        pb::put_uint(&mut opset, 2, 17);
        let mut m = Vec::new();
        pb::put_uint(&mut m, 1, 8);
        pb::put_bytes(&mut m, 8, &opset);
        pb::put_bytes(&mut m, MODEL_GRAPH, &g);
        m
    }

    fn io_types(model: &[u8]) -> (Vec<Option<i32>>, Vec<Option<i32>>) {
        let g = parse_graph(model_graph(model).unwrap()).unwrap();
        (
            g.inputs.iter().map(|v| v.elem_type).collect(),
            g.outputs.iter().map(|v| v.elem_type).collect(),
        )
    }

    #[test]
    fn other_io_types_and_token_type_ids_are_adapted() {
        let model = odd_combined();
        let image = split(&model, Tower::Image);
        assert_eq!(
            interface(&image).unwrap(),
            (vec!["pixel_values".into()], vec!["image_embeds".into()])
        );
        assert_eq!(io_types(&image), (vec![Some(FLOAT)], vec![Some(FLOAT)]));
        let text = split(&model, Tower::Text);
        assert_eq!(
            interface(&text).unwrap(),
            (vec!["input_ids".into()], vec!["text_embeds".into()])
        );
        assert_eq!(io_types(&text), (vec![Some(INT64)], vec![Some(FLOAT)]));
        let g = parse_graph(model_graph(&text).unwrap()).unwrap();
        let ops: Vec<String> = g
            .nodes
            .iter()
            .map(|n| {
                let op = n.fields.iter().find(|f| f.num == NODE_OP_TYPE).unwrap();
                format!("{}->{}", op.string().unwrap(), n.outputs.join(","))
            })
            .collect();
        for want in [
            "Cast->input_ids/shihua_int32",
            "Cast->attention_mask",
            "ConstantOfShape->token_type_ids",
            "Cast->ids64",
        ] {
            assert!(ops.iter().any(|o| o == want), "{want} not in {ops:?}");
        }
        // The original cast now reads the int32 copy.
        let first = g.nodes.iter().find(|n| n.outputs == ["ids64"]).unwrap();
        assert_eq!(first.inputs, ["input_ids/shihua_int32"]);
    }

    #[test]
    fn a_graph_without_the_towers_is_refused_clearly() {
        let model = combined();
        let image = split(&model, Tower::Image);
        let err = extract_tower(&image, Tower::Text, "t", &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("text_embeds") && err.contains("image_embeds"),
            "{err}"
        );
        let err = extract_tower(b"not onnx at all", Tower::Image, "t", &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an ONNX model"), "{err}");
    }
}
