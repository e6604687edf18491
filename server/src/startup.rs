//! Opening what every command needs, from the settings: ONNX Runtime + the CLIP encoder, and
//! the Milvus store (an embedded Milvus Lite child process for a local path, or a server).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::clip::cpu_features::{self, CpuInt8};
use crate::clip::variant_choice::{self, VariantChoice};
use crate::clip::{
    self, ClipEncoder, Device, EncoderOptions, Manifest, ModelFiles, ModelSpec, Variant,
};
use crate::config::{Common, IndexChoice};
use crate::models::{self, onnx::int8_signed};
use crate::store::{self, EmbeddedMilvus, IndexKind, MilvusStore, StoreConfig};

/// The manifest and the chosen model.
pub fn model_spec(cfg: &Common) -> anyhow::Result<(Manifest, ModelSpec)> {
    let manifest = Manifest::load(&cfg.manifest_path())?;
    let spec = match &cfg.model {
        Some(id) => manifest.find(id)?.clone(),
        None => manifest.default_model().clone(),
    };
    Ok((manifest, spec))
}

/// The exit status of `shihua` when `--fetch-missing` could not install the model (no
/// network, a mirror that fails, a checksum mismatch…): scripts/run.sh then goes on with the
/// fixture model.
pub const EXIT_MODEL_UNAVAILABLE: i32 = 3;

/// `--fetch-missing` failed: what failed and how to get the model another way, one paragraph.
#[derive(Debug, thiserror::Error)]
#[error(
    "Could not install the {id} model: {what}.\n\
     To get it: check the network, or use a mirror of the Hugging Face hub (in mainland China: \
     `export HF_ENDPOINT=https://hf-mirror.com`; any server with the hub's \
     <repo>/resolve/<revision>/<file> layout works through SHIHUA_MODELS_BASE_URL or \
     --base-url), then run `make run` again or `shihua models fetch --model {id}` (an \
     interrupted download resumes); or export the graphs from the official cn_clip \
     checkpoint with models/export/export.py; or copy image.onnx and text.onnx from a \
     machine that has them into {dir}. See docs/models.md."
)]
pub struct ModelUnavailable {
    pub id: String,
    pub what: String,
    pub dir: String,
    #[source]
    pub source: models::FetchError,
}

/// With `--fetch-missing`: install the chosen model's graphs if they are not there.
pub fn fetch_if_missing(cfg: &Common, manifest: &Manifest, spec: &ModelSpec) -> anyhow::Result<()> {
    if !cfg.fetch_missing {
        return Ok(());
    }
    let opts = models::FetchOptions {
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        modelscope: models::modelscope_from_env(),
        ..models::FetchOptions::new(&cfg.model_dir)
    };
    // `--variant auto` needs the float graphs (fidelity, and the fallback everywhere) and,
    // where int8 pays (a CPU with VNNI/AMX), the int8 ones too: those are a bonus, not a must.
    let slot = match cfg.variant {
        VariantChoice::Int8 => Variant::Int8,
        VariantChoice::Fp32 | VariantChoice::Auto => Variant::Fp32,
    };
    match models::ensure_model(manifest, spec, slot, &opts) {
        Ok(Some(report)) => eprintln!("{report}"),
        Ok(None) => {}
        Err(source) => {
            return Err(ModelUnavailable {
                id: spec.id.clone(),
                what: source.what_failed(),
                dir: cfg.model_dir.join(&spec.id).display().to_string(),
                source,
            }
            .into())
        }
    }
    if cfg.variant == VariantChoice::Auto && int8_pays_here(cfg, spec) {
        match models::ensure_model(manifest, spec, Variant::Int8, &opts) {
            Ok(Some(report)) => eprintln!("{report}"),
            Ok(None) => {}
            Err(e) => tracing::warn!("int8 graphs of {} not installed ({e}); fp32 runs", spec.id),
        }
    }
    Ok(())
}

/// The graphs to load and why: `--variant` resolved (`clip::variant_choice`), and for int8 on
/// a CPU with VNNI/AMX the signed-weight copies (`models::onnx::int8_signed`, made at first use).
#[derive(Clone, Debug)]
pub struct ChosenGraphs {
    pub files: ModelFiles,
    pub variant: Variant,
    /// Why this variant.
    pub why: String,
    /// Which weights run (`fp32`, `int8 (s8) weights: …`, `uint8 weights: …`).
    pub kernel: String,
}

/// Decide which graphs of `spec` to load. `collection` is the variant of the rows already
/// stored (see [`collection_variant`]).
pub fn choose_graphs(
    manifest: &Manifest,
    spec: &ModelSpec,
    model_dir: &Path,
    choice: VariantChoice,
    cpu: &CpuInt8,
    gpu: bool,
    collection: Option<Variant>,
) -> Result<ChosenGraphs, clip::ClipError> {
    let int8_installed = manifest
        .files_variant(spec, model_dir, Variant::Int8)
        .is_ok();
    let decision = variant_choice::decide(
        choice,
        &variant_choice::Facts {
            cpu,
            gpu,
            int8_installed,
            collection,
        },
    );
    let mut files = manifest.files_variant(spec, model_dir, decision.variant)?;
    let kernel = match decision.variant {
        Variant::Fp32 => "fp32".to_string(),
        Variant::Int8 => {
            let w = variant_choice::int8_weights(cpu, gpu);
            if w.signed {
                match (
                    int8_signed::ensure_signed(&files.image),
                    int8_signed::ensure_signed(&files.text),
                ) {
                    (Ok(image), Ok(text)) => {
                        files.image = image.path;
                        files.text = text.path;
                        format!(
                            "{} ({} + {} MatMul weights re-encoded from uint8, cached as *.s8.onnx)",
                            w.why, image.report.nodes, text.report.nodes
                        )
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::warn!("keeping the uint8 int8 weights: {e}");
                        format!("uint8 weights: re-encoding to int8 failed ({e})")
                    }
                }
            } else {
                w.why
            }
        }
    };
    Ok(ChosenGraphs {
        files,
        variant: decision.variant,
        why: decision.why,
        kernel,
    })
}

/// For `shihua models list`: what `--variant` picks for the chosen model on this machine,
/// and which int8 weights would run (without loading or converting anything).
pub fn describe_choice(cfg: &Common) -> anyhow::Result<String> {
    let (manifest, spec) = model_spec(cfg)?;
    fetch_if_missing(cfg, &manifest, &spec)?;
    let cpu = cpu_features::detect().map_err(anyhow::Error::msg)?;
    let gpu = cfg.device == Device::Cuda;
    let int8 = manifest.files_variant(&spec, &cfg.model_dir, Variant::Int8);
    let d = variant_choice::decide(
        cfg.variant,
        &variant_choice::Facts {
            cpu: &cpu,
            gpu,
            int8_installed: int8.is_ok(),
            collection: None,
        },
    );
    let w = variant_choice::int8_weights(&cpu, gpu);
    let cached = match &int8 {
        Ok(f) if w.signed => {
            if int8_signed::signed_path(&f.image).is_file() {
                " (re-encoded copies cached)"
            } else {
                " (re-encoded at first load)"
            }
        }
        _ => "",
    };
    Ok(format!(
        "this machine: CPU {}\n  --variant {} for {}: {} ({}; an existing collection's \
         variant comes first)\n  int8 runs with {}{cached}\n",
        cpu.describe(),
        cfg.variant,
        spec.id,
        d.variant,
        d.why,
        w.why
    ))
}

/// Whether `shihua models fetch` (no `--variant`) should also fetch the int8 graphs: the CPU
/// has VNNI/AMX, `--variant` is auto, the model's source has an int8 download and they are
/// not installed yet.
pub fn int8_pays_here(cfg: &Common, spec: &ModelSpec) -> bool {
    let has_int8 = spec.source.as_ref().is_some_and(|s| {
        s.onnx && s.variants.contains_key("int8") && s.default_variant_name() != Some("int8")
    });
    let dir = cfg.model_dir.join(&spec.id);
    let installed = dir.join(Variant::Int8.file_name("image")).is_file()
        && dir.join(Variant::Int8.file_name("text")).is_file();
    cfg.variant == VariantChoice::Auto
        && cfg.device != Device::Cuda
        && has_int8
        && !installed
        && cpu_features::detect().is_ok_and(|c| c.has_vnni())
}

/// Load ONNX Runtime and both towers of the chosen model (`--variant auto` without looking at
/// a collection).
pub fn open_encoder(cfg: &Common, warm_up: bool) -> anyhow::Result<Arc<ClipEncoder>> {
    open_encoder_for(cfg, warm_up, None)
}

/// [`open_encoder`], with the variant of the rows already in the collection.
pub fn open_encoder_for(
    cfg: &Common,
    warm_up: bool,
    collection: Option<Variant>,
) -> anyhow::Result<Arc<ClipEncoder>> {
    let (manifest, spec) = model_spec(cfg)?;
    fetch_if_missing(cfg, &manifest, &spec)?;
    clip::runtime::init(None)?;
    let cpu = cpu_features::detect().map_err(anyhow::Error::msg)?;
    let gpu = match cfg.device {
        Device::Cpu => false,
        Device::Cuda => true,
        Device::Auto => {
            use ort::ep::ExecutionProvider;
            ort::ep::CUDA::is_available().unwrap_or(false)
        }
    };
    let chosen = choose_graphs(
        &manifest,
        &spec,
        &cfg.model_dir,
        cfg.variant,
        &cpu,
        gpu,
        collection,
    )?;
    tracing::info!(
        "model {} {}: {}; {}",
        spec.id,
        chosen.variant,
        chosen.why,
        chosen.kernel
    );
    let opts = EncoderOptions {
        intra_threads: cfg.threads,
        device: cfg.device,
        warm_up,
    };
    let enc = ClipEncoder::load(&manifest, &spec, &chosen.files, &opts)
        .with_context(|| {
            format!(
                "loading the {} model ({}) from {}",
                spec.id,
                chosen.variant,
                cfg.model_dir.display()
            )
        })?
        .with_text_cache(cfg.text_cache)
        .with_jpeg_draft(cfg.jpeg_draft)
        .with_variant(models::status::installed_variant(
            &cfg.model_dir.join(&spec.id),
            chosen.variant,
        ))
        .with_choice(chosen.why, chosen.kernel);
    Ok(Arc::new(enc))
}

/// The variant of the rows in the collection, for `--variant auto` (`None` when the choice is
/// explicit, or the collection is absent, empty or mixed).
pub async fn collection_variant(cfg: &Common, store: &MilvusStore) -> Option<Variant> {
    if cfg.variant != VariantChoice::Auto {
        return None;
    }
    match store.rows_variant().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("could not read the collection's variant: {e}");
            None
        }
    }
}

/// Store first, then the encoder with the collection's variant in mind (`--variant auto`).
pub async fn open_store_and_encoder(
    cfg: &Common,
    warm_up: bool,
) -> anyhow::Result<(OpenStore, Arc<ClipEncoder>)> {
    let (manifest, spec) = model_spec(cfg)?;
    // `--fetch-missing` before the store: a model that cannot be installed leaves its data
    // folder untouched (scripts/run.sh then goes on with the fixture in its own folder).
    fetch_if_missing(cfg, &manifest, &spec)?;
    // A model that is not there fails now, before an embedded Milvus is started for nothing.
    if manifest
        .files_variant(&spec, &cfg.model_dir, Variant::Int8)
        .is_err()
    {
        manifest.files_variant(&spec, &cfg.model_dir, Variant::Fp32)?;
    }
    let opened = open_store(cfg, &spec).await?;
    let coll = collection_variant(cfg, &opened.store).await;
    match open_encoder_for(cfg, warm_up, coll) {
        Ok(enc) => Ok((opened, enc)),
        Err(e) => {
            opened.close().await;
            Err(e)
        }
    }
}

/// A connected store, and the embedded server behind it when there is one (keep it alive:
/// dropping it stops Milvus Lite).
pub struct OpenStore {
    pub store: Arc<MilvusStore>,
    pub embedded: Option<EmbeddedMilvus>,
}

impl OpenStore {
    pub async fn close(self) {
        if let Some(e) = self.embedded {
            if let Err(err) = e.stop().await {
                tracing::warn!("stopping embedded Milvus: {err}");
            }
        }
    }
}

pub fn store_config(cfg: &Common, spec: &ModelSpec, uri: String) -> StoreConfig {
    StoreConfig {
        uri,
        token: cfg.milvus_token.clone(),
        collection: cfg.collection.clone(),
        vector_field: cfg.vector_field.clone(),
        path_field: cfg.path_field.clone(),
        path_max_len: 200,
        dim: spec.embed_dim,
        model_id: spec.id.clone(),
        index: match cfg.index {
            IndexChoice::IvfFlat => IndexKind::IvfFlat {
                nlist: cfg.nlist.unwrap_or(store::sizing::MIN_NLIST),
            },
            IndexChoice::IvfSq8 => IndexKind::IvfSq8 {
                nlist: cfg.nlist.unwrap_or(store::sizing::MIN_NLIST),
            },
            IndexChoice::Hnsw => IndexKind::Hnsw {
                m: cfg.hnsw_m,
                ef_construction: cfg.hnsw_ef_construction,
            },
        },
        nlist_auto: cfg.nlist.is_none(),
        nprobe: cfg.nprobe,
        ef: Some(cfg.ef),
        shards_num: 2,
    }
}

/// Name of the poem-line collection: `poem_lines`, or `<collection>_poem_lines` when the
/// photo collection is not the default one (so two photo collections on one Milvus keep their
/// poem lines apart when they use different models).
pub fn poem_collection(cfg: &Common) -> String {
    if cfg.collection == "multimodal_chinese_clip" {
        crate::poems::store::COLLECTION.to_owned()
    } else {
        format!("{}_{}", cfg.collection, crate::poems::store::COLLECTION)
    }
}

/// Start (or reach) Milvus and connect.
pub async fn open_store(cfg: &Common, spec: &ModelSpec) -> anyhow::Result<OpenStore> {
    let (uri, embedded) = if cfg.embedded_milvus() {
        let db = crate::paths::absolute(Path::new(&cfg.milvus_uri))?;
        let cwd = std::env::current_dir()?;
        let lib = store::lite::find_lite_lib_dir(&cwd)
            .or_else(|| store::lite::find_lite_lib_dir(Path::new(env!("CARGO_MANIFEST_DIR"))))
            .context(
                "Milvus Lite is not installed (no .venv/lib/python3*/site-packages/milvus_lite). \
                 Run `make run` or scripts/setup.sh, or set SHIHUA_MILVUS_LITE_LIB, or point \
                 MILVUS_URI at a Milvus server (http://host:19530)",
            )?;
        let e = EmbeddedMilvus::start_on(&db, &lib, cfg.lite_port).await?;
        tracing::info!(
            "embedded Milvus Lite on {} (data {})",
            e.uri(),
            db.display()
        );
        (e.uri(), Some(e))
    } else {
        (cfg.milvus_uri.clone(), None)
    };
    let store = MilvusStore::connect(store_config(cfg, spec, uri)).await?;
    Ok(OpenStore {
        store: Arc::new(store),
        embedded,
    })
}
