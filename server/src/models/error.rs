//! What can go wrong while installing a model ([`FetchError`]), phrased so the user knows
//! what to do next, and the one-clause summary `make run` prints before it falls back to the
//! fixture model.

use std::path::{Path, PathBuf};

/// What went wrong, phrased so the user knows what to do next.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{id} is the committed random-weight fixture (models/fixture/); there is nothing to \
         fetch. Real weights: `shihua models fetch --model ViT-B-16`"
    )]
    Fixture { id: String },
    #[error(
        "no download source is known for {id} (no [model.source] in models/manifest.toml). \
         Export it from the official cn_clip checkpoint with models/export: \
         `python models/export/export.py --model {id} --checkpoint <cn_clip .pt> --out {dir}` \
         writes {dir}/image.onnx and {dir}/text.onnx (or copy an existing export there)"
    )]
    NoSource { id: String, dir: PathBuf },
    #[error(
        "{id} is published only as PyTorch weights ({repo} has no ONNX export), so there is \
         nothing to download and split. Export it with models/export (cn_clip + torch): \
         `python models/export/export.py --model {id} --checkpoint <cn_clip .pt> --out {dir}` \
         writes {dir}/image.onnx and {dir}/text.onnx; `shihua models list` then shows it \
         installed"
    )]
    ExportRequired {
        id: String,
        repo: String,
        dir: PathBuf,
    },
    #[error("{id} has no variant {variant:?} in models/manifest.toml; available: {known}")]
    UnknownVariant {
        id: String,
        variant: String,
        known: String,
    },
    #[error(
        "{dir} already holds {files} that `shihua models fetch` did not write (an export?). \
         Run again with --force to replace them with {what}"
    )]
    WouldOverwrite {
        dir: PathBuf,
        files: String,
        what: String,
    },
    #[error(
        "could not download {url}: {reason}. Check the network connection (HTTPS_PROXY is \
         honoured) or point SHIHUA_MODELS_BASE_URL at a mirror; run the command again to \
         resume"
    )]
    Network { url: String, reason: String },
    #[error("{url} answered HTTP {status}. {hint}")]
    Http {
        url: String,
        status: u16,
        hint: String,
    },
    #[error(
        "the download of {url} stopped after {got} of {expected} bytes ({reason}). The partial \
         file {part} is kept: run the same command again to resume it"
    )]
    Interrupted {
        url: String,
        got: u64,
        expected: String,
        reason: String,
        part: PathBuf,
    },
    #[error(
        "{url}: {got} bytes, but {expected} were expected ({why}). The download was deleted \
         and nothing was installed. If the file changed upstream on purpose, update `size` in \
         models/manifest.toml; otherwise run the command again"
    )]
    SizeMismatch {
        url: String,
        got: u64,
        expected: u64,
        why: String,
    },
    #[error(
        "{url}: its sha256 is {got}, but models/manifest.toml pins {expected}. The download \
         was deleted and nothing was installed. Run the command again; if it keeps happening \
         the file changed upstream (or a proxy serves another file): check it, then update \
         the pin"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        got: String,
    },
    #[error(
        "{id} has no ModelScope source in models/manifest.toml (`modelscope = \"AI-ModelScope/…\"` \
         under [model.source]); fetch it from the hub or a hub mirror (HF_ENDPOINT) instead"
    )]
    NoModelScope { id: String },
    #[error(
        "converting {checkpoint} into ONNX graphs failed: {reason}. The checkpoint is kept: \
         run the same command again after fixing this (docs/models.md), or export it with \
         torch: models/export/export.py --model {id} --checkpoint {checkpoint} --out {dir}"
    )]
    Convert {
        id: String,
        checkpoint: PathBuf,
        dir: PathBuf,
        reason: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot split {path} into an image graph and a text graph: {reason}. shihua expects \
         the Hugging Face Chinese-CLIP export (one graph; inputs input_ids, attention_mask, \
         pixel_values; outputs text_embeds, image_embeds). Use models/export to make the two \
         graphs instead"
    )]
    Split { path: PathBuf, reason: String },
}

impl FetchError {
    /// What failed, in one clause (for the paragraph `make run` prints before falling back to
    /// the fixture model).
    pub fn what_failed(&self) -> String {
        match self {
            FetchError::Network { url, reason } => format!("{url} could not be reached ({reason})"),
            FetchError::Http { url, status, .. } => format!("{url} answered HTTP {status}"),
            FetchError::Interrupted { url, got, .. } => format!(
                "the download of {url} stopped after {got} bytes (kept: the next run resumes it)"
            ),
            FetchError::SizeMismatch {
                url, got, expected, ..
            } => format!(
                "the download of {url} had {got} bytes instead of the pinned {expected} (deleted; \
                 nothing was installed)"
            ),
            FetchError::ChecksumMismatch { url, .. } => format!(
                "the download of {url} did not match the sha256 pinned in models/manifest.toml \
                 (deleted; nothing was installed)"
            ),
            other => other.to_string(),
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}
