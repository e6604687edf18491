//! An ONNX graph as the tower split reads it: nodes with their inputs and outputs (and the
//! names their subgraphs read), value infos with their element types, initializers by name,
//! each with its raw bytes so what is kept is copied as it is; and the few new nodes the
//! split adds (`Cast`, `Constant`, `Equal`, `Not`, `Shape`, `ConstantOfShape`).

use std::collections::HashMap;

use super::pb::{self, *};

pub(crate) struct Node<'a> {
    pub(crate) raw: &'a [u8],
    pub(crate) fields: Vec<pb::Field<'a>>,
    pub(crate) inputs: Vec<&'a str>,
    pub(crate) outputs: Vec<&'a str>,
    /// Names read inside this node's subgraphs (If/Loop/Scan bodies): a superset of the
    /// outer-scope values it captures.
    pub(crate) captured: Vec<&'a str>,
}

pub(crate) struct ValueInfo<'a> {
    pub(crate) name: &'a str,
    pub(crate) elem_type: Option<i32>,
    pub(crate) raw: &'a [u8],
}

pub(crate) struct Graph<'a> {
    pub(crate) nodes: Vec<Node<'a>>,
    /// (name, whole field)
    pub(crate) initializers: Vec<(&'a str, &'a [u8])>,
    pub(crate) sparse_initializers: Vec<(&'a str, &'a [u8])>,
    pub(crate) inputs: Vec<ValueInfo<'a>>,
    pub(crate) outputs: Vec<ValueInfo<'a>>,
    pub(crate) value_info: Vec<ValueInfo<'a>>,
    pub(crate) quant_annotations: Vec<(&'a str, &'a [u8])>,
    /// name, doc_string, metadata: copied as they are.
    pub(crate) other: Vec<&'a [u8]>,
}

pub(crate) fn parse_value_info(buf: &[u8]) -> Result<ValueInfo<'_>, OnnxError> {
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

pub(crate) fn parse_node(buf: &[u8]) -> Result<Node<'_>, OnnxError> {
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
            NODE_ATTRIBUTE => pb::attribute_reads(f.bytes()?, &mut node.captured)?,
            _ => {}
        }
    }
    node.fields = fields;
    Ok(node)
}

pub(crate) fn parse_graph(buf: &[u8]) -> Result<Graph<'_>, OnnxError> {
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
            GRAPH_INITIALIZER => g.initializers.push((pb::tensor_name(f.bytes()?)?, f.raw)),
            GRAPH_SPARSE_INITIALIZER => {
                let mut name = "";
                for s in pb::fields(f.bytes()?)? {
                    if s.num == SPARSE_VALUES {
                        name = pb::tensor_name(s.bytes()?)?;
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

pub(crate) fn attr_int(name: &str, v: i64) -> Vec<u8> {
    let mut a = Vec::new();
    pb::put_bytes(&mut a, ATTR_NAME, name.as_bytes());
    pb::put_uint(&mut a, ATTR_I, v as u64);
    pb::put_uint(&mut a, ATTR_TYPE, ATTR_TYPE_INT);
    a
}

/// A tensor attribute holding `dims` and raw little-endian bytes of `data_type`.
pub(crate) fn attr_tensor(name: &str, dims: &[i64], data_type: i32, raw: &[u8]) -> Vec<u8> {
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

pub(crate) fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: &[Vec<u8>],
) -> Vec<u8> {
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

pub(crate) fn elem_size(t: i32) -> Option<usize> {
    match t {
        INT64 => Some(8),
        INT32 => Some(4),
        BOOL => Some(1),
        _ => None,
    }
}

/// A node with some input/output names replaced.
pub(crate) fn rename_node(n: &Node, map: &HashMap<String, String>) -> Result<Vec<u8>, OnnxError> {
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
