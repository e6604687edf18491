//! Installing models, offline from the running server: `shihua models fetch` and `shihua
//! models list`, and `--fetch-missing`. Inference lives in [`crate::clip`]; this module only
//! puts the graphs it loads into the model folder, and says what is there.
//!
//! A model's `[model.source]` in `models/manifest.toml` names a hub repository, a revision and,
//! per variant (`fp32`, `fp16`, `int8`), one ONNX file holding both towers. Fetching it:
//!
//! 1. downloads `<base_url>/<repo>/resolve/<revision>/<file>` over HTTPS (ureq + rustls; the
//!    base URL is Hugging Face unless `SHIHUA_MODELS_BASE_URL` or `--base-url` says otherwise)
//!    into `<model-dir>/<id>/download/<name>.part`, with a progress bar. A `.part` left by an
//!    interrupted run is resumed with an HTTP `Range` request (guarded by `If-Range` with the
//!    first response's strong ETag, so a file that changed upstream restarts from zero)
//!    ([`download`]);
//! 2. checks the size (the pinned one, else the one the server announced) and, when the
//!    manifest pins it, the SHA-256; a file that fails is deleted and nothing is installed.
//!    The SHA-256 it computed is reported so an unpinned file can be pinned;
//! 3. renames the `.part` into place (atomic, same folder);
//! 4. splits the combined graph ([`onnx::split`]) into `image.onnx` (`pixel_values` →
//!    `image_embeds`) and `text.onnx` (`input_ids` → `text_embeds`, attention mask computed
//!    inside), written to temporary names and renamed into place, so a text query never runs
//!    the vision tower. The `int8` download goes beside them instead, as `image.int8.onnx`
//!    and `text.int8.onnx` (what `--variant int8` loads), so both variants can be installed
//!    ([`install`]);
//! 5. records what it installed in `<model-dir>/<id>/source.json` (`source.int8.json`; a
//!    re-run with the same source does nothing) and removes the download unless asked to
//!    keep it ([`status`] reads those records back).
//!
//! Only the ONNX file is downloaded: `models/tokenizer.json` (built from cn_clip's vocab) stays
//! the tokenizer.
//!
//! Models published only as cn_clip PyTorch checkpoints (`onnx = false` with a `checkpoint`)
//! are downloaded the same way (resumable, verified; from the hub or, with `--source
//! modelscope`, from ModelScope) and converted into the two graphs by [`convert`]
//! (models/convert/pt_to_onnx.py: numpy + onnx, no torch). Models with no source are refused
//! with a message that points to `models/export`.
//!
//! The base URL is `--base-url`, else `SHIHUA_MODELS_BASE_URL`, else `HF_ENDPOINT` (the hub
//! client's mirror variable), else the manifest's `[download] base_url` ([`source`]).
//! [`install::ensure_model`] is what `shihua index/serve --fetch-missing` (and so `make run`)
//! calls: fetch only when the chosen model's graphs are missing.

pub mod convert;
pub mod download;
pub mod error;
pub mod install;
pub mod onnx;
pub mod source;
pub mod status;

pub use download::{download, part_path, Downloaded, Pin};
pub use error::FetchError;
pub use install::{ensure_model, fetch_model, FetchOptions, FetchReport};
pub use source::{
    file_url, modelscope_endpoint, modelscope_from_env, modelscope_url, resolve_source, SOURCE_ENV,
};
pub use status::{format_statuses, installed_variant, model_statuses, ModelStatus, SlotStatus};

/// The project's own model folder and its manifest (for the tests).
#[cfg(test)]
pub(crate) fn project_models() -> (crate::clip::Manifest, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    (
        crate::clip::Manifest::load(&dir.join("manifest.toml")).unwrap(),
        dir,
    )
}
