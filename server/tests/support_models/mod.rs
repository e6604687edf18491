//! What the model-installation tests share (models_fetch.rs, models_hub.rs; their local hub
//! is tests/common/hub.rs): a model folder with a manifest of the test's own models and the
//! project's tokenizer, an encoder on one of its models, running a command, and the check
//! that a failed install left nothing installed.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

use server::clip::{self, ClipEncoder, Device, EncoderOptions, Manifest, Variant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A model folder whose `manifest.toml` has cn_clip's preprocessing, the tokenizer,
/// `[download] base_url = base_url` and then `models` (its `[[model]]` tables), with the
/// project's `tokenizer.json` beside it.
pub fn model_dir(base_url: &str, models: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        r#"
[preprocess]
mean = [0.48145466, 0.4578275, 0.40821073]
std = [0.26862954, 0.26130258, 0.27577711]

[tokenizer]
file = "tokenizer.json"
context_length = 52

[download]
base_url = "{base_url}"

{models}"#
    );
    std::fs::write(dir.path().join("manifest.toml"), manifest).unwrap();
    std::fs::copy(
        repo().join("models/tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    dir
}

/// A failed install left no graphs, no record and no `download/<download>` in `model` (one
/// model's folder).
pub fn assert_nothing_installed(model: &Path, download: &str) {
    let download = format!("download/{download}");
    for f in ["image.onnx", "text.onnx", "source.json", download.as_str()] {
        assert!(!model.join(f).exists(), "{f} must not be installed");
    }
}

/// Model `id` of the model folder `model_dir` in `variant`, on one CPU thread.
pub fn encoder_in(model_dir: &Path, id: &str, variant: Variant, warm_up: bool) -> ClipEncoder {
    clip::runtime::init(None).expect("ONNX Runtime from .venv (run scripts/setup.sh)");
    let m = Manifest::load(&model_dir.join("manifest.toml")).unwrap();
    let spec = m.find(id).unwrap();
    let files = m.files_variant(spec, model_dir, variant).unwrap();
    let opts = EncoderOptions {
        intra_threads: 1,
        device: Device::Cpu,
        warm_up,
    };
    ClipEncoder::load(&m, spec, &files, &opts).unwrap()
}

/// Runs `cmd` with `env` added, to completion: (exit status or -1, stdout, stderr).
pub fn run(cmd: &mut Command, env: &[(&str, &str)]) -> (i32, String, String) {
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
