//! Helpers shared by the integration tests: where the repository is, the fixture encoder,
//! demo photos, a router over a real store, the `shihua` binary, and vector comparisons.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use server::clip::{self, ClipEncoder, EncoderOptions, Manifest};
use server::http::{media::ThumbCache, router, AppState};
use server::service::Shihua;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A loaded model from models/manifest.toml (ONNX Runtime from the project's .venv).
pub fn encoder(model: &str, threads: usize, warm_up: bool) -> Arc<ClipEncoder> {
    let models = repo().join("models");
    let manifest = Manifest::load(&models.join("manifest.toml")).unwrap();
    let spec = manifest.find(model).unwrap().clone();
    let files = manifest.files(&spec, &models).unwrap();
    clip::runtime::init(None).expect("ONNX Runtime from .venv (run scripts/setup.sh)");
    let opts = EncoderOptions {
        intra_threads: threads,
        device: clip::Device::Cpu,
        warm_up,
    };
    Arc::new(ClipEncoder::load(&manifest, &spec, &files, &opts).unwrap())
}

/// The random-weight fixture model.
pub fn fixture_encoder() -> Arc<ClipEncoder> {
    encoder("fixture", 1, false)
}

/// The bundled demo photos, sorted by name.
pub fn demo_photos() -> Vec<PathBuf> {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(repo().join("demo/photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    photos.sort();
    photos
}

/// Copies the first `n` demo photos into `dir` (created), returning the copies.
pub fn copy_demo(dir: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    demo_photos()
        .iter()
        .take(n)
        .map(|p| {
            let dst = dir.join(p.file_name().unwrap());
            std::fs::copy(p, &dst).unwrap();
            dst
        })
        .collect()
}

/// The whole HTTP router over `shihua`, with a thumbnail cache under `tmp`.
pub fn test_router(shihua: Arc<Shihua>, tmp: &Path) -> axum::Router {
    router(AppState {
        leptos_options: leptos::prelude::LeptosOptions::builder()
            .output_name("shihua")
            .build(),
        shihua,
        thumbs: Arc::new(ThumbCache::new(tmp.join("thumbs")).unwrap()),
    })
}

/// The `shihua` binary on the fixture model against the Milvus at `uri`.
pub fn shihua_cmd(uri: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shihua"));
    cmd.current_dir(repo())
        .env("MILVUS_URI", uri)
        .env("SHIHUA_MODEL", "fixture")
        .env("RUST_LOG", "warn")
        .args(args);
    cmd
}

/// Runs `shihua` to completion: (success, stdout, stderr).
pub fn shihua(uri: &str, args: &[&str]) -> (bool, String, String) {
    let out = shihua_cmd(uri, args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y.powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
