//! Helpers shared by the integration tests: where the repository is, the fixture encoder,
//! demo photos, the Milvus a test runs against (its own Milvus Lite, or an external server
//! named by `SHIHUA_TEST_MILVUS_URI` with a collection of its own, dropped at the end), a
//! Milvus Lite with demo photos indexed, a router over a real store, the `shihua` binary, and
//! vector comparisons.
#![allow(dead_code)] // each test binary uses a different subset

pub mod dated_photos;
pub mod http;
pub mod hub;
pub mod ingest;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use server::clip::{self, ClipEncoder, EncoderOptions, Manifest, Variant};
use server::http::fairness::FairnessConfig;
use server::http::{media::ThumbCache, router_with, AppState, WebOptions};
use server::ingest::{index_folder, IndexOptions, IndexSummary};
use server::search::SearchEngine;
use server::store::{find_lite_lib_dir, EmbeddedMilvus, MilvusStore, StoreConfig, StoreError};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A loaded model from models/manifest.toml (ONNX Runtime from the project's .venv).
pub fn encoder(model: &str, threads: usize, warm_up: bool) -> Arc<ClipEncoder> {
    Arc::new(load_encoder(model, Variant::Fp32, threads, warm_up))
}

/// A model in one variant (fp32 or int8 files), on the CPU.
pub fn load_encoder(model: &str, variant: Variant, threads: usize, warm_up: bool) -> ClipEncoder {
    let models = repo().join("models");
    let manifest = Manifest::load(&models.join("manifest.toml")).unwrap();
    let spec = manifest.find(model).unwrap().clone();
    let files = manifest.files_variant(&spec, &models, variant).unwrap();
    clip::runtime::init(None).expect("ONNX Runtime from .venv (run scripts/setup.sh)");
    let opts = EncoderOptions {
        intra_threads: threads,
        device: clip::Device::Cpu,
        warm_up,
    };
    ClipEncoder::load(&manifest, &spec, &files, &opts).unwrap()
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

/// Names an external Milvus server to test against instead of an embedded Milvus Lite.
pub const EXTERNAL_ENV: &str = "SHIHUA_TEST_MILVUS_URI";

/// The external Milvus server named by [`EXTERNAL_ENV`], if any.
pub fn external_uri() -> Option<String> {
    std::env::var(EXTERNAL_ENV)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Drops a test's collection on the external server when the test ends, passed or not.
pub struct DropOnExit {
    pub uri: String,
    pub collection: String,
}

impl Drop for DropOnExit {
    fn drop(&mut self) {
        let cfg = StoreConfig {
            uri: self.uri.clone(),
            collection: self.collection.clone(),
            ..StoreConfig::default()
        };
        // Own thread and runtime: this also runs while a failed test unwinds inside tokio.
        let result = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let store = MilvusStore::connect(cfg).await?;
                    if store.has_collection().await? {
                        store.drop_collection().await?;
                    }
                    Ok::<(), StoreError>(())
                })
        })
        .join();
        if !matches!(result, Ok(Ok(()))) {
            eprintln!(
                "could not drop test collection {}: {result:?}",
                self.collection
            );
        }
    }
}

/// The Milvus one test talks to: its own embedded Milvus Lite (default collection), or the
/// external server with a collection `t_<test>_<pid>` of its own, dropped when this is dropped.
pub struct TestMilvus {
    pub lite: Option<EmbeddedMilvus>,
    pub uri: String,
    /// `None`: the default collection (`multimodal_chinese_clip`).
    pub collection: Option<String>,
    _drop: Option<DropOnExit>,
}

impl TestMilvus {
    /// Milvus Lite on the database file `db`, or the external server.
    pub async fn start(test: &str, db: &Path) -> TestMilvus {
        if let Some(uri) = external_uri() {
            let collection = format!("t_{test}_{}", std::process::id());
            return TestMilvus {
                _drop: Some(DropOnExit {
                    uri: uri.clone(),
                    collection: collection.clone(),
                }),
                lite: None,
                uri,
                collection: Some(collection),
            };
        }
        let lite = EmbeddedMilvus::start(db, &lite_lib()).await.unwrap();
        TestMilvus {
            uri: lite.uri(),
            lite: Some(lite),
            collection: None,
            _drop: None,
        }
    }

    /// A store configuration for this server and collection, for `model`.
    pub fn config(&self, model: &str) -> StoreConfig {
        let mut cfg = StoreConfig {
            uri: self.uri.clone(),
            model_id: model.to_owned(),
            ..StoreConfig::default()
        };
        if let Some(c) = &self.collection {
            cfg.collection = c.clone();
        }
        cfg
    }

    /// `shihua` on the fixture model (one thread) against this server and collection, output
    /// captured. A non-empty `wrapper` (e.g. `setpriv …`) runs it: `wrapper… shihua args…`.
    pub fn shihua(&self, wrapper: &[&str], args: &[&str]) -> Command {
        self.shihua_at(Path::new(env!("CARGO_BIN_EXE_shihua")), wrapper, args)
    }

    /// [`TestMilvus::shihua`] with another copy of the binary (see [`portable_shihua`]).
    pub fn shihua_at(&self, bin: &Path, wrapper: &[&str], args: &[&str]) -> Command {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.current_dir(repo()).env("MILVUS_URI", &self.uri);
        if let Some(c) = &self.collection {
            cmd.env("SHIHUA_COLLECTION", c);
        }
        cmd.env("SHIHUA_MODEL", "fixture")
            .env("SHIHUA_THREADS", "1")
            .env("RUST_LOG", "warn")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    pub async fn stop(mut self) {
        if let Some(lite) = self.lite.take() {
            lite.stop().await.unwrap();
        }
    }
}

/// Everything `shihua` needs to run the fixture model against a Milvus server, copied out of
/// the checkout into `dir` (created with mode 0755, files 0644, the binary 0755): the binary,
/// the ONNX Runtime library, models/manifest.toml, models/tokenizer.json and models/fixture.
/// Another user (`nobody`) can run it there wherever the checkout lives, even in a 0700 home
/// folder. Run it with [`PortableShihua::command`].
pub struct PortableShihua {
    pub bin: PathBuf,
    pub ort: PathBuf,
    pub models: PathBuf,
    pub dir: PathBuf,
}

pub fn portable_shihua(dir: &Path) -> PortableShihua {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let copy = |from: &Path, to: &Path, m: u32| {
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
        mode(to, m);
    };
    let models = dir.join("models");
    for d in [
        dir.to_path_buf(),
        dir.join("bin"),
        dir.join("lib"),
        models.clone(),
        models.join("fixture"),
    ] {
        std::fs::create_dir_all(&d).unwrap();
        mode(&d, 0o755);
    }
    let bin = dir.join("bin/shihua");
    copy(Path::new(env!("CARGO_BIN_EXE_shihua")), &bin, 0o755);
    let lib = clip::runtime::find_dylib(&repo())
        .expect("ONNX Runtime library not found: set ORT_DYLIB_PATH or run scripts/setup.sh");
    let ort = dir.join("lib").join(lib.file_name().unwrap());
    copy(&lib, &ort, 0o644);
    let src = repo().join("models");
    for f in ["manifest.toml", "tokenizer.json"] {
        copy(&src.join(f), &models.join(f), 0o644);
    }
    for f in ["image.onnx", "text.onnx"] {
        copy(
            &src.join("fixture").join(f),
            &models.join("fixture").join(f),
            0o644,
        );
    }
    PortableShihua {
        bin,
        ort,
        models,
        dir: dir.to_path_buf(),
    }
}

impl PortableShihua {
    /// The copied `shihua` (through `wrapper`, e.g. `setpriv …`) against `milvus`, run in the
    /// copy's folder with ORT_DYLIB_PATH and SHIHUA_MODEL_DIR pointing into it.
    pub fn command(&self, milvus: &TestMilvus, wrapper: &[&str], args: &[&str]) -> Command {
        let mut cmd = milvus.shihua_at(&self.bin, wrapper, args);
        cmd.current_dir(&self.dir)
            .env("ORT_DYLIB_PATH", &self.ort)
            .env("SHIHUA_MODEL_DIR", &self.models)
            .env("SHIHUA_DATA_DIR", self.dir.join("data"))
            .env_remove("SHIHUA_MILVUS_LITE_LIB");
        cmd
    }
}

/// Where Milvus Lite is installed (the project's .venv).
pub fn lite_lib() -> PathBuf {
    find_lite_lib_dir(&repo()).expect(
        "Milvus Lite not found: run `make run` or scripts/setup.sh (or set SHIHUA_MILVUS_LITE_LIB)",
    )
}

/// A Milvus Lite started for one test, a store on it for the fixture model, and the result
/// of indexing a folder into it.
pub struct LiteIndex {
    pub milvus: EmbeddedMilvus,
    pub store: Arc<MilvusStore>,
    pub encoder: Arc<ClipEncoder>,
    pub summary: IndexSummary,
}

/// Indexing options for `photos` as the tests use them: no progress bar.
pub fn index_options(photos: &Path) -> IndexOptions {
    let mut opts = IndexOptions::new(photos);
    opts.progress = false;
    opts
}

/// Starts Milvus Lite on `tmp/db/m.db` and connects a store for the fixture model to it.
pub async fn start_lite(tmp: &Path) -> (EmbeddedMilvus, Arc<MilvusStore>) {
    let milvus = EmbeddedMilvus::start(&tmp.join("db/m.db"), &lite_lib())
        .await
        .unwrap();
    let cfg = StoreConfig {
        uri: milvus.uri(),
        model_id: "fixture".into(),
        ..StoreConfig::default()
    };
    let store = Arc::new(MilvusStore::connect(cfg).await.unwrap());
    (milvus, store)
}

/// [`start_lite`], then indexes `opts` into it with the fixture model.
pub async fn start_and_index(tmp: &Path, opts: IndexOptions) -> LiteIndex {
    let (milvus, store) = start_lite(tmp).await;
    let encoder = fixture_encoder();
    let summary = index_folder(encoder.clone(), store.clone(), opts)
        .await
        .unwrap();
    LiteIndex {
        milvus,
        store,
        encoder,
        summary,
    }
}

/// The whole HTTP router over `shihua`, with a thumbnail cache under `tmp`. Every request of
/// a test comes from one client, so the per-client picture limits are lifted here; the limits
/// themselves are tested through `shihua serve` in site_serve.rs.
pub fn test_router(shihua: Arc<SearchEngine>, tmp: &Path) -> axum::Router {
    let web = WebOptions {
        fairness: FairnessConfig {
            per_minute: 1_000_000,
            burst: 1_000_000,
            ..FairnessConfig::default()
        },
        ..WebOptions::default()
    };
    router_with(
        AppState {
            leptos_options: leptos::prelude::LeptosOptions::builder()
                .output_name("shihua")
                .build(),
            engine: shihua,
            thumbs: Arc::new(ThumbCache::new(tmp.join("thumbs")).unwrap()),
        },
        web,
    )
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

/// Percent-encodes a query parameter value (every byte but the unreserved ones).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
