//! What is installed: the record a fetch leaves beside the graphs (`source.json`,
//! `source.int8.json`), the variant the installed graphs are (what the running server asks),
//! and `shihua models list`.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{io_err, FetchError};
use crate::clip::manifest::{Manifest, Variant};

/// Where a download came from (`source.json`; `source.int8.json` for the int8 slot).
pub(crate) fn stamp_path(dir: &Path, slot: Variant) -> PathBuf {
    dir.join(match slot {
        Variant::Fp32 => "source.json",
        Variant::Int8 => "source.int8.json",
    })
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
pub(crate) struct Stamp {
    pub(crate) repo: String,
    pub(crate) revision: String,
    pub(crate) variant: String,
    pub(crate) file: String,
    pub(crate) url: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) sha256_pinned: bool,
}

/// What the graphs in `slot` of the model folder `dir` are: the variant a download stamped
/// (`shihua models fetch --variant fp16` installs fp16 graphs in the float slot), else the
/// slot's own name (an export, or a copy).
pub fn installed_variant(dir: &Path, slot: Variant) -> String {
    read_stamp(dir, slot).map_or_else(|| slot.to_string(), |s| s.variant)
}

pub(crate) fn read_stamp(dir: &Path, slot: Variant) -> Option<Stamp> {
    let text = fs::read_to_string(stamp_path(dir, slot)).ok()?;
    serde_json::from_str(&text).ok()
}

pub(crate) fn write_stamp(stamp_file: &Path, stamp: &Stamp) -> Result<(), FetchError> {
    let stamp_tmp = stamp_file.with_extension("json.tmp");
    let json = serde_json::to_string_pretty(stamp).expect("stamp serialises");
    fs::write(&stamp_tmp, json + "\n").map_err(io_err(&stamp_tmp))?;
    fs::rename(&stamp_tmp, stamp_file).map_err(io_err(stamp_file))
}

/// One line of `shihua models list`.
#[derive(Clone, Debug)]
pub struct ModelStatus {
    pub id: String,
    pub default: bool,
    pub embed_dim: usize,
    /// `image.onnx` and `text.onnx`.
    pub fp32: SlotStatus,
    /// `image.int8.onnx` and `text.int8.onnx`.
    pub int8: SlotStatus,
    /// Where the weights can come from.
    pub source: String,
}

/// One slot of a model folder: are both graphs there, and where did they come from
/// (`source.json`, e.g. `fp32 onnx/model.onnx from Xenova/…@…`).
#[derive(Clone, Debug)]
pub struct SlotStatus {
    pub installed: bool,
    pub from: Option<String>,
}

impl SlotStatus {
    fn of(dir: &Path, slot: Variant) -> Self {
        Self {
            installed: dir.join(slot.file_name("image")).is_file()
                && dir.join(slot.file_name("text")).is_file(),
            from: read_stamp(dir, slot)
                .map(|s| format!("{} {} from {}@{}", s.variant, s.file, s.repo, s.revision)),
        }
    }

    /// `installed: …`, `installed` or `missing`.
    fn describe(&self) -> String {
        match (self.installed, &self.from) {
            (true, Some(from)) => format!("installed: {from}"),
            (true, None) => "installed".to_string(),
            (false, _) => "missing".to_string(),
        }
    }
}

/// Every manifest model, whether its files are in `model_dir`, and where they come from.
pub fn model_statuses(manifest: &Manifest, model_dir: &Path) -> Vec<ModelStatus> {
    manifest
        .models
        .iter()
        .map(|m| {
            let dir = model_dir.join(&m.id);
            let source = match (&m.source, m.fixture) {
                (_, true) => "committed random-weight fixture (models/fixture)".to_string(),
                (Some(s), _) if s.onnx => format!(
                    "{}@{} ONNX ({}): shihua models fetch --model {}",
                    s.repo,
                    s.revision,
                    s.variants.keys().cloned().collect::<Vec<_>>().join("/"),
                    m.id
                ),
                (Some(s), _) => match &s.checkpoint {
                    Some(c) => format!(
                        "{}@{} {} (cn_clip checkpoint, converted with torch): shihua models \
                         fetch --model {}",
                        s.repo, s.revision, c.file, m.id
                    ),
                    None => format!(
                        "{}@{} PyTorch only: export with models/export",
                        s.repo, s.revision
                    ),
                },
                (None, _) => "no download source: export with models/export".to_string(),
            };
            ModelStatus {
                id: m.id.clone(),
                default: m.default,
                embed_dim: m.embed_dim,
                fp32: SlotStatus::of(&dir, Variant::Fp32),
                int8: SlotStatus::of(&dir, Variant::Int8),
                source,
            }
        })
        .collect()
}

/// `shihua models list` as text.
pub fn format_statuses(manifest: &Manifest, model_dir: &Path) -> String {
    let mut out = String::new();
    let tokenizer = model_dir.join(&manifest.tokenizer.file);
    for s in model_statuses(manifest, model_dir) {
        let default = if s.default { " [default]" } else { "" };
        out.push_str(&format!(
            "{:<13} {:>4}d  {}{default}\n",
            s.id,
            s.embed_dim,
            s.fp32.describe()
        ));
        if s.int8.installed {
            out.push_str(&format!("              int8: {}\n", s.int8.describe()));
        }
        out.push_str(&format!("              source: {}\n", s.source));
    }
    out.push_str(&format!(
        "tokenizer: {} ({})\nmodel dir: {}\n",
        tokenizer.display(),
        if tokenizer.is_file() {
            "present"
        } else {
            "missing"
        },
        model_dir.display()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_shows_sources_and_presence() {
        let (m, dir) = crate::models::project_models();
        let text = format_statuses(&m, &dir);
        assert!(
            text.contains(
                "Xenova/chinese-clip-vit-base-patch16@f26904860903e70e050b8f48255e5f48401816e9"
            ),
            "{text}"
        );
        assert!(
            text.contains("clip_cn_vit-h-14.pt (cn_clip checkpoint"),
            "{text}"
        );
        let fixture = model_statuses(&m, &dir)
            .into_iter()
            .find(|s| s.id == "fixture")
            .unwrap();
        assert!(fixture.fp32.installed);
    }
}
