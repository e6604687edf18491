//! Opening what every command needs, from the settings: ONNX Runtime + the CLIP encoder, and
//! the Milvus store (an embedded Milvus Lite child process for a local path, or a server).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::clip::{self, ClipEncoder, EncoderOptions, Manifest, ModelSpec};
use crate::config::{Common, IndexChoice};
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

/// Load ONNX Runtime and both towers of the chosen model.
pub fn open_encoder(cfg: &Common, warm_up: bool) -> anyhow::Result<Arc<ClipEncoder>> {
    let (manifest, spec) = model_spec(cfg)?;
    let files = manifest.files_variant(&spec, &cfg.model_dir, cfg.variant)?;
    clip::runtime::init(None)?;
    let opts = EncoderOptions {
        intra_threads: cfg.threads,
        device: cfg.device,
        warm_up,
    };
    let enc = ClipEncoder::load(&manifest, &spec, &files, &opts)
        .with_context(|| {
            format!(
                "loading the {} model ({}) from {}",
                spec.id,
                cfg.variant,
                cfg.model_dir.display()
            )
        })?
        .with_text_cache(cfg.text_cache)
        .with_jpeg_draft(cfg.jpeg_draft)
        .with_variant(clip::fetch::installed_variant(
            &cfg.model_dir.join(&spec.id),
            cfg.variant,
        ));
    Ok(Arc::new(enc))
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
            IndexChoice::IvfFlat => IndexKind::IvfFlat { nlist: cfg.nlist },
            IndexChoice::Hnsw => IndexKind::Hnsw {
                m: cfg.hnsw_m,
                ef_construction: cfg.hnsw_ef_construction,
            },
        },
        nprobe: cfg.nprobe,
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
        let db = absolute(Path::new(&cfg.milvus_uri))?;
        let cwd = std::env::current_dir()?;
        let lib = store::embedded::find_lite_lib_dir(&cwd)
            .or_else(|| store::embedded::find_lite_lib_dir(Path::new(env!("CARGO_MANIFEST_DIR"))))
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

fn absolute(p: &Path) -> std::io::Result<std::path::PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}
