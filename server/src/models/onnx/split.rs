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
//! copied byte for byte ([`super::pb`], [`super::graph`]). No Python and no onnx library are
//! needed at fetch time.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use super::graph::*;
use super::pb::{self, *};

/// A graph that cannot be split, and why.
pub type SplitError = OnnxError;

/// The two towers' interface names (Hugging Face CLIP export names).
pub const IMAGE_INPUT: &str = "pixel_values";
pub const IMAGE_OUTPUT: &str = "image_embeds";
pub const TEXT_INPUT: &str = "input_ids";
pub const TEXT_OUTPUT: &str = "text_embeds";
const ATTENTION_MASK: &str = "attention_mask";
const TOKEN_TYPE_IDS: &str = "token_type_ids";
const PAD_ID: i64 = 0;

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
    let graph = pb::model_graph(model)?;
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
    let graph_buf = pb::model_graph(model)?;
    let g = parse_graph(graph_buf)?;
    let new_graph = build_tower_graph(&g, tower)?;

    let mut meta = Vec::new();
    pb::put_bytes(&mut meta, 1, b"shihua.split");
    pb::put_bytes(
        &mut meta,
        2,
        format!("{} tower of {origin}", tower.label()).as_bytes(),
    );
    let has_meta = model_fields
        .iter()
        .any(|f| pb::is_metadata_entry(f, "shihua.split").unwrap_or(false));

    let w = |e: std::io::Error| bad(format!("writing the {} graph: {e}", tower.label()));
    for f in &model_fields {
        if f.num == MODEL_GRAPH {
            pb::write_graph(out, &new_graph).map_err(w)?;
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
        new_input = Cow::Owned(pb::retype_value_info(in_vi.raw, tower.input_type())?);
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
        new_output = Cow::Owned(pb::retype_value_info(out_vi.raw, FLOAT)?);
    }

    // External weights would have to travel with the new files: refuse them clearly.
    for (name, raw) in g.initializers.iter() {
        if needed.contains(name) {
            let body = pb::fields(raw)?.first().map(|f| f.bytes()).transpose()?;
            if body.map(pb::tensor_is_external).transpose()? == Some(true) {
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
mod tests;
