//! `MilvusStore`: the one place that talks to Milvus (via `milvus-sdk-rust` `ClientV2`).
//!
//! Owns the client, its configuration ([`StoreConfig`]) and the one way an RPC is made
//! ([`MilvusStore::call`]: build the request, send it, map both errors to [`StoreError`]
//! under the operation's name; [`MilvusStore::read`] for reads, see below). The work is split
//! by job:
//! - `connect`: connecting with retries, the readiness probe, the health check;
//! - `schema`: the collection layout of the reference article (`id` INT64 primary key with
//!   auto ids, `vectors` FLOAT_VECTOR, `filepath` VARCHAR, dynamic fields on) and the
//!   model/dimension stamp kept in the collection description, checked on open;
//! - `index`: index creation (IVF_FLAT, IVF_SQ8 or HNSW, COSINE) with a check that the server
//!   really applied the parameters, and loading;
//! - `rows`: inserts (validated, serialised), deletes, point reads, listing, counting;
//! - `search`: nearest-neighbour search;
//! - `stats`: what `shihua collection stats` shows.
//!
//! Portability workarounds (Milvus Lite 2.5.1 / 3.x and Milvus standalone), each explained
//! where it is made: the index is created with `sync(false)` and polled with `describe_index`;
//! index params are sent as one JSON string under the key `params`; search hits are read from
//! ids / scores / output columns directly instead of `rows()`; SDK telemetry is off. Real
//! Milvus (standalone 2.3.5, cluster) only reads loaded collections and only loads indexed
//! ones, while Milvus Lite reads any: a read refused with "collection not loaded" loads the
//! collection (building the configured index first if it has none) and is tried once more
//! ([`MilvusStore::read`]).

mod connect;
mod index;
mod rows;
mod schema;
mod search;
mod stats;

use std::future::Future;

use ::milvus::v2::error::{Error as SdkError, Result as SdkResult};
use ::milvus::v2::prelude::ClientV2;
use tokio::sync::Mutex;

use super::error::StoreError;
use super::row::{DEFAULT_PATH_FIELD, DEFAULT_VECTOR_FIELD};

pub use self::index::{IndexInfo, IndexKind};
pub use self::stats::CollectionInfo;

/// Where and how the photo vectors are stored.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// gRPC address, e.g. `http://127.0.0.1:19530`.
    pub uri: String,
    /// `user:password` or an API key; `None` for servers without auth (Milvus Lite).
    pub token: Option<String>,
    pub collection: String,
    pub vector_field: String,
    pub path_field: String,
    /// Maximum file path length in bytes (VARCHAR max_length).
    pub path_max_len: u32,
    /// Embedding dimension (from the model).
    pub dim: usize,
    /// Model identifier stamped into the collection description and checked on open.
    pub model_id: String,
    pub index: IndexKind,
    /// IVF kinds: choose `nlist` from the row count when the index is created
    /// (`sizing::recommended_nlist`) instead of the one in `index`, and accept an existing
    /// index whatever its `nlist`.
    pub nlist_auto: bool,
    /// IVF search breadth; `None`: from the index's `nlist` (`sizing::recommended_nprobe`).
    pub nprobe: Option<u32>,
    /// HNSW search beam: `max(k, ef)` (64 when `None`).
    pub ef: Option<u32>,
    pub shards_num: i32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            uri: "http://127.0.0.1:19530".to_owned(),
            token: None,
            collection: "multimodal_chinese_clip".to_owned(),
            vector_field: DEFAULT_VECTOR_FIELD.to_owned(),
            path_field: DEFAULT_PATH_FIELD.to_owned(),
            path_max_len: 200,
            dim: 512,
            model_id: "ViT-B-16".to_owned(),
            index: IndexKind::default(),
            nlist_auto: false,
            nprobe: Some(16),
            ef: None,
            shards_num: 2,
        }
    }
}

/// Client for the shihua collection. Cheap to share behind an `Arc`.
pub struct MilvusStore {
    client: ClientV2,
    cfg: StoreConfig,
    /// Milvus Lite says concurrent writes to one collection are unsafe: inserts take this lock.
    write_lock: Mutex<()>,
    /// Longest file path (bytes) the collection takes: `cfg.path_max_len` until a collection
    /// is opened (then its schema's) or raised for a new collection (`fit_paths`).
    path_limit: std::sync::atomic::AtomicU32,
    /// The `nprobe` read from the index when `cfg.nprobe` is `None` (0: not read yet; an index
    /// built by this store resets it).
    pub(super) auto_nprobe: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for MilvusStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilvusStore")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl MilvusStore {
    fn new(client: ClientV2, cfg: StoreConfig) -> Self {
        let path_limit = std::sync::atomic::AtomicU32::new(cfg.path_max_len);
        MilvusStore {
            client,
            cfg,
            write_lock: Mutex::new(()),
            path_limit,
            auto_nprobe: std::sync::atomic::AtomicU32::new(0),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Maps an SDK error of operation `op` to a [`StoreError`].
    fn err(&self, op: &'static str) -> impl FnOnce(SdkError) -> StoreError + '_ {
        move |e| StoreError::from_sdk(op, &self.cfg.uri, e)
    }

    /// One RPC: builds `request` (the builder's result, whose validation error is mapped like
    /// the call's), sends it with `rpc` (a `ClientV2` method) and maps its error, both under
    /// the operation's name `op`.
    async fn call<'a, R, T, Fut>(
        &'a self,
        op: &'static str,
        request: SdkResult<R>,
        rpc: impl FnOnce(&'a ClientV2, R) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = SdkResult<T>>,
    {
        let request = request.map_err(self.err(op))?;
        rpc(&self.client, request).await.map_err(self.err(op))
    }

    /// [`call`](Self::call) for a read. Real Milvus refuses to read a collection that is not
    /// loaded (code 101, e.g. a new collection, or one released), and loads only a collection
    /// with an index; Milvus Lite reads any. So on that refusal: load the collection, first
    /// building the configured index if there is none (the same index `build_index_and_load`
    /// makes after an ingest), and try once more.
    async fn read<'a, R: Clone, T, Fut>(
        &'a self,
        op: &'static str,
        request: SdkResult<R>,
        rpc: impl Fn(&'a ClientV2, R) -> Fut + Copy,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = SdkResult<T>>,
    {
        let request = request.map_err(self.err(op))?;
        match self.call(op, Ok(request.clone()), rpc).await {
            Err(e) if sdk_error(&e).is_some_and(is_not_loaded) => {
                let collection = &self.cfg.collection;
                if self.describe_vector_index().await?.is_some() {
                    tracing::info!(%collection, "collection not loaded; loading it");
                    self.load().await?;
                } else {
                    tracing::info!(%collection, "collection not loaded and has no index; \
                        building the index, then loading it");
                    self.build_index_and_load().await?;
                }
                self.call(op, Ok(request), rpc).await
            }
            answer => answer,
        }
    }
}

/// The error the server answered with, if it answered (not for transport failures).
fn sdk_error(e: &StoreError) -> Option<&SdkError> {
    match e {
        StoreError::Milvus { source, .. } => Some(source.as_ref()),
        _ => None,
    }
}

/// "collection not loaded" (Milvus code 101): real Milvus reads only loaded collections.
fn is_not_loaded(e: &SdkError) -> bool {
    match e {
        SdkError::Server(s) if s.code() == 101 => true,
        other => other
            .to_string()
            .to_ascii_lowercase()
            .contains("collection not loaded"),
    }
}
