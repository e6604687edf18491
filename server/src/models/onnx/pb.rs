//! The protobuf wire format as far as the ONNX tools here need it: read the fields of a
//! message, write fields; the ONNX field numbers and data types; and the small message reads
//! and rewrites both the tower split ([`super::split`]) and the int8 re-encoding
//! ([`super::int8_signed`]) use. Fields they do not touch (the weights above all) are copied
//! byte for byte by the callers, so no onnx library is needed.

use std::borrow::Cow;

/// Why an ONNX file could not be read or rewritten (bytes that are not the protobuf or the
/// ONNX message that was expected, a graph that cannot be split or re-encoded), in words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OnnxError(pub String);

pub fn bad(msg: impl Into<String>) -> OnnxError {
    OnnxError(msg.into())
}

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
    pub fn bytes(&self) -> Result<&'a [u8], OnnxError> {
        match self.value {
            Value::Bytes(b) => Ok(b),
            _ => Err(bad(format!("field {} is not length-delimited", self.num))),
        }
    }

    pub fn string(&self) -> Result<&'a str, OnnxError> {
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

pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, OnnxError> {
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
pub fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, OnnxError> {
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

/// `field` `num` holding `body`, as bytes.
pub fn field(num: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, num, body);
    out
}

// ONNX field numbers (onnx/onnx.proto).
pub const MODEL_GRAPH: u32 = 7;
pub const MODEL_METADATA: u32 = 14;
pub const GRAPH_NODE: u32 = 1;
pub const GRAPH_INITIALIZER: u32 = 5;
pub const GRAPH_INPUT: u32 = 11;
pub const GRAPH_OUTPUT: u32 = 12;
pub const GRAPH_VALUE_INFO: u32 = 13;
pub const GRAPH_QUANT_ANNOTATION: u32 = 14;
pub const GRAPH_SPARSE_INITIALIZER: u32 = 15;
pub const NODE_INPUT: u32 = 1;
pub const NODE_OUTPUT: u32 = 2;
pub const NODE_NAME: u32 = 3;
pub const NODE_OP_TYPE: u32 = 4;
pub const NODE_ATTRIBUTE: u32 = 5;
pub const ATTR_NAME: u32 = 1;
pub const ATTR_I: u32 = 3;
pub const ATTR_T: u32 = 5;
pub const ATTR_G: u32 = 6;
pub const ATTR_GRAPHS: u32 = 11;
pub const ATTR_TYPE: u32 = 20;
pub const ATTR_TYPE_INT: u64 = 2;
pub const ATTR_TYPE_TENSOR: u64 = 4;
pub const TENSOR_DIMS: u32 = 1;
pub const TENSOR_DATA_TYPE: u32 = 2;
pub const TENSOR_INT32_DATA: u32 = 5;
pub const TENSOR_NAME: u32 = 8;
pub const TENSOR_RAW_DATA: u32 = 9;
pub const TENSOR_DATA_LOCATION: u32 = 14;
pub const SPARSE_VALUES: u32 = 1;
pub const VALUE_INFO_NAME: u32 = 1;
pub const VALUE_INFO_TYPE: u32 = 2;
pub const TYPE_TENSOR: u32 = 1;
pub const TENSOR_TYPE_ELEM: u32 = 1;

/// ONNX `TensorProto.DataType` values used here.
pub const FLOAT: i32 = 1;
pub const UINT8: i32 = 2;
pub const INT8: i32 = 3;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const BOOL: i32 = 9;
pub const FLOAT16: i32 = 10;

pub fn type_name(t: i32) -> String {
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

/// Writes the model's `graph` field made of `parts`, in order.
pub fn write_graph(out: &mut impl std::io::Write, parts: &[Cow<'_, [u8]>]) -> std::io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.write_all(&len_prefix(MODEL_GRAPH, len))?;
    for p in parts {
        out.write_all(p)?;
    }
    Ok(())
}

/// `f` is a model `metadata_props` entry whose key is `key`.
pub fn is_metadata_entry(f: &Field, key: &str) -> Result<bool, OnnxError> {
    if f.num != MODEL_METADATA {
        return Ok(false);
    }
    Ok(fields(f.bytes()?)?
        .iter()
        .any(|e| e.num == 1 && e.bytes().ok() == Some(key.as_bytes())))
}

/// The graph of an ONNX model (the bytes of an .onnx file).
pub fn model_graph(model: &[u8]) -> Result<&[u8], OnnxError> {
    let fields = fields(model).map_err(|e| bad(format!("not an ONNX model (protobuf: {e})")))?;
    let graph = fields
        .iter()
        .find(|f| f.num == MODEL_GRAPH)
        .ok_or_else(|| bad("not an ONNX model: it has no graph"))?;
    graph.bytes()
}

pub fn tensor_name(buf: &[u8]) -> Result<&str, OnnxError> {
    for f in fields(buf)? {
        if f.num == TENSOR_NAME {
            return f.string();
        }
    }
    Ok("")
}

pub fn tensor_is_external(buf: &[u8]) -> Result<bool, OnnxError> {
    Ok(fields(buf)?
        .iter()
        .any(|f| f.num == TENSOR_DATA_LOCATION && f.varint() == Some(1)))
}

/// The name of a `ValueInfoProto`.
pub fn value_info_name(vi: &[u8]) -> Result<&str, OnnxError> {
    for f in fields(vi)? {
        if f.num == VALUE_INFO_NAME {
            return f.string();
        }
    }
    Ok("")
}

/// A `ValueInfoProto` with its tensor element type set to `elem` (shape kept).
pub fn retype_value_info(vi: &[u8], elem: i32) -> Result<Vec<u8>, OnnxError> {
    let mut out = Vec::new();
    for f in fields(vi)? {
        if f.num != VALUE_INFO_TYPE {
            out.extend_from_slice(f.raw);
            continue;
        }
        let mut ty = Vec::new();
        for t in fields(f.bytes()?)? {
            if t.num != TYPE_TENSOR {
                ty.extend_from_slice(t.raw);
                continue;
            }
            let mut tt = Vec::new();
            for e in fields(t.bytes()?)? {
                if e.num == TENSOR_TYPE_ELEM {
                    put_uint(&mut tt, TENSOR_TYPE_ELEM, elem as u64);
                } else {
                    tt.extend_from_slice(e.raw);
                }
            }
            put_bytes(&mut ty, TYPE_TENSOR, &tt);
        }
        put_bytes(&mut out, VALUE_INFO_TYPE, &ty);
    }
    Ok(out)
}

/// Every value name read anywhere inside `graph` (node inputs, recursively through the
/// If/Loop/Scan bodies in node attributes).
pub fn graph_reads<'a>(graph: &'a [u8], out: &mut Vec<&'a str>) -> Result<(), OnnxError> {
    for f in fields(graph)? {
        if f.num == GRAPH_NODE {
            for nf in fields(f.bytes()?)? {
                match nf.num {
                    NODE_INPUT => out.extend(Some(nf.string()?).filter(|s| !s.is_empty())),
                    NODE_ATTRIBUTE => attribute_reads(nf.bytes()?, out)?,
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// The names the subgraphs of one `AttributeProto` read (see [`graph_reads`]).
pub fn attribute_reads<'a>(attr: &'a [u8], out: &mut Vec<&'a str>) -> Result<(), OnnxError> {
    for a in fields(attr)? {
        if a.num == ATTR_G || a.num == ATTR_GRAPHS {
            graph_reads(a.bytes()?, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            put_uint(&mut b, 3, v);
            let f = fields(&b).unwrap();
            assert_eq!((f[0].num, f[0].varint()), (3, Some(v)));
        }
    }
}
