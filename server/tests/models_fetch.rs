//! `shihua models fetch` against a local HTTP server that serves the combined fixture graph
//! (models/fixture/combined.onnx) in Hugging Face's layout (`/<repo>/resolve/<rev>/<file>`,
//! redirected to a "CDN" path like the real hub): fetch + split gives graphs that embed like
//! the split fixtures, a partial download resumes with a Range request, a truncated download
//! installs nothing and resumes on the next run, a wrong pinned sha256 installs nothing, the
//! int8 download goes beside the float graphs (where `--variant int8` loads it), and a model
//! with no ONNX source points to models/export.

mod common;
mod support_models;

use std::path::{Path, PathBuf};
use std::process::Command;

use server::clip::{ClipEncoder, Manifest, Variant};
use server::models::{self, FetchError, FetchOptions};
use sha2::{Digest, Sha256};

const REPO: &str = "test/tiny-chinese-clip";
const FILE: &str = "onnx/model.onnx";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn combined() -> Vec<u8> {
    std::fs::read(repo_root().join("models/fixture/combined.onnx"))
        .expect("models/fixture/combined.onnx (models/scripts/make_fixtures.py)")
}

// ---- the hub: tests/common/hub.rs ----

type Server = common::hub::Hub;

fn start_server() -> Server {
    common::hub::Hub::start(vec![(REPO, FILE, combined())])
}

// ---- a model folder with its own manifest ----

/// A model dir whose manifest has `tiny` (sourced from the server, several pins of the same
/// file), `big` (PyTorch only) and `bare` (no source). `base_url` goes into [download].
fn model_dir(base_url: &str) -> tempfile::TempDir {
    let bytes = combined();
    let sha = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len();
    let models = format!(
        r#"[[model]]
id = "tiny"
default = true
embed_dim = 512
image_size = 224
[model.source]
repo = "{REPO}"
revision = "main"
[model.source.variants]
fp32 = {{ file = "{FILE}", size = {size}, sha256 = "{sha}" }}
int8 = {{ file = "{FILE}", size = {size}, sha256 = "{sha}" }}
unpinned = {{ file = "{FILE}" }}
wrong = {{ file = "{FILE}", sha256 = "{zeros}" }}
gone = {{ file = "onnx/nope.onnx" }}

[[model]]
id = "big"
embed_dim = 768
image_size = 224
[model.source]
repo = "OFA-Sys/chinese-clip-vit-large-patch14"
onnx = false

[[model]]
id = "bare"
embed_dim = 1024
image_size = 224
"#,
        zeros = "0".repeat(64)
    );
    support_models::model_dir(base_url, &models)
}

/// The test hub and a model folder that downloads from it.
fn server_and_dir() -> (Server, tempfile::TempDir) {
    let server = start_server();
    let dir = model_dir(&server.url);
    (server, dir)
}

fn load(dir: &Path) -> Manifest {
    Manifest::load(&dir.join("manifest.toml")).unwrap()
}

fn opts(dir: &Path, variant: &str) -> FetchOptions {
    FetchOptions {
        variant: Some(variant.to_string()),
        // The test server, whatever SHIHUA_MODELS_BASE_URL / HF_ENDPOINT say in this shell.
        base_url: Some(load(dir).download.base_url),
        ..FetchOptions::new(dir)
    }
}

fn fetch(dir: &Path, variant: &str) -> Result<models::FetchReport, FetchError> {
    let m = load(dir);
    let spec = m.find("tiny").unwrap().clone();
    models::fetch_model(&m, &spec, &opts(dir, variant))
}

fn encoder(model_dir: &Path, id: &str) -> ClipEncoder {
    encoder_variant(model_dir, id, Variant::Fp32)
}

fn encoder_variant(model_dir: &Path, id: &str, variant: Variant) -> ClipEncoder {
    support_models::encoder_in(model_dir, id, variant, true)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The fetched graphs embed texts and pictures like the committed split fixtures.
fn assert_same_embeddings(fetched_dir: &Path) {
    assert_variant_embeds_like_the_fixture(fetched_dir, Variant::Fp32);
}

fn assert_variant_embeds_like_the_fixture(fetched_dir: &Path, variant: Variant) {
    let fetched = encoder_variant(fetched_dir, "tiny", variant);
    let fixture = encoder(&repo_root().join("models"), "fixture");
    let texts = ["枯藤老树昏鸦", "夕阳西下，断肠人在天涯", "Hello 世界", "月"];
    let a = fetched.embed_texts(&texts).unwrap().vectors;
    let b = fixture.embed_texts(&texts).unwrap().vectors;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let c = cosine(x, y);
        assert!(c >= 0.9999, "text {:?}: cosine {c}", texts[i]);
    }
    let s = 224usize;
    let pixels: Vec<f32> = (0..2 * 3 * s * s)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5)
        .collect();
    let a = fetched.embed_pixels(pixels.clone(), 2).unwrap();
    let b = fixture.embed_pixels(pixels, 2).unwrap();
    for (x, y) in a.iter().zip(&b) {
        let c = cosine(x, y);
        assert!(c >= 0.9999, "image: cosine {c}");
    }
}

fn assert_nothing_installed(dir: &Path) {
    support_models::assert_nothing_installed(&dir.join("tiny"), "model.onnx");
}

#[test]
fn fetch_splits_into_towers_that_embed_like_the_fixtures() {
    let (server, dir) = server_and_dir();
    let report = fetch(dir.path(), "fp32").unwrap();
    assert!(report.sha256_pinned && !report.already_installed);
    assert_eq!(report.size, combined().len() as u64);
    assert_eq!(
        report.url,
        format!("{}/{REPO}/resolve/main/{FILE}", server.url)
    );
    let tiny = dir.path().join("tiny");
    assert!(tiny.join("image.onnx").is_file() && tiny.join("text.onnx").is_file());
    // The combined download is removed once split; no temporaries are left.
    assert_eq!(
        files_in(&tiny),
        [".gitignore", "image.onnx", "source.json", "text.onnx"]
    );
    // Each graph has exactly one input: a text query never runs the vision tower.
    let image = std::fs::read(tiny.join("image.onnx")).unwrap();
    let text = std::fs::read(tiny.join("text.onnx")).unwrap();
    use server::models::onnx::split::interface;
    assert_eq!(
        interface(&image).unwrap(),
        (vec!["pixel_values".into()], vec!["image_embeds".into()])
    );
    assert_eq!(
        interface(&text).unwrap(),
        (vec!["input_ids".into()], vec!["text_embeds".into()])
    );
    assert_same_embeddings(dir.path());

    // A second run with the same source does nothing, without touching the network.
    let before = server.log().len();
    let again = fetch(dir.path(), "fp32").unwrap();
    assert!(again.already_installed);
    assert_eq!(server.log().len(), before);
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_int8_download_installs_beside_the_float_graphs() {
    let (server, dir) = server_and_dir();
    let tiny = dir.path().join("tiny");
    fetch(dir.path(), "fp32").unwrap();
    let float_image = std::fs::read(tiny.join("image.onnx")).unwrap();

    let report = fetch(dir.path(), "int8").unwrap();
    assert!(!report.already_installed);
    assert_eq!(report.image, tiny.join("image.int8.onnx"));
    assert_eq!(report.text, tiny.join("text.int8.onnx"));
    assert_eq!(
        files_in(&tiny),
        [
            ".gitignore",
            "image.int8.onnx",
            "image.onnx",
            "source.int8.json",
            "source.json",
            "text.int8.onnx",
            "text.onnx"
        ]
    );
    // The float graphs and their record are untouched; each variant is installed once.
    assert_eq!(std::fs::read(tiny.join("image.onnx")).unwrap(), float_image);
    let before = server.log().len();
    assert!(fetch(dir.path(), "fp32").unwrap().already_installed);
    assert!(fetch(dir.path(), "int8").unwrap().already_installed);
    assert_eq!(server.log().len(), before, "nothing downloaded again");
    // `--variant int8` loads what was fetched, and rows say which graphs made them.
    assert_variant_embeds_like_the_fixture(dir.path(), Variant::Int8);
    assert_eq!(models::installed_variant(&tiny, Variant::Int8), "int8");
    assert_eq!(models::installed_variant(&tiny, Variant::Fp32), "fp32");

    let listed = models::format_statuses(&load(dir.path()), dir.path());
    assert!(
        listed.contains(&format!("installed: fp32 {FILE} from {REPO}@main"))
            && listed.contains(&format!("int8: installed: int8 {FILE} from {REPO}@main")),
        "{listed}"
    );
}

#[test]
fn a_partial_download_is_resumed_with_a_range_request() {
    let (server, dir) = server_and_dir();
    let bytes = combined();
    let half = bytes.len() / 2;
    let part = dir.path().join("tiny/download/model.onnx.part");
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &bytes[..half]).unwrap();

    let report = fetch(dir.path(), "fp32").unwrap();
    assert_eq!(report.resumed_from, half as u64);
    let reqs = server.file_requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        reqs[0].range.as_deref(),
        Some(format!("bytes={half}-").as_str())
    );
    // The Range header survived the hub's redirect.
    assert!(server.log()[0].path.contains("/resolve/main/"));
    assert!(!part.exists());
    assert_same_embeddings(dir.path());
}

#[test]
fn a_truncated_download_installs_nothing_and_resumes_next_time() {
    let (server, dir) = server_and_dir();
    let cut = 600_000;
    server.state.lock().unwrap().truncate_next = Some(cut);

    let err = fetch(dir.path(), "fp32").unwrap_err();
    assert!(matches!(err, FetchError::Interrupted { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("run the same command again to resume"),
        "{msg}"
    );
    assert_nothing_installed(dir.path());
    let part = dir.path().join("tiny/download/model.onnx.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), cut as u64);

    let report = fetch(dir.path(), "fp32").unwrap();
    assert_eq!(report.resumed_from, cut as u64);
    let reqs = server.file_requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].range, None);
    assert_eq!(
        reqs[1].range.as_deref(),
        Some(format!("bytes={cut}-").as_str())
    );
    assert!(!part.exists());
    assert_same_embeddings(dir.path());
}

#[test]
fn a_server_without_ranges_or_a_stale_part_means_starting_over() {
    let server = start_server();
    server.state.lock().unwrap().ignore_range = true;
    let dir = model_dir(&server.url);
    let bytes = combined();
    let part = dir.path().join("tiny/download/model.onnx.part");
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &bytes[..1000]).unwrap();
    let report = fetch(dir.path(), "fp32").unwrap();
    assert_eq!(report.resumed_from, 0, "the server sent the whole file");
    assert_eq!(server.file_requests().len(), 1);
    assert!(!part.exists());

    // A .part longer than the pinned size cannot be a prefix: it is dropped, not resumed.
    let (server, dir) = server_and_dir();
    let part = dir.path().join("tiny/download/model.onnx.part");
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    let mut long = bytes.clone();
    long.extend_from_slice(b"junk");
    std::fs::write(&part, &long).unwrap();
    let report = fetch(dir.path(), "fp32").unwrap();
    assert_eq!(report.resumed_from, 0);
    let reqs = server.file_requests();
    assert_eq!((reqs.len(), reqs[0].range.clone()), (1, None));
    assert_same_embeddings(dir.path());
}

#[test]
fn a_part_of_an_older_version_is_not_resumed() {
    let (server, dir) = server_and_dir();
    server.state.lock().unwrap().truncate_next = Some(500_000);
    assert!(fetch(dir.path(), "unpinned").is_err());
    let etag = dir.path().join("tiny/download/model.onnx.part.etag");
    assert!(
        etag.is_file(),
        "the first response's ETag is kept for If-Range"
    );

    server.state.lock().unwrap().etag_salt = "-v2".into();
    let report = fetch(dir.path(), "unpinned").unwrap();
    assert_eq!(report.resumed_from, 0, "a changed file is downloaded whole");
    let reqs = server.file_requests();
    assert_eq!(reqs[1].range.as_deref(), Some("bytes=500000-"));
    assert!(!etag.exists());
    assert_same_embeddings(dir.path());
}

#[test]
fn a_wrong_checksum_installs_nothing() {
    let (_server, dir) = server_and_dir();
    let err = fetch(dir.path(), "wrong").unwrap_err();
    assert!(
        matches!(err, FetchError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    let actual = hex::encode(Sha256::digest(combined()));
    for want in [
        "sha256",
        actual.as_str(),
        "nothing was installed",
        "models/manifest.toml",
    ] {
        assert!(msg.contains(want), "{want:?} not in: {msg}");
    }
    assert_nothing_installed(dir.path());
    assert!(!dir.path().join("tiny/download/model.onnx.part").exists());
}

#[test]
fn an_unpinned_file_reports_its_sha256_and_a_missing_file_says_404() {
    let (_server, dir) = server_and_dir();
    let report = fetch(dir.path(), "unpinned").unwrap();
    assert!(!report.sha256_pinned);
    // Another variant in the float slot (as fp16 would be) is named for what it is.
    assert_eq!(
        models::installed_variant(&dir.path().join("tiny"), Variant::Fp32),
        "unpinned"
    );
    let sha = hex::encode(Sha256::digest(combined()));
    assert_eq!(report.sha256, sha);
    let shown = report.to_string();
    assert!(
        shown.contains(&format!("sha256 = \"{sha}\"")),
        "the pin to add is printed: {shown}"
    );

    let err = fetch(dir.path(), "gone").unwrap_err();
    assert!(
        matches!(err, FetchError::Http { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("models/manifest.toml"), "{err}");
}

#[test]
fn models_without_an_onnx_source_point_to_the_export() {
    let (server, dir) = server_and_dir();
    let m = load(dir.path());
    for id in ["big", "bare"] {
        let spec = m.find(id).unwrap();
        let err = models::fetch_model(&m, spec, &FetchOptions::new(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("models/export"), "{id}: {err}");
        assert!(!dir.path().join(id).exists());
    }
    let err = models::fetch_model(&m, m.find("big").unwrap(), &FetchOptions::new(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OFA-Sys/chinese-clip-vit-large-patch14") && err.contains("PyTorch"),
        "{err}"
    );
    assert!(
        server.log().is_empty(),
        "no request for a model with no ONNX"
    );
}

#[test]
fn an_export_already_in_place_is_not_overwritten_without_force() {
    let (server, dir) = server_and_dir();
    let tiny = dir.path().join("tiny");
    std::fs::create_dir_all(&tiny).unwrap();
    std::fs::write(tiny.join("image.onnx"), b"exported").unwrap();
    std::fs::write(tiny.join("text.onnx"), b"exported").unwrap();
    let err = fetch(dir.path(), "fp32").unwrap_err().to_string();
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(tiny.join("image.onnx")).unwrap(), b"exported");
    assert!(server.log().is_empty());

    let m = load(dir.path());
    let o = FetchOptions {
        force: true,
        ..opts(dir.path(), "fp32")
    };
    models::fetch_model(&m, m.find("tiny").unwrap(), &o).unwrap();
    assert_same_embeddings(dir.path());
}

fn shihua(dir: &Path, env_base: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shihua"));
    cmd.current_dir(repo_root())
        .env_remove("SHIHUA_MODEL")
        .env("SHIHUA_MODEL_DIR", dir)
        .env("SHIHUA_MODELS_BASE_URL", env_base)
        .env("RUST_LOG", "warn")
        .args(args);
    let (code, out, err) = support_models::run(&mut cmd, &[]);
    (code == 0, out, err)
}

#[test]
fn the_cli_fetches_from_the_env_base_url_and_lists_models() {
    let server = start_server();
    // The manifest's own base URL is unreachable: only SHIHUA_MODELS_BASE_URL can work.
    let dir = model_dir("http://127.0.0.1:9");
    let (ok, out, err) = shihua(dir.path(), &server.url, &["models", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("tiny") && out.contains("missing"), "{out}");
    assert!(
        out.contains("PyTorch only: export with models/export"),
        "{out}"
    );

    let (ok, out, err) = shihua(
        dir.path(),
        &server.url,
        &[
            "models",
            "fetch",
            "--model",
            "tiny",
            "--variant",
            "unpinned",
        ],
    );
    assert!(ok, "{err}");
    let sha = hex::encode(Sha256::digest(combined()));
    assert!(out.contains(&sha) && out.contains("not pinned"), "{out}");

    let (ok, out, err) = shihua(dir.path(), &server.url, &["models", "list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("installed: unpinned {FILE} from {REPO}@main")),
        "{out}"
    );

    let (ok, _, err) = shihua(
        dir.path(),
        &server.url,
        &["models", "fetch", "--model", "big"],
    );
    assert!(!ok);
    assert!(err.contains("models/export"), "{err}");
}
