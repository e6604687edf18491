//! int8 on today's CPUs (issue 15): the signed-weight copy of an int8 graph embeds like the
//! uint8 graph it was made from; on a CPU without VNNI/AMX (detection forced with
//! `SHIHUA_CPU_FEATURES` or a forced `CpuInt8`) the signed graphs are never chosen; `--variant
//! auto` picks int8 only with VNNI and int8 graphs, and follows an existing collection.
//! Speed is measured in bench/ (docs/speed.md), never here.

mod common;

use std::path::{Path, PathBuf};

use common::{copy_demo, demo_photos, repo, shihua_cmd};
use server::clip::cpu_features::{self, CpuInt8};
use server::clip::preprocess::{preprocess_bytes, DEFAULT_MAX_PIXELS};
use server::clip::{
    self, ClipEncoder, EncoderOptions, Manifest, ModelFiles, Variant, VariantChoice,
};
use server::models::onnx::int8_signed;
use server::startup::choose_graphs;
use server::store::{find_lite_lib_dir, EmbeddedMilvus};

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A model folder with a copy of the fixture's graphs (so the signed copies are made there,
/// not in the repository), plus the manifest and tokenizer.
fn fixture_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let models = repo().join("models");
    std::fs::create_dir_all(dir.path().join("fixture")).unwrap();
    for f in [
        "image.onnx",
        "text.onnx",
        "image.int8.onnx",
        "text.int8.onnx",
    ] {
        std::fs::copy(
            models.join("fixture").join(f),
            dir.path().join("fixture").join(f),
        )
        .unwrap();
    }
    for f in ["manifest.toml", "tokenizer.json"] {
        std::fs::copy(models.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

fn load(files: &ModelFiles) -> ClipEncoder {
    let manifest = Manifest::load(&repo().join("models/manifest.toml")).unwrap();
    let spec = manifest.find("fixture").unwrap().clone();
    clip::runtime::init(None).expect("ONNX Runtime from .venv (run scripts/setup.sh)");
    let opts = EncoderOptions {
        intra_threads: 1,
        device: clip::Device::Cpu,
        warm_up: false,
    };
    ClipEncoder::load(&manifest, &spec, files, &opts).unwrap()
}

#[test]
fn signed_and_unsigned_int8_weights_embed_alike() {
    let dir = fixture_dir();
    let models = dir.path();
    let manifest = Manifest::load(&models.join("manifest.toml")).unwrap();
    let spec = manifest.find("fixture").unwrap();
    let u8_files = manifest.files_variant(spec, models, Variant::Int8).unwrap();
    let mut s8_files = u8_files.clone();
    let image = int8_signed::ensure_signed(&u8_files.image).unwrap();
    let text = int8_signed::ensure_signed(&u8_files.text).unwrap();
    assert!(image.report.nodes > 0 && text.report.nodes > 0);
    assert_ne!(image.path, u8_files.image);
    s8_files.image = image.path;
    s8_files.text = text.path;
    let u8_enc = load(&u8_files);
    let s8_enc = load(&s8_files);

    let mut min_image = f32::MAX;
    let photos: Vec<PathBuf> = demo_photos().into_iter().take(12).collect();
    assert_eq!(photos.len(), 12);
    for p in &photos {
        let bytes = std::fs::read(p).unwrap();
        let (t, _) =
            preprocess_bytes(&bytes, u8_enc.preprocess_spec(), DEFAULT_MAX_PIXELS).unwrap();
        let a = u8_enc.embed_pixels(t.clone(), 1).unwrap();
        let b = s8_enc.embed_pixels(t, 1).unwrap();
        min_image = min_image.min(dot(&a[0], &b[0]));
    }
    let texts = [
        "夕阳西下",
        "枯藤老树昏鸦，小桥流水人家",
        "大漠孤烟直，长河落日圆",
        "春眠不觉晓",
        "千山鸟飞绝，万径人踪灭",
    ];
    let a = u8_enc.embed_texts(&texts).unwrap().vectors;
    let b = s8_enc.embed_texts(&texts).unwrap().vectors;
    let min_text = a
        .iter()
        .zip(&b)
        .map(|(x, y)| dot(x, y))
        .fold(f32::MAX, f32::min);
    let cpu = cpu_features::probe();
    eprintln!(
        "s8 vs u8 weights, fixture model, CPU {}: min cosine {min_image:.7} over {} photos, \
         {min_text:.7} over {} texts",
        cpu.describe(),
        photos.len(),
        texts.len()
    );
    if cpu.has_vnni() {
        // With VNNI, u8 × s8 products do not saturate: the same real weights give the same
        // result up to float summation order.
        assert!(min_image > 0.9999, "image cosine s8 vs u8 {min_image}");
        assert!(min_text > 0.9999, "text cosine s8 vs u8 {min_text}");
    } else {
        // Without VNNI the products may saturate (which is why s8 is never chosen there):
        // what must hold on this CPU is that the choice keeps uint8.
        assert!(!server::clip::variant_choice::int8_weights(&cpu, false).signed);
    }
}

fn chosen(
    models: &Path,
    choice: VariantChoice,
    cpu: &str,
    collection: Option<Variant>,
) -> server::startup::ChosenGraphs {
    let manifest = Manifest::load(&models.join("manifest.toml")).unwrap();
    let spec = manifest.find("fixture").unwrap();
    let cpu = CpuInt8::forced(cpu).unwrap();
    choose_graphs(&manifest, spec, models, choice, &cpu, false, collection).unwrap()
}

#[test]
fn without_vnni_the_signed_graphs_are_never_chosen() {
    let dir = fixture_dir();
    let models = dir.path();
    let s8 = models.join("fixture/image.int8.s8.onnx");

    // No VNNI: --variant int8 loads the uint8 graphs and makes no signed copy.
    let c = chosen(models, VariantChoice::Int8, "none", None);
    assert_eq!(c.variant, Variant::Int8);
    assert_eq!(c.files.image, models.join("fixture/image.int8.onnx"));
    assert_eq!(c.files.text, models.join("fixture/text.int8.onnx"));
    assert!(c.kernel.starts_with("uint8 weights"), "{}", c.kernel);
    assert!(!s8.exists());
    // ... and auto is fp32 there.
    let c = chosen(models, VariantChoice::Auto, "none", None);
    assert_eq!(c.variant, Variant::Fp32);
    assert_eq!(c.files.image, models.join("fixture/image.onnx"));
    assert!(c.why.contains("no VNNI/AMX"), "{}", c.why);
    assert!(!s8.exists());

    // With VNNI (forced): auto is int8 with the signed copies, made now.
    for flags in ["avx512_vnni", "avx_vnni", "amx_int8"] {
        let c = chosen(models, VariantChoice::Auto, flags, None);
        assert_eq!(c.variant, Variant::Int8, "{flags}");
        assert_eq!(c.files.image, s8, "{flags}");
        assert_eq!(
            c.files.text,
            models.join("fixture/text.int8.s8.onnx"),
            "{flags}"
        );
        assert!(c.kernel.contains("int8 (s8) weights"), "{}", c.kernel);
        assert!(c.why.contains(flags), "{}", c.why);
    }
    // An fp32 collection keeps auto on fp32, even with VNNI.
    let c = chosen(
        models,
        VariantChoice::Auto,
        "avx512_vnni",
        Some(Variant::Fp32),
    );
    assert_eq!(c.variant, Variant::Fp32);
    assert!(c.why.contains("follows the collection"), "{}", c.why);

    // No int8 graphs installed: auto is fp32 and says why.
    std::fs::remove_file(models.join("fixture/text.int8.onnx")).unwrap();
    let c = chosen(models, VariantChoice::Auto, "avx512_vnni", None);
    assert_eq!(c.variant, Variant::Fp32);
    assert!(c.why.contains("not installed"), "{}", c.why);
}

fn models_list(models: &Path, cpu: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shihua"))
        .current_dir(repo())
        .env("SHIHUA_MODEL_DIR", models)
        .env("SHIHUA_MODEL", "fixture")
        .env_remove("SHIHUA_VARIANT")
        .env(cpu_features::OVERRIDE_ENV, cpu)
        .args(["models", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn models_list_says_which_weights_run_and_why() {
    let dir = fixture_dir();
    let out = models_list(dir.path(), "none");
    assert!(
        out.contains("this machine: CPU no VNNI/AMX (SHIHUA_CPU_FEATURES)"),
        "{out}"
    );
    assert!(out.contains("--variant auto for fixture: fp32"), "{out}");
    assert!(out.contains("int8 runs with uint8 weights"), "{out}");
    let out = models_list(dir.path(), "avx512_vnni");
    assert!(out.contains("--variant auto for fixture: int8"), "{out}");
    assert!(out.contains("int8 runs with int8 (s8) weights"), "{out}");
    assert!(out.contains("re-encoded at first load"), "{out}");
    // A typo in the override is an error, not a silent choice.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_shihua"))
        .current_dir(repo())
        .env("SHIHUA_MODEL_DIR", dir.path())
        .env(cpu_features::OVERRIDE_ENV, "vnni")
        .args(["models", "list"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown flag"));
}

/// `--variant auto` reads the collection: rows made with fp32 keep queries on fp32 even on a
/// VNNI CPU, and an index run adds fp32 rows to them; rows made with int8 keep int8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_follows_the_variant_of_the_collection() {
    let tmp = tempfile::tempdir().unwrap();
    let models = fixture_dir();
    let photos = tmp.path().join("photos");
    copy_demo(&photos, 3);
    let lib = find_lite_lib_dir(&repo()).expect("Milvus Lite in .venv");
    let milvus = EmbeddedMilvus::start(&tmp.path().join("db/m.db"), &lib)
        .await
        .unwrap();
    let uri = milvus.uri();
    let run = |variant: &str, args: &[&str]| {
        let out = shihua_cmd(&uri, args)
            .env("SHIHUA_MODEL_DIR", models.path())
            .env("SHIHUA_VARIANT", variant)
            .env(cpu_features::OVERRIDE_ENV, "avx512_vnni")
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    };
    run("fp32", &["index", photos.to_str().unwrap()]);
    let (_, log) = run("auto", &["search", "夕阳西下", "-k", "2"]);
    assert!(
        log.contains("model fixture fp32: auto: follows the collection, whose rows are fp32"),
        "{log}"
    );
    // Recreated with auto on a VNNI CPU: int8, with the signed graphs.
    let (_, log) = run("auto", &["index", photos.to_str().unwrap(), "--recreate"]);
    assert!(
        log.contains("model fixture int8: auto: int8, the CPU has avx512_vnni"),
        "{log}"
    );
    assert!(log.contains("int8 (s8) weights"), "{log}");
    let (_, log) = run("auto", &["search", "夕阳西下", "-k", "2"]);
    assert!(
        log.contains("model fixture int8: auto: follows the collection, whose rows are int8"),
        "{log}"
    );
    milvus.stop().await.unwrap();
}
