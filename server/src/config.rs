//! Every setting in one place: command-line flags with `SHIHUA_*` / `MILVUS_*` environment
//! fallbacks. Collection and field names, index parameters and model choice are decided here;
//! the embedding dim and preprocessing come from the model manifest.

use std::path::PathBuf;

use clap::Args;

use crate::clip::{Device, VariantChoice};

/// Settings shared by every subcommand.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Milvus to use: a local file path (e.g. ./data/milvus.db) starts an embedded Milvus Lite;
    /// http(s)://host:port connects to a Milvus server (standalone or cluster).
    #[arg(
        long,
        env = "MILVUS_URI",
        default_value = "./data/milvus.db",
        global = true
    )]
    pub milvus_uri: String,

    /// Port for the embedded Milvus Lite on 127.0.0.1 (e.g. to look at it with pymilvus or Attu
    /// while shihua runs); a free one when unset.
    #[arg(long, env = "SHIHUA_LITE_PORT", global = true)]
    pub lite_port: Option<u16>,

    /// Token for a Milvus server with authentication ("user:password" or an API key).
    #[arg(long, env = "MILVUS_TOKEN", hide_env_values = true, global = true)]
    pub milvus_token: Option<String>,

    /// Collection name (the reference article's default).
    #[arg(
        long,
        env = "SHIHUA_COLLECTION",
        default_value = "multimodal_chinese_clip",
        global = true
    )]
    pub collection: String,

    /// Model id from models/manifest.toml (default: the manifest's default, ViT-B-16).
    #[arg(long, env = "SHIHUA_MODEL", global = true)]
    pub model: Option<String>,

    /// Folder with manifest.toml, tokenizer.json and <model-id>/{image,text}.onnx.
    #[arg(
        long,
        env = "SHIHUA_MODEL_DIR",
        default_value = "models",
        global = true
    )]
    pub model_dir: PathBuf,

    /// ONNX Runtime intra-op threads (0 = all cores).
    #[arg(long, env = "SHIHUA_THREADS", default_value_t = 0, global = true)]
    pub threads: usize,

    /// Which weights: auto (default: int8 on a CPU with VNNI/AMX when the int8 graphs are
    /// installed, else fp32; an existing collection's variant first), fp32 (image.onnx,
    /// text.onnx) or int8 (image.int8.onnx, text.int8.onnx: dynamically quantised, faster on
    /// CPUs, embeddings close to fp32). docs/speed.md explains. Give it before the subcommand
    /// (`shihua --variant int8 serve`) or as SHIHUA_VARIANT: not global, because `models
    /// fetch` has its own `--variant` (which file to download).
    #[arg(long, env = "SHIHUA_VARIANT", value_enum, default_value_t = VariantChoice::Auto)]
    pub variant: VariantChoice,

    /// Text embeddings kept in an LRU cache (popular poem lines repeat); 0 turns it off.
    #[arg(long, env = "SHIHUA_TEXT_CACHE", default_value_t = 256, global = true)]
    pub text_cache: usize,

    /// Decode JPEGs much larger than the model input at a reduced scale (1/2 to 1/8, like
    /// Pillow's draft mode): faster indexing of camera photos, but not pixel-identical to
    /// cn_clip's preprocessing (bench/README.md has the measured difference).
    #[arg(long, env = "SHIHUA_JPEG_DRAFT", global = true)]
    pub jpeg_draft: bool,

    /// Where inference runs.
    #[arg(long, env = "SHIHUA_DEVICE", value_enum, default_value_t = Device::Auto, global = true)]
    pub device: Device,

    /// Vector index type: IVF_FLAT (the reference's), IVF_SQ8 (¼ of the memory) or HNSW
    /// (Milvus servers only; Milvus Lite supports FLAT and IVF_FLAT). docs/scale.md compares them.
    #[arg(long = "index", env = "SHIHUA_INDEX", value_enum, default_value_t = IndexChoice::IvfFlat, global = true)]
    pub index: IndexChoice,

    /// HNSW: links per node.
    #[arg(long, env = "SHIHUA_HNSW_M", default_value_t = 16, global = true)]
    pub hnsw_m: u32,

    /// HNSW: build beam width.
    #[arg(
        long,
        env = "SHIHUA_HNSW_EF_CONSTRUCTION",
        default_value_t = 200,
        global = true
    )]
    pub hnsw_ef_construction: u32,

    /// Name of the vector field.
    #[arg(
        long,
        env = "SHIHUA_VECTOR_FIELD",
        default_value = crate::store::row::DEFAULT_VECTOR_FIELD,
        global = true
    )]
    pub vector_field: String,

    /// Name of the file path field.
    #[arg(
        long,
        env = "SHIHUA_PATH_FIELD",
        default_value = crate::store::row::DEFAULT_PATH_FIELD,
        global = true
    )]
    pub path_field: String,

    /// IVF nlist. Default: from the row count when the index is built (4·√rows rounded to a
    /// power of two, never below the reference's 512; docs/scale.md).
    #[arg(long, env = "SHIHUA_NLIST", global = true)]
    pub nlist: Option<u32>,

    /// IVF search nprobe: lists searched per segment. Default: 1/32 of the index's lists, at
    /// least 64 (64 up to nlist 2048, 128 at the 4096 lists of 1M rows). Measured recall@10
    /// (docs/scale.md): 64 found ≥ 0.99 at 10k rows and 0.88 for the hardest queries at 100k;
    /// at 1M, 128 found 0.98 for photo-like queries. Raise it for recall, lower it for speed.
    #[arg(long, env = "SHIHUA_NPROBE", global = true)]
    pub nprobe: Option<u32>,

    /// When the chosen model's graphs are missing, download them first (`shihua models
    /// fetch`: resumable, verified). If that fails, shihua explains how to get them and exits
    /// with status 3 (`make run` then goes on with the fixture model).
    #[arg(long, env = "SHIHUA_FETCH_MISSING", global = true)]
    pub fetch_missing: bool,

    /// HNSW search beam (ef = max(k, this)). 256 measured recall@10 0.98 at 10k rows and 0.83
    /// for the hardest queries at 100k, where 64 found 0.75 and 0.57 (docs/scale.md).
    #[arg(long, env = "SHIHUA_EF", default_value_t = 256, global = true)]
    pub ef: u32,

    /// Folder for shihua's own data (thumbnail cache).
    #[arg(long, env = "SHIHUA_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Search results whose cosine to a better-ranked result is at least this are folded
    /// under it as near-identical photos (0.5 to 1; `all=1` / `search --all` unfold).
    #[arg(long, env = "SHIHUA_FOLD_THRESHOLD", default_value_t = app::search::FOLD_THRESHOLD,
          value_parser = fold_threshold, global = true)]
    pub fold_threshold: f32,
}

/// A `--fold-threshold`: a cosine from 0.5 to 1.
fn fold_threshold(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(t) if (0.5..=1.0).contains(&t) => Ok(t),
        _ => Err(format!(
            "a cosine from 0.5 to 1 (default {}), not {s:?}",
            app::search::FOLD_THRESHOLD
        )),
    }
}

/// Which vector index to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IndexChoice {
    IvfFlat,
    IvfSq8,
    Hnsw,
}

impl Common {
    /// True when `milvus_uri` names a local database file (embedded Milvus Lite).
    pub fn embedded_milvus(&self) -> bool {
        !(self.milvus_uri.starts_with("http://")
            || self.milvus_uri.starts_with("https://")
            || self.milvus_uri.starts_with("tcp://"))
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.model_dir.join("manifest.toml")
    }
}

/// `shihua serve` settings.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SHIHUA_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: std::net::SocketAddr,

    /// Folder with the built site (pkg/ with the wasm client and CSS, plus public files).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Largest accepted upload in bytes.
    #[arg(long, env = "SHIHUA_MAX_UPLOAD", default_value_t = 20 * 1024 * 1024)]
    pub max_upload: usize,

    /// Show visitors absolute server paths of photos (default: relative to the indexed folder).
    #[arg(long, env = "SHIHUA_SHOW_PATHS")]
    pub show_paths: bool,

    /// Picture searches that may wait for the model; more get 429 + Retry-After (docs/site.md).
    #[arg(long, env = "SHIHUA_PICTURE_QUEUE", default_value_t = 8)]
    pub picture_queue: usize,

    /// Picture searches one client (IP address) may make per minute, after a burst.
    #[arg(long, env = "SHIHUA_PICTURE_RATE", default_value_t = 30)]
    pub picture_rate: u32,

    /// Picture searches one client may make at once before the per-minute rate applies.
    #[arg(long, env = "SHIHUA_PICTURE_BURST", default_value_t = 5)]
    pub picture_burst: u32,

    /// Behind a reverse proxy: the client is the last X-Forwarded-For address (only with a
    /// proxy that sets it; otherwise clients could claim any address).
    #[arg(long, env = "SHIHUA_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// Serve under this sub-path behind a reverse proxy (e.g. /shihua): every link, asset, API
    /// and server-function URL carries it. The proxy passes paths on with the prefix.
    #[arg(long, env = "SHIHUA_BASE_PATH", default_value = "")]
    pub base_path: String,

    /// The site's public address (e.g. https://example.org/shihua): share links use it.
    #[arg(long, env = "SHIHUA_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Also append the CSP violation reports browsers send to this file (they are logged).
    #[arg(long, env = "SHIHUA_CSP_REPORT_LOG")]
    pub csp_report_log: Option<PathBuf>,

    /// Watch a photo folder (repeatable; SHIHUA_WATCH takes several separated by ':'): new,
    /// changed, renamed and deleted photos are indexed or removed within seconds, by the
    /// rules of `shihua index --prune`. A full rescan runs at start.
    #[arg(
        long = "watch",
        env = "SHIHUA_WATCH",
        value_name = "DIR",
        value_delimiter = ':'
    )]
    pub watch: Vec<PathBuf>,

    /// Watch folders: how long (milliseconds) a photo must be unchanged before it is read
    /// (a photo still being copied waits).
    #[arg(long, env = "SHIHUA_WATCH_SETTLE_MS", default_value_t = 2000)]
    pub watch_settle_ms: u64,

    /// Watch folders that cannot be watched (the system's inotify limit) are rescanned this
    /// often (seconds) instead.
    #[arg(long, env = "SHIHUA_WATCH_RESCAN_S", default_value_t = 300)]
    pub watch_rescan_s: u64,
}
