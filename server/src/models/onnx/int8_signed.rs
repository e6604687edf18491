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
//! made again when the source changes. Like the tower split ([`super::split`]), this works on the protobuf wire
//! format: only the flipped tensors are rewritten, everything else is copied byte for byte.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::pb::{self, *};

/// Why a graph could not be re-encoded (the caller keeps the uint8 graph and says why).
pub type Int8Error = OnnxError;

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
                let v =
                    pb::read_varint(b, &mut pos).map_err(|e| bad(format!("int32_data: {e}")))?;
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

/// Which initializers to flip, and the report (nothing written).
fn plan(graph: &[u8]) -> Result<(HashSet<String>, Reencoded), Int8Error> {
    let mut nodes: Vec<NodeInfo> = Vec::new();
    let mut inits: HashMap<&str, Init> = HashMap::new();
    // Names read by something that is not a top-level node input (kept as they are).
    let mut other_reads: Vec<&str> = Vec::new();
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
                        NODE_ATTRIBUTE => pb::attribute_reads(nf.bytes()?, &mut other_reads)?,
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
                other_reads.push(pb::value_info_name(f.bytes()?)?);
            }
            _ => {}
        }
    }
    let other_reads: HashSet<&str> = other_reads.into_iter().collect();
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
    let graph = pb::model_graph(model)?;
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
            GRAPH_INPUT | GRAPH_VALUE_INFO if flip.contains(pb::value_info_name(f.bytes()?)?) => {
                let vi = pb::retype_value_info(f.bytes()?, INT8)?;
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
            pb::write_graph(out, &parts).map_err(w)?;
            continue;
        }
        has_meta |= pb::is_metadata_entry(&f, METADATA_KEY)?;
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
mod tests;
