//! The first run with "real" weights, end to end and offline: a transformers-shaped Chinese-CLIP
//! made by the project (models/fixture/hf-tiny: `ChineseCLIPModel` with random weights, exported
//! as ONE graph the way transformers.js ships `onnx/model.onnx`, plus its `quantize_dynamic`
//! copy; models/scripts/make_hf_tiny.py) is served by a local stand-in for the hub
//! (tests/common/hub.rs) at a pinned revision, and
//!
//! * `shihua models fetch` (base URL from `HF_ENDPOINT`) + `shihua embed` equal transformers'
//!   `get_text_features` / `get_image_features` (fed cn_clip's ids and cn_clip's preprocessing;
//!   models/testdata/hf_tiny_refs.json) at cosine >= 0.9999 for 110 texts and 24 photos, and
//!   the int8 download at >= 0.99;
//! * `--fetch-missing` installs a missing model, and when it cannot (nothing listening, HTTP
//!   404, a checksum mismatch) prints one paragraph and exits 3 with nothing installed;
//! * scripts/run.sh (what `make run` runs) decides: model present -> real; missing + hub
//!   reachable -> fetch, then real; missing + unreachable or checksum mismatch -> fixture, in
//!   the fixture's own data folder, with the paragraph.

mod common;
mod support_models;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::hub::Hub;
use common::{cosine, floats, repo};
use server::clip::preprocess::{preprocess_bytes, DEFAULT_MAX_PIXELS};
use server::clip::{ClipEncoder, Variant};

const REPO: &str = "test-org/chinese-clip-hf-tiny";
const REV: &str = "0123456789abcdef0123456789abcdef01234567";
const ID: &str = "hf-tiny";

fn tiny_file(name: &str) -> Vec<u8> {
    let p = repo().join("models/fixture/hf-tiny/onnx").join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (made by models/scripts/make_hf_tiny.py)",
            p.display()
        )
    })
}

fn refs() -> serde_json::Value {
    let p = repo().join("models/testdata/hf_tiny_refs.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The hub with both files of the test model.
fn hub() -> Hub {
    Hub::start(vec![
        (REPO, "onnx/model.onnx", tiny_file("model.onnx")),
        (
            REPO,
            "onnx/model_quantized.onnx",
            tiny_file("model_quantized.onnx"),
        ),
    ])
}

/// A model dir: tokenizer, the fixture model (for run.sh's fallback) and a manifest whose
/// default model is the test model, pinned like the real ViT-B-16 entry (revision, size,
/// sha256), with an unreachable `[download] base_url` unless the environment says otherwise.
fn model_dir() -> tempfile::TempDir {
    let r = refs();
    let pin = |k: &str| {
        format!(
            "size = {}, sha256 = \"{}\"",
            r["files"][k]["bytes"],
            r["files"][k]["sha256"].as_str().unwrap()
        )
    };
    let models = format!(
        r#"[[model]]
id = "{ID}"
default = true
embed_dim = 512
image_size = 224
[model.source]
repo = "{REPO}"
revision = "{REV}"
default_variant = "fp32"
[model.source.variants]
fp32 = {{ file = "onnx/model.onnx", {fp32} }}
int8 = {{ file = "onnx/model_quantized.onnx", {int8} }}

[[model]]
id = "fixture"
fixture = true
embed_dim = 512
image_size = 224
"#,
        fp32 = pin("fp32"),
        int8 = pin("int8"),
    );
    let dir = support_models::model_dir("http://127.0.0.1:9", &models);
    std::fs::create_dir_all(dir.path().join("fixture")).unwrap();
    for f in ["image.onnx", "text.onnx"] {
        std::fs::copy(
            repo().join("models/fixture").join(f),
            dir.path().join("fixture").join(f),
        )
        .unwrap();
    }
    dir
}

/// `shihua` with the model dir and a clean download environment; `env` adds to it.
fn shihua(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shihua"));
    cmd.current_dir(repo())
        .env_remove("SHIHUA_MODEL")
        .env_remove("SHIHUA_MODELS_BASE_URL")
        .env_remove("HF_ENDPOINT")
        .env_remove("SHIHUA_FETCH_MISSING")
        .env("SHIHUA_MODEL_DIR", dir)
        .env("RUST_LOG", "warn")
        .args(args);
    support_models::run(&mut cmd, env)
}

fn encoder(dir: &Path, variant: Variant) -> ClipEncoder {
    support_models::encoder_in(dir, ID, variant, false)
}

fn photo_path(name: &str) -> PathBuf {
    repo().join("models/testdata/preprocess").join(name)
}

/// Min cosine of the encoder's embeddings to the transformers references (texts, photos).
fn min_cosines(enc: &ClipEncoder) -> (f64, f64) {
    let r = refs();
    let texts = r["texts"].as_array().unwrap();
    assert!(texts.len() >= 100, "{} texts", texts.len());
    let strs: Vec<&str> = texts.iter().map(|t| t["text"].as_str().unwrap()).collect();
    // shihua's tokenizer gives cn_clip's ids (the references were fed cn_clip's ids).
    let ids = enc.tokenizer().encode_padded(&strs).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let want: Vec<i64> = t["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(ids.ids[i * 52..(i + 1) * 52], want[..], "{}", strs[i]);
    }
    min_cosines_to(enc, &r)
}

/// Min cosine of the encoder's embeddings to the references `r` (its `texts` and `photos`,
/// each with its `embedding`).
fn min_cosines_to(enc: &ClipEncoder, r: &serde_json::Value) -> (f64, f64) {
    let texts = r["texts"].as_array().unwrap();
    assert!(texts.len() >= 100, "{} texts", texts.len());
    let strs: Vec<&str> = texts.iter().map(|t| t["text"].as_str().unwrap()).collect();
    let mut text_min = f64::MAX;
    for (chunk, refs) in strs.chunks(16).zip(texts.chunks(16)) {
        let got = enc.embed_texts(chunk).unwrap().vectors;
        for (g, t) in got.iter().zip(refs) {
            text_min = text_min.min(cosine(g, &floats(&t["embedding"])));
        }
    }
    let photos = r["photos"].as_array().unwrap();
    assert!(photos.len() >= 20, "{} photos", photos.len());
    let mut image_min = f64::MAX;
    for p in photos {
        // cn_clip's preprocessing of the photo, already 224x224: shihua's resize is the
        // identity on it, then the same normalisation.
        let bytes = std::fs::read(photo_path(p["file"].as_str().unwrap())).unwrap();
        let (px, _) = preprocess_bytes(&bytes, enc.preprocess_spec(), DEFAULT_MAX_PIXELS).unwrap();
        let got = enc.embed_pixels(px, 1).unwrap();
        image_min = image_min.min(cosine(&got[0], &floats(&p["embedding"])));
    }
    (text_min, image_min)
}

#[test]
fn fetched_transformers_export_embeds_like_transformers() {
    let hub = hub();
    let dir = model_dir();
    let d = dir.path();
    // HF_ENDPOINT (the hub client's mirror variable) is where the files are.
    let env = [("HF_ENDPOINT", hub.url.as_str())];
    let (code, out, err) = shihua(d, &env, &["models", "fetch"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("matches the pin"), "{out}");
    assert!(
        hub.log()[0]
            .path
            .starts_with(&format!("/{REPO}/resolve/{REV}/onnx/model.onnx")),
        "the pinned revision is asked for: {:?}",
        hub.log()
    );
    let (code, _, err) = shihua(d, &env, &["models", "fetch", "--variant", "int8"]);
    assert_eq!(code, 0, "{err}");

    let (t, i) = min_cosines(&encoder(d, Variant::Fp32));
    eprintln!("fp32 vs transformers: min cosine text {t:.6}, image {i:.6}");
    assert!(t >= 0.9999 && i >= 0.9999, "fp32: text {t}, image {i}");
    let (t8, i8) = min_cosines(&encoder(d, Variant::Int8));
    eprintln!("int8 vs transformers: min cosine text {t8:.6}, image {i8:.6}");
    assert!(t8 >= 0.99 && i8 >= 0.99, "int8: text {t8}, image {i8}");

    // The command itself: `shihua embed` prints the same vectors.
    let r = refs();
    for (k, t) in r["texts"].as_array().unwrap().iter().take(3).enumerate() {
        let text = t["text"].as_str().unwrap();
        let (code, out, err) = shihua(d, &[], &["--variant", "fp32", "embed", "--text", text]);
        assert_eq!(code, 0, "{err}");
        let v: Vec<f32> = serde_json::from_str(out.trim()).unwrap();
        let c = cosine(&v, &floats(&t["embedding"]));
        assert!(c >= 0.9999, "shihua embed text {k}: {c}");
    }
    let p = &r["photos"][0];
    let path = photo_path(p["file"].as_str().unwrap());
    let (code, out, err) = shihua(
        d,
        &[],
        &[
            "--variant",
            "fp32",
            "embed",
            "--image",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Vec<f32> = serde_json::from_str(out.trim()).unwrap();
    let c = cosine(&v, &floats(&p["embedding"]));
    assert!(c >= 0.9999, "shihua embed image: {c}");
}

#[test]
fn base_url_precedence_flag_then_env_then_hf_endpoint() {
    let hub = hub();
    let dir = model_dir();
    let d = dir.path();
    let dead = "http://127.0.0.1:9";
    // SHIHUA_MODELS_BASE_URL wins over HF_ENDPOINT...
    let (code, _, err) = shihua(
        d,
        &[
            ("HF_ENDPOINT", hub.url.as_str()),
            ("SHIHUA_MODELS_BASE_URL", dead),
        ],
        &["models", "fetch"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("127.0.0.1:9"), "{err}");
    // ...and --base-url wins over both.
    let (code, _, err) = shihua(
        d,
        &[("HF_ENDPOINT", dead), ("SHIHUA_MODELS_BASE_URL", dead)],
        &["models", "fetch", "--base-url", hub.url.as_str()],
    );
    assert_eq!(code, 0, "{err}");
}

fn installed_nothing(d: &Path) {
    support_models::assert_nothing_installed(&d.join(ID), "model.onnx");
    let download = d.join(ID).join("download");
    let left: Vec<_> = std::fs::read_dir(&download)
        .map(|r| r.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", download.display());
}

#[test]
fn fetch_missing_installs_or_explains_in_one_paragraph_and_exits_3() {
    let dir = model_dir();
    let d = dir.path();
    let embed = ["--fetch-missing", "embed", "--text", "月"];

    // Nothing listening: the paragraph, status 3, nothing installed.
    let (code, out, err) = shihua(d, &[], &embed);
    assert_eq!(code, 3, "{out}{err}");
    for needle in [
        "Could not install the hf-tiny model",
        "127.0.0.1:9",
        "HF_ENDPOINT=https://hf-mirror.com",
        "shihua models fetch --model hf-tiny",
        "models/export",
        "copy image.onnx and text.onnx",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
    assert!(
        !err.contains("error:"),
        "one paragraph, not an error chain: {err}"
    );
    installed_nothing(d);

    // A server that has no such file (HTTP 404).
    let empty = Hub::start(vec![]);
    let (code, _, err) = shihua(d, &[("HF_ENDPOINT", empty.url.as_str())], &embed);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("HTTP 404"), "{err}");
    installed_nothing(d);

    // Same size, other bytes: the pinned sha256 refuses it; nothing is installed.
    let mut bad = tiny_file("model.onnx");
    let n = bad.len();
    bad[n / 2] ^= 0xff;
    let corrupt = Hub::start(vec![(REPO, "onnx/model.onnx", bad)]);
    let (code, _, err) = shihua(d, &[("HF_ENDPOINT", corrupt.url.as_str())], &embed);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("did not match the sha256"), "{err}");
    installed_nothing(d);

    // Reachable: fetched, then used.
    let hub = hub();
    let (code, out, err) = shihua(d, &[("HF_ENDPOINT", hub.url.as_str())], &embed);
    assert_eq!(code, 0, "{err}");
    let v: Vec<f32> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v.len(), 512);
    assert!(d.join(ID).join("image.onnx").is_file());
}

/// scripts/run.sh with RUN_SERVE=0: (exit status, stdout, stderr).
fn run_sh(d: &Path, data: &Path, photos: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/run.sh"))
        .env_remove("MODEL")
        .env_remove("SHIHUA_MODEL")
        .env_remove("MILVUS_URI")
        .env_remove("SHIHUA_DATA_DIR")
        .env_remove("SHIHUA_COLLECTION")
        .env_remove("SHIHUA_MODELS_BASE_URL")
        .env_remove("HF_ENDPOINT")
        .env("SHIHUA_BIN", env!("CARGO_BIN_EXE_shihua"))
        .env("SHIHUA_MODEL_DIR", d)
        .env("RUN_DATA", data)
        .env("RUN_PHOTOS", photos)
        .env("RUN_SERVE", "0")
        .env("RUST_LOG", "warn");
    support_models::run(&mut cmd, env)
}

#[test]
fn run_sh_fetches_when_it_can_and_falls_back_to_the_fixture_when_it_cannot() {
    let dir = model_dir();
    let d = dir.path();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let photos = work.path().join("photos");
    common::copy_demo(&photos, 2);
    let real_db = format!("into {}/milvus.db", data.display());
    let fixture_db = format!("into {}/fixture/milvus.db", data.display());

    // Missing + unreachable: the paragraph, then the fixture in its own folder; status 0.
    let (code, out, err) = run_sh(d, &data, &photos, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("Could not install the hf-tiny model") && err.contains("HF_ENDPOINT"),
        "{err}"
    );
    assert!(out.contains("FIXTURE MODEL"), "{out}");
    assert!(
        out.contains(&format!("indexed with model fixture {fixture_db}")),
        "{out}"
    );
    assert!(
        !data.join("milvus.db").exists(),
        "the real model's data stays untouched"
    );
    installed_nothing(d);

    // Missing + checksum mismatch: refused, nothing installed, the fixture again.
    let mut bad = tiny_file("model.onnx");
    bad[1000] ^= 0x55;
    let corrupt = Hub::start(vec![(REPO, "onnx/model.onnx", bad)]);
    let (code, out, err) = run_sh(d, &data, &photos, &[("HF_ENDPOINT", corrupt.url.as_str())]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("did not match the sha256"), "{err}");
    assert!(
        out.contains(&format!("indexed with model fixture {fixture_db}")),
        "{out}"
    );
    installed_nothing(d);

    // Missing + reachable (a local mirror): fetched, verified, then the real model.
    let hub = hub();
    let (code, out, err) = run_sh(d, &data, &photos, &[("HF_ENDPOINT", hub.url.as_str())]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("FIXTURE MODEL"), "{out}");
    assert!(
        out.contains(&format!("indexed with model {ID} {real_db}")),
        "{out}"
    );
    assert!(d.join(ID).join("image.onnx").is_file());
    assert!(data.join("fixture/milvus.db").exists() && data.join("milvus.db").exists());

    // Present: the real model, nothing downloaded, even with no hub at all.
    let before = hub.log().len();
    let (code, out, err) = run_sh(d, &data, &photos, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("indexed with model {ID} {real_db}")),
        "{out}"
    );
    assert_eq!(hub.log().len(), before, "nothing downloaded again");

    // MODEL=fixture keeps working (and keeps to its own folder).
    let (code, out, err) = run_sh(d, &data, &photos, &[("MODEL", "fixture")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("indexed with model fixture {fixture_db}")),
        "{out}"
    );
}

// ---- a model published as a cn_clip checkpoint (.pt): download + torch-free conversion ----

const PT_REPO: &str = "test-org/chinese-clip-pt-tiny";
const PT_MS_REPO: &str = "AI-ModelScope/chinese-clip-pt-tiny";
const PT_ID: &str = "pt-tiny";

fn pt_refs() -> serde_json::Value {
    let p = repo().join("models/testdata/pt_tiny_refs.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn pt_bytes() -> Vec<u8> {
    let p = repo().join("models/fixture/pt-tiny/clip_cn_tiny.pt");
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (made by models/scripts/make_pt_tiny.py)",
            p.display()
        )
    })
}

/// A model dir whose only model is published as a checkpoint, on the hub and on ModelScope,
/// pinned (size, sha256) like a real entry.
fn pt_model_dir() -> tempfile::TempDir {
    pt_model_dir_with(false)
}

/// [`pt_model_dir`]; `onnx_too`: the model also has an ONNX export on the hub (like ViT-B-16).
fn pt_model_dir_with(onnx_too: bool) -> tempfile::TempDir {
    let r = pt_refs();
    let models = format!(
        r#"[[model]]
id = "{PT_ID}"
default = true
embed_dim = {dim}
image_size = 224
[model.source]
repo = "{PT_REPO}"
revision = "main"
onnx = {onnx_too}
modelscope = "{PT_MS_REPO}"
checkpoint = {{ file = "clip_cn_tiny.pt", size = {size}, sha256 = "{sha}" }}
{variants}"#,
        variants = if onnx_too {
            "[model.source.variants]\nfp32 = { file = \"onnx/model.onnx\" }\n"
        } else {
            ""
        },
        dim = r["config"]["embed_dim"],
        size = r["checkpoint"]["bytes"],
        sha = r["checkpoint"]["sha256"].as_str().unwrap(),
    );
    support_models::model_dir("http://127.0.0.1:9", &models)
}

/// The converter's arguments for the narrow test model (its heads are 16 wide).
fn convert_env() -> (&'static str, String) {
    let args: Vec<String> = pt_refs()["converter_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    ("SHIHUA_CONVERT_ARGS", args.join(" "))
}

fn assert_embeds_like_cn_clip(d: &Path) {
    let enc = support_models::encoder_in(d, PT_ID, Variant::Fp32, false);
    let dim = enc.embed_texts(&["月"]).unwrap().vectors[0].len();
    assert_eq!(dim, 256, "the manifest's dim");
    let (text_min, image_min) = min_cosines_to(&enc, &pt_refs());
    eprintln!(
        "converted checkpoint vs cn_clip: min cosine text {text_min:.6}, image {image_min:.6}"
    );
    assert!(
        text_min >= 0.9999 && image_min >= 0.9999,
        "text {text_min}, image {image_min}"
    );
}

#[test]
fn a_checkpoint_is_fetched_and_converted_without_torch_like_cn_clip() {
    let hub = Hub::start(vec![(PT_REPO, "clip_cn_tiny.pt", pt_bytes())]);
    let dir = pt_model_dir();
    let d = dir.path();
    let conv = convert_env();
    let env = [("HF_ENDPOINT", hub.url.as_str()), (conv.0, conv.1.as_str())];
    let (code, out, err) = shihua(d, &env, &["models", "fetch", "--model", PT_ID]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("matches the pin"), "{out}");
    assert!(
        hub.log()[0]
            .path
            .starts_with(&format!("/{PT_REPO}/resolve/main/clip_cn_tiny.pt")),
        "{:?}",
        hub.log()
    );
    assert!(
        !d.join(PT_ID).join("download").exists(),
        "checkpoint removed"
    );
    assert_embeds_like_cn_clip(d);
    // `shihua embed` on the converted graphs.
    let r = pt_refs();
    let t = &r["texts"][0];
    let (code, out, err) = shihua(
        d,
        &[],
        &[
            "--variant",
            "fp32",
            "embed",
            "--text",
            t["text"].as_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Vec<f32> = serde_json::from_str(out.trim()).unwrap();
    assert!(cosine(&v, &floats(&t["embedding"])) >= 0.9999);

    // Installed: a second fetch does nothing.
    let before = hub.log().len();
    let (code, out, err) = shihua(d, &env, &["models", "fetch", "--model", PT_ID]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("already installed"), "{out}");
    assert_eq!(hub.log().len(), before);

    // --variant int8: the dynamically quantised graphs beside the float ones.
    let (code, out, err) = shihua(
        d,
        &env,
        &["models", "fetch", "--model", PT_ID, "--variant", "int8"],
    );
    assert_eq!(code, 0, "{out}{err}");
    for f in [
        "image.int8.onnx",
        "text.int8.onnx",
        "source.int8.json",
        "source.json",
    ] {
        assert!(d.join(PT_ID).join(f).is_file(), "{f}");
    }
    let t = &r["texts"][1];
    let p = &r["photos"][0];
    let path = photo_path(p["file"].as_str().unwrap());
    for (args, want) in [
        (vec!["--text", t["text"].as_str().unwrap()], &t["embedding"]),
        (vec!["--image", path.to_str().unwrap()], &p["embedding"]),
    ] {
        let mut all = vec!["--variant", "int8", "embed"];
        all.extend(args);
        let (code, out, err) = shihua(d, &[], &all);
        assert_eq!(code, 0, "{err}");
        let v: Vec<f32> = serde_json::from_str(out.trim()).unwrap();
        let c = cosine(&v, &floats(want));
        assert!(c >= 0.99, "int8: cosine {c}");
    }
}

#[test]
fn a_checkpoint_comes_from_modelscope_too_and_a_bad_one_installs_nothing() {
    // ModelScope's layout: /api/v1/models/<id>/repo?Revision=master&FilePath=<file>.
    let hub = Hub::start(vec![(PT_MS_REPO, "clip_cn_tiny.pt", pt_bytes())]);
    let dir = pt_model_dir();
    let d = dir.path();
    let conv = convert_env();
    // Also: weights in <graph>.data beside the graphs, as ViT-H-14's 2.5 GB image tower has.
    let external = format!("{} --external-data-over 0", conv.1);
    let (code, out, err) = shihua(
        d,
        &[
            ("MODELSCOPE_DOMAIN", hub.url.as_str()),
            (conv.0, external.as_str()),
        ],
        &[
            "models",
            "fetch",
            "--model",
            PT_ID,
            "--source",
            "modelscope",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        hub.log()[0].path.starts_with(&format!(
            "/api/v1/models/{PT_MS_REPO}/repo?Revision=master&FilePath=clip_cn_tiny.pt"
        )),
        "{:?}",
        hub.log()
    );
    for f in ["image.onnx.data", "text.onnx.data"] {
        assert!(d.join(PT_ID).join(f).is_file(), "{f}");
    }
    assert_embeds_like_cn_clip(d);

    // A checkpoint that is not the pinned one: refused before any conversion.
    let mut bad = pt_bytes();
    let n = bad.len();
    bad[n - 100] ^= 1;
    let corrupt = Hub::start(vec![(PT_REPO, "clip_cn_tiny.pt", bad)]);
    let other = pt_model_dir();
    let (code, _, err) = shihua(
        other.path(),
        &[
            ("HF_ENDPOINT", corrupt.url.as_str()),
            (conv.0, conv.1.as_str()),
        ],
        &["--fetch-missing", "embed", "--text", "月"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("did not match the sha256"), "{err}");
    support_models::assert_nothing_installed(&other.path().join(PT_ID), "clip_cn_tiny.pt");
}

#[test]
fn run_sh_with_another_model_fetches_converts_and_keeps_its_own_folder_and_dimension() {
    // `make run MODEL=pt-tiny`: the default model's manifest plus a checkpoint-only model of
    // dimension 256 (like ViT-L-14's 768 or ViT-H-14's 1024 next to ViT-B-16's 512).
    let dir = model_dir();
    let d = dir.path();
    let r = pt_refs();
    let extra = format!(
        r#"
[[model]]
id = "{PT_ID}"
embed_dim = {dim}
image_size = 224
[model.source]
repo = "{PT_REPO}"
onnx = false
checkpoint = {{ file = "clip_cn_tiny.pt", size = {size}, sha256 = "{sha}" }}
"#,
        dim = r["config"]["embed_dim"],
        size = r["checkpoint"]["bytes"],
        sha = r["checkpoint"]["sha256"].as_str().unwrap(),
    );
    let manifest = d.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap() + &extra;
    std::fs::write(&manifest, text).unwrap();
    let hub = Hub::start(vec![(PT_REPO, "clip_cn_tiny.pt", pt_bytes())]);
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let photos = work.path().join("photos");
    common::copy_demo(&photos, 2);
    let conv = convert_env();
    let env = [
        ("MODEL", PT_ID),
        ("HF_ENDPOINT", hub.url.as_str()),
        (conv.0, conv.1.as_str()),
    ];
    let (code, out, err) = run_sh(d, &data, &photos, &env);
    assert_eq!(code, 0, "{out}{err}");
    let db = data.join(PT_ID).join("milvus.db");
    assert!(
        out.contains(&format!("indexed with model {PT_ID} into {}", db.display())),
        "{out}{err}"
    );
    assert!(!out.contains("FIXTURE"), "{out}");
    // Its collection has its own dimension, read from the manifest.
    let (code, out, err) = shihua(
        d,
        &[
            ("SHIHUA_MODEL", PT_ID),
            ("MILVUS_URI", db.to_str().unwrap()),
        ],
        &["collection", "stats"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dim:        256"), "{out}");
    assert!(out.contains(&format!("model:      {PT_ID}")), "{out}");
    assert!(
        !data.join("milvus.db").exists(),
        "the default model's data is untouched"
    );
}

#[test]
fn with_modelscope_a_model_with_an_onnx_export_comes_from_its_checkpoint() {
    // Like ViT-B-16: an ONNX export on the hub, and the official checkpoint on ModelScope.
    // `SHIHUA_MODELS_SOURCE=modelscope` (what a user in mainland China may set for `make run`)
    // makes --fetch-missing take the checkpoint from ModelScope's layout.
    let dir = pt_model_dir_with(true);
    let d = dir.path();

    let hub = Hub::start(vec![(PT_MS_REPO, "clip_cn_tiny.pt", pt_bytes())]);
    let conv = convert_env();
    let (code, out, err) = shihua(
        d,
        &[
            ("MODELSCOPE_DOMAIN", hub.url.as_str()),
            ("SHIHUA_MODELS_SOURCE", "modelscope"),
            (conv.0, conv.1.as_str()),
        ],
        &["--fetch-missing", "embed", "--text", "月"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        hub.log()[0].path.starts_with("/api/v1/models/"),
        "{:?}",
        hub.log()
    );
    let v: Vec<f32> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v.len(), 256);
}
