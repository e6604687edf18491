//! Signed int8 weights from an unsigned int8 graph, for CPUs with VNNI/AMX.
//!
//! `models/export/export.py --int8` and the downloaded `model_quantized.onnx` are dynamically
//! quantised with **uint8** weights: on AVX2 without VNNI that is the right choice (u8 × s8
//! products can saturate there), but with VNNI (`vpdpbusd`) ONNX Runtime runs **int8 (s8)**
//! weights ~1.7× faster (NOTES.md: ViT-B-16 image graph 5.5 → 9.4 images/s on a 2-core EPYC).
//!
//! The re-encoding is exact by construction: a weight `q` with zero point `zp` means
//! `scale × (q − zp)`; storing `q − 128` and `zp − 128` (bit pattern: `q ^ 0x80` read as i8)
//! leaves every difference, so every real value, unchanged. Only the weight input `B` (and its
//! zero point) of `MatMulInteger` and `DynamicQuantizeMatMul` is flipped; the activations stay
//! uint8 from `DynamicQuantizeLinear` (ONNX Runtime accepts u8 A × s8 B for both ops). An
//! initializer that anything else also reads (another op, a subgraph, a graph output) stays
//! as it is, with its partner, so no consumer sees a type it was not built for.
//!
//! The result is cached next to the source (`image.int8.onnx` → `image.int8.s8.onnx`) with a
//! stamp (`image.int8.s8.json`: the source's size, mtime and SHA-256), made at first load and
//! made again when the source changes. Like `onnx_split`, this works on the protobuf wire
//! format: only the flipped tensors are rewritten, everything else is copied byte for byte.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::onnx_split::pb;

/// Why a graph could not be re-encoded (the caller keeps the uint8 graph and says why).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Int8Error(pub String);

fn bad(msg: impl Into<String>) -> Int8Error {
    Int8Error(msg.into())
}

impl From<super::onnx_split::SplitError> for Int8Error {
    fn from(e: super::onnx_split::SplitError) -> Self {
        Int8Error(e.0)
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
const NODE_INPUT: u32 = 1;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const ATTR_G: u32 = 6;
const ATTR_GRAPHS: u32 = 11;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_INT32_DATA: u32 = 5;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;
const TENSOR_DATA_LOCATION: u32 = 14;
const VALUE_INFO_NAME: u32 = 1;
const VALUE_INFO_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TENSOR_TYPE_ELEM: u32 = 1;

/// ONNX `TensorProto.DataType`.
pub const UINT8: i32 = 2;
pub const INT8: i32 = 3;

/// The metadata key a re-encoded model carries.
pub const METADATA_KEY: &str = "shihua.int8_weights";

/// The ops whose weight input (index 1) and weight zero point (index 3) are flipped.
const WEIGHT_OPS: [&str; 2] = ["MatMulInteger", "DynamicQuantizeMatMul"];
const B: usize = 1;
const B_ZERO_POINT: usize = 3;

/// What a re-encoding did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reencoded {
    /// Initializers turned from uint8 into int8 (weights and zero points).
    pub tensors: usize,
    /// `MatMulInteger` / `DynamicQuantizeMatMul` nodes that now read int8 weights.
    pub nodes: usize,
    /// Such nodes left as they were (weights already int8, shared with another consumer,
    /// no zero point, external data), and why, for the first few.
    pub kept: usize,
    pub kept_why: Vec<String>,
}

struct NodeInfo<'a> {
    op: &'a str,
    inputs: Vec<&'a str>,
}

struct Init<'a> {
    data_type: Option<i32>,
    /// Weight bytes are in the file (raw_data or int32_data), not in external data.
    inline: bool,
    fields: Vec<pb::Field<'a>>,
}

/// Every value name read anywhere inside a subgraph (If/Loop/Scan bodies).
fn subgraph_reads<'a>(graph: &'a [u8], out: &mut HashSet<&'a str>) -> Result<(), Int8Error> {
    for f in pb::fields(graph)? {
        if f.num == GRAPH_NODE {
            for nf in pb::fields(f.bytes()?)? {
                match nf.num {
                    NODE_INPUT => {
                        out.insert(nf.string()?);
                    }
                    NODE_ATTRIBUTE => attr_graph_reads(nf.bytes()?, out)?,
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

fn attr_graph_reads<'a>(attr: &'a [u8], out: &mut HashSet<&'a str>) -> Result<(), Int8Error> {
    for a in pb::fields(attr)? {
        if a.num == ATTR_G || a.num == ATTR_GRAPHS {
            subgraph_reads(a.bytes()?, out)?;
        }
    }
    Ok(())
}

fn parse_init(body: &[u8]) -> Result<(&str, Init<'_>), Int8Error> {
    let fields = pb::fields(body)?;
    let mut name = "";
    let mut init = Init {
        data_type: None,
        inline: false,
        fields: Vec::new(),
    };
    let mut external = false;
    for f in &fields {
        match f.num {
            TENSOR_NAME => name = f.string()?,
            TENSOR_DATA_TYPE => init.data_type = f.varint().map(|v| v as i32),
            TENSOR_RAW_DATA | TENSOR_INT32_DATA => init.inline = true,
            TENSOR_DATA_LOCATION => external = f.varint() == Some(1),
            _ => {}
        }
    }
    init.inline &= !external;
    init.fields = fields;
    Ok((name, init))
}

/// The int32_data values of a field (packed or not).
fn int32_values(f: &pb::Field, out: &mut Vec<i64>) -> Result<(), Int8Error> {
    match f.value {
        pb::Value::Varint(v) => out.push(v as i64),
        pb::Value::Bytes(b) => {
            // packed: a run of varints
            let mut pos = 0;
            while pos < b.len() {
                let mut v: u64 = 0;
                let mut shift = 0;
                loop {
                    let byte = *b.get(pos).ok_or_else(|| bad("truncated int32_data"))?;
                    pos += 1;
                    v |= u64::from(byte & 0x7f) << shift;
                    if byte & 0x80 == 0 {
                        break;
                    }
                    shift += 7;
                    if shift >= 64 {
                        return Err(bad("malformed int32_data"));
                    }
                }
                out.push(v as i64);
            }
        }
        pb::Value::Fixed => return Err(bad("int32_data with a fixed-width encoding")),
    }
    Ok(())
}

/// A uint8 tensor's fields, rewritten as int8 with every value minus 128.
fn signed_tensor(init: &Init) -> Result<Vec<u8>, Int8Error> {
    let mut out = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    let mut had_ints = false;
    for f in &init.fields {
        match f.num {
            TENSOR_DATA_TYPE => pb::put_uint(&mut out, TENSOR_DATA_TYPE, INT8 as u64),
            TENSOR_RAW_DATA => {
                // q − 128 for q in 0..=255 is q ^ 0x80 read as two's complement i8.
                let flipped: Vec<u8> = f.bytes()?.iter().map(|b| b ^ 0x80).collect();
                pb::put_bytes(&mut out, TENSOR_RAW_DATA, &flipped);
            }
            TENSOR_INT32_DATA => {
                had_ints = true;
                int32_values(f, &mut ints)?;
            }
            _ => out.extend_from_slice(f.raw),
        }
    }
    if had_ints {
        let mut packed = Vec::new();
        for v in ints {
            let q = v as i32;
            if !(0..=255).contains(&q) {
                return Err(bad(format!("uint8 tensor holds {q}")));
            }
            // negative int32 values are varints of their 64-bit sign extension
            pb::put_varint(&mut packed, (i64::from(q - 128)) as u64);
        }
        pb::put_bytes(&mut out, TENSOR_INT32_DATA, &packed);
    }
    Ok(out)
}

/// A ValueInfoProto with its tensor element type set to `elem`.
fn retyped_value_info(vi: &[u8], elem: i32) -> Result<Vec<u8>, Int8Error> {
    let mut out = Vec::new();
    for f in pb::fields(vi)? {
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

fn value_info_name(vi: &[u8]) -> Result<&str, Int8Error> {
    for f in pb::fields(vi)? {
        if f.num == VALUE_INFO_NAME {
            return Ok(f.string()?);
        }
    }
    Ok("")
}

fn model_graph(model: &[u8]) -> Result<&[u8], Int8Error> {
    let fields =
        pb::fields(model).map_err(|e| bad(format!("not an ONNX model (protobuf: {e})")))?;
    let graph = fields
        .iter()
        .find(|f| f.num == MODEL_GRAPH)
        .ok_or_else(|| bad("not an ONNX model: it has no graph"))?;
    Ok(graph.bytes()?)
}

/// Which initializers to flip, and the report (nothing written).
fn plan(graph: &[u8]) -> Result<(HashSet<String>, Reencoded), Int8Error> {
    let mut nodes: Vec<NodeInfo> = Vec::new();
    let mut inits: HashMap<&str, Init> = HashMap::new();
    // Names read by something that is not a top-level node input (kept as they are).
    let mut other_reads: HashSet<&str> = HashSet::new();
    for f in pb::fields(graph)? {
        match f.num {
            GRAPH_NODE => {
                let mut n = NodeInfo {
                    op: "",
                    inputs: Vec::new(),
                };
                for nf in pb::fields(f.bytes()?)? {
                    match nf.num {
                        NODE_INPUT => n.inputs.push(nf.string()?),
                        NODE_OP_TYPE => n.op = nf.string()?,
                        NODE_ATTRIBUTE => attr_graph_reads(nf.bytes()?, &mut other_reads)?,
                        _ => {}
                    }
                }
                nodes.push(n);
            }
            GRAPH_INITIALIZER => {
                let (name, init) = parse_init(f.bytes()?)?;
                inits.insert(name, init);
            }
            GRAPH_OUTPUT => {
                other_reads.insert(value_info_name(f.bytes()?)?);
            }
            _ => {}
        }
    }
    // Every (node, input index) that reads each name.
    let mut readers: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for (j, name) in n.inputs.iter().enumerate() {
            if !name.is_empty() {
                readers.entry(name).or_default().push((i, j));
            }
        }
    }
    let mut report = Reencoded::default();
    let keep = |report: &mut Reencoded, why: String| {
        report.kept += 1;
        if report.kept_why.len() < 5 {
            report.kept_why.push(why);
        }
    };
    let is_u8_weight = |name: &str| {
        inits
            .get(name)
            .is_some_and(|i| i.data_type == Some(UINT8) && i.inline)
    };
    let mut chosen: Vec<usize> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if !WEIGHT_OPS.contains(&n.op) {
            continue;
        }
        let b = n.inputs.get(B).copied().unwrap_or("");
        let zp = n.inputs.get(B_ZERO_POINT).copied().unwrap_or("");
        match inits.get(b) {
            None => keep(
                &mut report,
                format!("{} {b:?}: weight is not a constant", n.op),
            ),
            Some(init) if init.data_type == Some(INT8) => {
                keep(&mut report, format!("{} {b:?}: already int8", n.op))
            }
            Some(init) if !init.inline => keep(
                &mut report,
                format!("{} {b:?}: weight in external data", n.op),
            ),
            Some(_) if !is_u8_weight(b) => {
                keep(&mut report, format!("{} {b:?}: weight is not uint8", n.op))
            }
            Some(_) if zp.is_empty() || !is_u8_weight(zp) => keep(
                &mut report,
                format!("{} {b:?}: no constant uint8 zero point", n.op),
            ),
            Some(_) => chosen.push(i),
        }
    }
    // Drop any node whose weight or zero point is also read elsewhere, until stable.
    loop {
        let set: HashSet<usize> = chosen.iter().copied().collect();
        let shared = |name: &str| {
            other_reads.contains(name)
                || readers.get(name).is_some_and(|rs| {
                    rs.iter()
                        .any(|(n, j)| !set.contains(n) || (*j != B && *j != B_ZERO_POINT))
                })
        };
        let before = chosen.len();
        let mut dropped = Vec::new();
        chosen.retain(|&i| {
            let n = &nodes[i];
            let ok = !shared(n.inputs[B]) && !shared(n.inputs[B_ZERO_POINT]);
            if !ok {
                dropped.push(format!(
                    "{} {:?}: weight or zero point shared with another consumer",
                    n.op, n.inputs[B]
                ));
            }
            ok
        });
        for why in dropped {
            keep(&mut report, why);
        }
        if chosen.len() == before {
            break;
        }
    }
    let mut flip = HashSet::new();
    for &i in &chosen {
        flip.insert(nodes[i].inputs[B].to_string());
        flip.insert(nodes[i].inputs[B_ZERO_POINT].to_string());
    }
    report.nodes = chosen.len();
    report.tensors = flip.len();
    Ok((flip, report))
}

/// Rewrite `model` (the bytes of a uint8-weight int8 .onnx file) with int8 weights into
/// `out`. Returns what was flipped; when nothing was (`tensors == 0`), nothing is written.
pub fn reencode(model: &[u8], out: &mut impl Write) -> Result<Reencoded, Int8Error> {
    let graph = model_graph(model)?;
    let (flip, report) = plan(graph)?;
    if flip.is_empty() {
        return Ok(report);
    }
    let mut parts: Vec<Cow<[u8]>> = Vec::new();
    for f in pb::fields(graph)? {
        match f.num {
            GRAPH_INITIALIZER => {
                let (name, init) = parse_init(f.bytes()?)?;
                if flip.contains(name) {
                    let body = signed_tensor(&init)?;
                    parts.push(Cow::Owned(pb::len_prefix(GRAPH_INITIALIZER, body.len())));
                    parts.push(Cow::Owned(body));
                    continue;
                }
            }
            GRAPH_INPUT | GRAPH_VALUE_INFO if flip.contains(value_info_name(f.bytes()?)?) => {
                let vi = retyped_value_info(f.bytes()?, INT8)?;
                parts.push(Cow::Owned(pb::len_prefix(f.num, vi.len())));
                parts.push(Cow::Owned(vi));
                continue;
            }
            _ => {}
        }
        parts.push(Cow::Borrowed(f.raw));
    }
    let w = |e: std::io::Error| bad(format!("writing the int8 graph: {e}"));
    let mut has_meta = false;
    for f in pb::fields(model)? {
        if f.num == MODEL_GRAPH {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            out.write_all(&pb::len_prefix(MODEL_GRAPH, len))
                .map_err(w)?;
            for p in &parts {
                out.write_all(p).map_err(w)?;
            }
            continue;
        }
        if f.num == MODEL_METADATA {
            has_meta |= pb::fields(f.bytes()?)?
                .iter()
                .any(|e| e.num == 1 && e.bytes().ok() == Some(METADATA_KEY.as_bytes()));
        }
        out.write_all(f.raw).map_err(w)?;
    }
    if !has_meta {
        let mut kv = Vec::new();
        pb::put_bytes(&mut kv, 1, METADATA_KEY.as_bytes());
        pb::put_bytes(
            &mut kv,
            2,
            format!(
                "int8 weights re-encoded by shihua from uint8 (q-128, zp-128) in {} tensors",
                report.tensors
            )
            .as_bytes(),
        );
        let mut meta = Vec::new();
        pb::put_bytes(&mut meta, MODEL_METADATA, &kv);
        out.write_all(&meta).map_err(w)?;
    }
    Ok(report)
}

/// Where the signed copy of `source` lives: `image.int8.onnx` → `image.int8.s8.onnx`.
pub fn signed_path(source: &Path) -> PathBuf {
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".onnx").unwrap_or(&name);
    source.with_file_name(format!("{stem}.s8.onnx"))
}

/// Bump when the re-encoding changes: older caches are then made again.
const FORMAT: u32 = 1;

fn stamp_path(signed: &Path) -> PathBuf {
    signed.with_extension("json")
}

/// The record beside a signed graph: which source it was made from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Stamp {
    /// [`FORMAT`] of the shihua that made it (a cache from another re-encoding is remade).
    #[serde(default)]
    format: u32,
    source_size: u64,
    source_mtime_ns: i128,
    source_sha256: String,
    /// Size of the signed graph (0: the source needed no change, use it as is).
    signed_size: u64,
    report: Reencoded,
}

/// The graph to load for signed int8 weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedGraph {
    /// The signed copy, or the source itself when it needed no change.
    pub path: PathBuf,
    pub report: Reencoded,
    /// Made (or its stamp refreshed) during this call rather than found in the cache.
    pub made_now: bool,
}

fn file_id(path: &Path) -> Result<(u64, i128), Int8Error> {
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    Ok((meta.len(), mtime))
}

fn read_stamp(signed: &Path) -> Option<Stamp> {
    serde_json::from_slice(&std::fs::read(stamp_path(signed)).ok()?).ok()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Int8Error> {
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let io = |e: std::io::Error| bad(format!("writing {}: {e}", path.display()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// The signed-weight graph for `source` (a uint8-weight int8 graph), from the cache when its
/// stamp matches the source's size and mtime (or, after a touch, its SHA-256), else made now
/// and cached. A source with no uint8 weights to flip is returned as it is.
pub fn ensure_signed(source: &Path) -> Result<SignedGraph, Int8Error> {
    let signed = signed_path(source);
    let (size, mtime) = file_id(source)?;
    let stamp = read_stamp(&signed).filter(|s| s.format == FORMAT);
    let cached_ok = |s: &Stamp| {
        if s.signed_size == 0 {
            true
        } else {
            file_id(&signed).is_ok_and(|(len, _)| len == s.signed_size)
        }
    };
    let result = |s: &Stamp, made_now: bool| SignedGraph {
        path: if s.signed_size == 0 {
            source.to_path_buf()
        } else {
            signed.clone()
        },
        report: s.report.clone(),
        made_now,
    };
    if let Some(s) = &stamp {
        if s.source_size == size && s.source_mtime_ns == mtime && cached_ok(s) {
            return Ok(result(s, false));
        }
    }
    let model = std::fs::read(source).map_err(|e| bad(format!("{}: {e}", source.display())))?;
    let sha = format!("{:x}", Sha256::digest(&model));
    if let Some(mut s) = stamp {
        if s.source_sha256 == sha && s.source_size == size && cached_ok(&s) {
            // Touched, not changed: keep the graph, refresh the stamp.
            s.source_mtime_ns = mtime;
            write_atomically(
                &stamp_path(&signed),
                &serde_json::to_vec_pretty(&s).unwrap(),
            )?;
            return Ok(result(&s, true));
        }
    }
    let mut out = Vec::with_capacity(if model.len() < (1 << 31) {
        model.len() + 4096
    } else {
        0
    });
    let report = reencode(&model, &mut out)?;
    drop(model);
    let signed_size = if report.tensors == 0 {
        let _ = std::fs::remove_file(&signed);
        0
    } else {
        write_atomically(&signed, &out)?;
        out.len() as u64
    };
    let s = Stamp {
        format: FORMAT,
        source_size: size,
        source_mtime_ns: mtime,
        source_sha256: sha,
        signed_size,
        report,
    };
    write_atomically(
        &stamp_path(&signed),
        &serde_json::to_vec_pretty(&s).unwrap(),
    )?;
    Ok(result(&s, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../models/fixture")
                .join(name),
        )
        .expect("models/fixture (models/scripts/make_fixture_int8.py)")
    }

    /// name -> (data_type, values as i64, in order)
    fn tensors(model: &[u8]) -> HashMap<String, (i32, Vec<i64>)> {
        let mut out = HashMap::new();
        for f in pb::fields(model_graph(model).unwrap()).unwrap() {
            if f.num != GRAPH_INITIALIZER {
                continue;
            }
            let (name, init) = parse_init(f.bytes().unwrap()).unwrap();
            let dt = init.data_type.unwrap();
            let mut vals = Vec::new();
            for tf in &init.fields {
                match tf.num {
                    TENSOR_RAW_DATA if dt == UINT8 => {
                        vals.extend(tf.bytes().unwrap().iter().map(|&b| i64::from(b)))
                    }
                    TENSOR_RAW_DATA if dt == INT8 => {
                        vals.extend(tf.bytes().unwrap().iter().map(|&b| i64::from(b as i8)))
                    }
                    TENSOR_INT32_DATA => int32_values(tf, &mut vals).unwrap(),
                    _ => {}
                }
            }
            out.insert(name.to_string(), (dt, vals));
        }
        out
    }

    fn weight_pairs(model: &[u8]) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for f in pb::fields(model_graph(model).unwrap()).unwrap() {
            if f.num != GRAPH_NODE {
                continue;
            }
            let mut op = "";
            let mut inputs = Vec::new();
            for nf in pb::fields(f.bytes().unwrap()).unwrap() {
                match nf.num {
                    NODE_OP_TYPE => op = nf.string().unwrap(),
                    NODE_INPUT => inputs.push(nf.string().unwrap().to_string()),
                    _ => {}
                }
            }
            if WEIGHT_OPS.contains(&op) && inputs.len() > B_ZERO_POINT {
                pairs.push((inputs[B].clone(), inputs[B_ZERO_POINT].clone()));
            }
        }
        pairs
    }

    #[test]
    fn every_weight_keeps_its_real_value() {
        for tower in ["image.int8.onnx", "text.int8.onnx"] {
            let model = fixture(tower);
            let mut out = Vec::new();
            let report = reencode(&model, &mut out).unwrap();
            let pairs = weight_pairs(&model);
            assert!(!pairs.is_empty(), "{tower} has no MatMulInteger weights");
            assert_eq!(report.nodes, pairs.len(), "{tower}: {report:?}");
            assert_eq!(report.kept, 0, "{tower}: {report:?}");
            let before = tensors(&model);
            let after = tensors(&out);
            assert_eq!(before.len(), after.len());
            let mut checked = 0;
            for (b, zp) in &pairs {
                let (bt, bq) = &before[b];
                let (zt, bz) = &before[zp];
                let (at, aq) = &after[b];
                let (azt, az) = &after[zp];
                assert_eq!((*bt, *zt, *at, *azt), (UINT8, UINT8, INT8, INT8), "{b}");
                assert_eq!(bq.len(), aq.len());
                // Per-tensor (one zero point) or per-channel (one per column).
                let zp_of = |z: &Vec<i64>, k: usize| z[if z.len() == 1 { 0 } else { k % z.len() }];
                for k in 0..bq.len() {
                    assert_eq!(
                        bq[k] - zp_of(bz, k),
                        aq[k] - zp_of(az, k),
                        "{tower} {b}[{k}]: q - zp changed"
                    );
                    assert!((-128..=127).contains(&aq[k]));
                }
                checked += bq.len();
            }
            assert!(checked > 1000, "{tower}: only {checked} weights checked");
            // Nothing else changed: the rest of the tensors are byte-identical.
            let flipped: HashSet<&String> = pairs.iter().flat_map(|(b, z)| [b, z]).collect();
            for (name, t) in &before {
                if !flipped.contains(name) {
                    assert_eq!(t, &after[name], "{name} changed");
                }
            }
            // Re-encoding the result finds nothing left to flip.
            let mut again = Vec::new();
            let second = reencode(&out, &mut again).unwrap();
            assert_eq!((second.tensors, second.kept), (0, report.nodes));
            assert!(again.is_empty());
            assert!(second.kept_why[0].contains("already int8"), "{second:?}");
        }
    }

    #[test]
    fn the_pattern_covers_all_256_values() {
        // Every uint8 q and zero point z: (q ^ 0x80) as i8 - (z ^ 0x80) as i8 == q - z.
        for q in 0..=255u8 {
            for z in [0u8, 1, 127, 128, 200, 255] {
                let before = i32::from(q) - i32::from(z);
                let after = i32::from((q ^ 0x80) as i8) - i32::from((z ^ 0x80) as i8);
                assert_eq!(before, after, "q={q} z={z}");
            }
        }
        // int32_data storage (non-raw) is re-encoded too.
        let mut t = Vec::new();
        pb::put_uint(&mut t, TENSOR_DATA_TYPE, UINT8 as u64);
        pb::put_bytes(&mut t, TENSOR_NAME, b"w");
        let mut packed = Vec::new();
        for v in [0u64, 128, 255] {
            pb::put_varint(&mut packed, v);
        }
        pb::put_bytes(&mut t, TENSOR_INT32_DATA, &packed);
        let (_, init) = parse_init(&t).unwrap();
        let signed = signed_tensor(&init).unwrap();
        let (_, init) = parse_init(&signed).unwrap();
        assert_eq!(init.data_type, Some(INT8));
        let mut vals = Vec::new();
        for f in &init.fields {
            if f.num == TENSOR_INT32_DATA {
                int32_values(f, &mut vals).unwrap();
            }
        }
        let vals: Vec<i32> = vals.into_iter().map(|v| v as i32).collect();
        assert_eq!(vals, [-128, 0, 127]);
    }

    #[test]
    fn a_weight_read_by_another_op_is_left_alone() {
        // MatMulInteger(a, w, , w_zp) and Identity(w): w must stay uint8, with its zero point.
        let node = |op: &str, inputs: &[&str], out: &str| {
            let mut n = Vec::new();
            for i in inputs {
                pb::put_bytes(&mut n, NODE_INPUT, i.as_bytes());
            }
            pb::put_bytes(&mut n, 2, out.as_bytes());
            pb::put_bytes(&mut n, NODE_OP_TYPE, op.as_bytes());
            n
        };
        let tensor = |name: &str| {
            let mut t = Vec::new();
            pb::put_uint(&mut t, 1, 1);
            pb::put_uint(&mut t, TENSOR_DATA_TYPE, UINT8 as u64);
            pb::put_bytes(&mut t, TENSOR_NAME, name.as_bytes());
            pb::put_bytes(&mut t, TENSOR_RAW_DATA, &[200]);
            t
        };
        let graph = |shared: bool| {
            let mut g = Vec::new();
            pb::put_bytes(
                &mut g,
                GRAPH_NODE,
                &node("MatMulInteger", &["a", "w", "", "w_zp"], "y"),
            );
            pb::put_bytes(
                &mut g,
                GRAPH_NODE,
                &node("MatMulInteger", &["a", "v", "", "v_zp"], "z"),
            );
            if shared {
                pb::put_bytes(&mut g, GRAPH_NODE, &node("Identity", &["w"], "w2"));
            }
            for t in ["w", "w_zp", "v", "v_zp"] {
                pb::put_bytes(&mut g, GRAPH_INITIALIZER, &tensor(t));
            }
            let mut m = Vec::new();
            pb::put_bytes(&mut m, MODEL_GRAPH, &g);
            m
        };
        let mut out = Vec::new();
        let all = reencode(&graph(false), &mut out).unwrap();
        assert_eq!((all.nodes, all.tensors, all.kept), (2, 4, 0));
        let mut out = Vec::new();
        let some = reencode(&graph(true), &mut out).unwrap();
        assert_eq!((some.nodes, some.tensors, some.kept), (1, 2, 1), "{some:?}");
        let t = tensors(&out);
        assert_eq!(t["w"], (UINT8, vec![200]));
        assert_eq!(t["w_zp"], (UINT8, vec![200]));
        assert_eq!(t["v"], (INT8, vec![72]));
        assert_eq!(t["v_zp"], (INT8, vec![72]));
    }

    #[test]
    fn the_cache_is_made_once_and_again_when_the_source_changes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("image.int8.onnx");
        std::fs::write(&src, fixture("image.int8.onnx")).unwrap();
        let first = ensure_signed(&src).unwrap();
        assert!(first.made_now);
        assert_eq!(first.path, dir.path().join("image.int8.s8.onnx"));
        assert!(dir.path().join("image.int8.s8.json").is_file());
        let second = ensure_signed(&src).unwrap();
        assert!(!second.made_now);
        assert_eq!(second.report, first.report);
        // A cache stamped by another re-encoding format: made again.
        let stamp = dir.path().join("image.int8.s8.json");
        let old = std::fs::read_to_string(&stamp)
            .unwrap()
            .replace("\"format\": 1", "\"format\": 0");
        std::fs::write(&stamp, old).unwrap();
        assert!(ensure_signed(&src).unwrap().made_now);
        assert!(!ensure_signed(&src).unwrap().made_now);
        // Another graph at the same path: made again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&src, fixture("text.int8.onnx")).unwrap();
        let third = ensure_signed(&src).unwrap();
        assert!(third.made_now);
        let mut want = Vec::new();
        reencode(&fixture("text.int8.onnx"), &mut want).unwrap();
        assert_eq!(std::fs::read(&third.path).unwrap(), want);
        // A graph that is already signed is used as it is.
        std::fs::write(&src, &want).unwrap();
        let same = ensure_signed(&src).unwrap();
        assert_eq!(same.path, src);
        assert_eq!(same.report.tensors, 0);
        assert!(!dir.path().join("image.int8.s8.onnx").exists());
    }
}
