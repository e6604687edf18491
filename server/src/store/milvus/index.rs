//! The vector index and loading: the index kinds shihua builds ([`IndexKind`]: IVF_FLAT,
//! IVF_SQ8 or HNSW, always COSINE), creating the index (once, even when several workers try
//! at the same moment), waiting for it, checking that the server really applied the
//! configured type / metric / params ([`IndexInfo`] is what it reports), dropping it for a
//! rebuild, and loading the collection for search.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ::milvus::v2::error::Error as SdkError;
use ::milvus::v2::prelude::{
    ClientV2, CreateIndexRequest, DescribeIndexRequest, DropIndexRequest, GetLoadStateRequest,
    IndexDesc, IndexParam, IndexStateCode, IndexType, LoadCollectionRequest, LoadState, MetricType,
    ReleaseCollectionRequest,
};
use serde_json::{Map, Value};

use super::{sdk_error, MilvusStore};
use crate::store::error::StoreError;

/// How long to wait for an index build.
const INDEX_BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// How long to wait for a collection load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Vector index to build on the vector field (metric is always COSINE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexKind {
    /// Inverted file with flat storage: `nlist` clusters, searched with `nprobe`.
    IvfFlat { nlist: u32 },
    /// Inverted file with 8-bit scalar-quantised vectors (¼ of IVF_FLAT's memory).
    IvfSq8 { nlist: u32 },
    /// Graph index: `m` links per node, `ef_construction` build beam; searched with `ef`.
    Hnsw { m: u32, ef_construction: u32 },
}

impl Default for IndexKind {
    fn default() -> Self {
        IndexKind::IvfFlat { nlist: 512 }
    }
}

impl IndexKind {
    /// Milvus name of the index type.
    pub fn type_name(&self) -> &'static str {
        match self {
            IndexKind::IvfFlat { .. } => "IVF_FLAT",
            IndexKind::IvfSq8 { .. } => "IVF_SQ8",
            IndexKind::Hnsw { .. } => "HNSW",
        }
    }

    fn sdk_type(&self) -> IndexType {
        match self {
            IndexKind::IvfFlat { .. } => IndexType::IvfFlat,
            IndexKind::IvfSq8 { .. } => IndexType::IvfSq8,
            IndexKind::Hnsw { .. } => IndexType::Hnsw,
        }
    }

    /// Build parameters as Milvus names them.
    pub fn params(&self) -> BTreeMap<String, u32> {
        match self {
            IndexKind::IvfFlat { nlist } | IndexKind::IvfSq8 { nlist } => {
                BTreeMap::from([("nlist".to_owned(), *nlist)])
            }
            IndexKind::Hnsw { m, ef_construction } => BTreeMap::from([
                ("M".to_owned(), *m),
                ("efConstruction".to_owned(), *ef_construction),
            ]),
        }
    }

    /// The same kind with another `nlist` (IVF kinds; HNSW is returned unchanged).
    pub fn with_nlist(&self, nlist: u32) -> IndexKind {
        match self {
            IndexKind::IvfFlat { .. } => IndexKind::IvfFlat { nlist },
            IndexKind::IvfSq8 { .. } => IndexKind::IvfSq8 { nlist },
            other => other.clone(),
        }
    }

    /// Human form, e.g. `IVF_FLAT {nlist: 512} COSINE`.
    pub fn describe(&self) -> String {
        let params: Vec<String> = self
            .params()
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!("{} {{{}}} COSINE", self.type_name(), params.join(", "))
    }
}

/// The vector index as the server reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexInfo {
    pub index_name: String,
    /// e.g. `IVF_FLAT`.
    pub index_type: String,
    /// e.g. `COSINE`.
    pub metric_type: String,
    /// Build parameters as reported (e.g. `nlist` → `512`).
    pub params: BTreeMap<String, String>,
    /// e.g. `Finished`.
    pub state: String,
    pub indexed_rows: i64,
    pub total_rows: i64,
    pub pending_rows: i64,
}

impl MilvusStore {
    /// The index on the vector field, or `None` if there is none.
    pub async fn index_info(&self) -> Result<Option<IndexInfo>, StoreError> {
        Ok(self.describe_vector_index().await?.map(|d| index_info(&d)))
    }

    pub(super) async fn describe_vector_index(&self) -> Result<Option<IndexDesc>, StoreError> {
        let request = DescribeIndexRequest::builder()
            .collection_name(&self.cfg.collection)
            .field_name(&self.cfg.vector_field)
            .build();
        match self
            .call("describe_index", request, ClientV2::describe_index)
            .await
        {
            Ok(resp) => Ok(resp
                .indexes()
                .iter()
                .find(|d| d.get_field_name() == self.cfg.vector_field)
                .cloned()),
            Err(e) if sdk_error(&e).is_some_and(is_index_not_found) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the vector index if missing, waits for it, checks the server applied the
    /// configured type / metric / params, then loads the collection.
    pub async fn build_index_and_load(&self) -> Result<(), StoreError> {
        let existing = self.describe_vector_index().await?;
        if existing.is_none() {
            let kind = &self.index_to_create().await?;
            let params: Map<String, Value> = kind
                .params()
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect();
            // One JSON string under `params` (the per-key form is ignored by Milvus Lite).
            let extra = HashMap::from([("params".to_owned(), Value::Object(params).to_string())]);
            // Not `sync`: the build is polled below (`wait_index_finished`), the same way on
            // every server.
            let request = CreateIndexRequest::builder()
                .collection_name(&self.cfg.collection)
                .index_param(
                    IndexParam::new()
                        .field_name(&self.cfg.vector_field)
                        .index_name(&self.cfg.vector_field)
                        .index_type(kind.sdk_type())
                        .metric_type(MetricType::Cosine)
                        .extra_params(extra),
                )
                .sync(false)
                .build();
            tracing::info!(index = %kind.describe(), "creating index");
            let created = self
                .call("create_index", request, ClientV2::create_index)
                .await;
            // A new index may have other lists: read the search breadth from it again.
            self.auto_nprobe
                .store(0, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = created {
                let text = sdk_error(&e).map_or_else(|| e.to_string(), ToString::to_string);
                if text.contains("only support") || text.contains("invalid index type") {
                    return Err(StoreError::IndexUnsupported {
                        index: kind.describe(),
                        detail: text,
                    });
                }
                // Another process (a `--shard` worker) created it at the same moment: go on
                // with that one (checked below like any existing index).
                if self.describe_vector_index().await?.is_none() {
                    return Err(e);
                }
                tracing::info!("the index was created meanwhile by another process: {text}");
            }
        }
        let desc = self.wait_index_finished().await?;
        self.verify_index(&desc)?;
        self.load().await
    }

    /// The index a new build creates: the configured one, with `nlist` from the row count
    /// when `nlist_auto`.
    async fn index_to_create(&self) -> Result<IndexKind, StoreError> {
        let kind = &self.cfg.index;
        if !self.cfg.nlist_auto || matches!(kind, IndexKind::Hnsw { .. }) {
            return Ok(kind.clone());
        }
        let rows = self.stats_row_count().await.unwrap_or(0);
        Ok(kind.with_nlist(crate::store::sizing::recommended_nlist(rows)))
    }

    /// Drops the vector index (releasing the collection first, as Milvus requires), so that
    /// the next `build_index_and_load` builds it anew. Nothing happens if there is none.
    pub async fn drop_index(&self) -> Result<(), StoreError> {
        if self.describe_vector_index().await?.is_none() {
            return Ok(());
        }
        let release = ReleaseCollectionRequest::builder()
            .collection_name(&self.cfg.collection)
            .build();
        self.call("release_collection", release, ClientV2::release_collection)
            .await?;
        let request = DropIndexRequest::builder()
            .collection_name(&self.cfg.collection)
            .field_name(&self.cfg.vector_field)
            .index_name(&self.cfg.vector_field)
            .build();
        self.call("drop_index", request, ClientV2::drop_index).await
    }

    async fn wait_index_finished(&self) -> Result<IndexDesc, StoreError> {
        let started = Instant::now();
        loop {
            let Some(desc) = self.describe_vector_index().await? else {
                return Err(StoreError::Malformed {
                    op: "describe_index",
                    detail: "the index just created is not described".into(),
                });
            };
            match desc.get_state() {
                IndexStateCode::Finished => return Ok(desc),
                IndexStateCode::Failed => {
                    return Err(StoreError::IndexFailed {
                        collection: self.cfg.collection.clone(),
                        reason: desc.get_failure_reason().to_owned(),
                    })
                }
                // Servers that build synchronously may report no state at all.
                IndexStateCode::None if desc.get_pending_rows() == 0 => return Ok(desc),
                _ => {}
            }
            if started.elapsed() > INDEX_BUILD_TIMEOUT {
                return Err(StoreError::Timeout {
                    what: format!("building the index on '{}'", self.cfg.collection),
                    secs: INDEX_BUILD_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    fn verify_index(&self, desc: &IndexDesc) -> Result<(), StoreError> {
        let info = index_info(desc);
        let kind = &self.cfg.index;
        let mut ok = info.index_type == kind.type_name() && info.metric_type == "COSINE";
        for (k, v) in kind.params() {
            if k == "nlist" && self.cfg.nlist_auto {
                continue;
            }
            ok &= info.params.get(&k).map(|s| s.trim_matches('"')) == Some(v.to_string().as_str());
        }
        if ok {
            return Ok(());
        }
        let params: Vec<String> = info
            .params
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "index_type" | "metric_type" | "mmap.enabled"))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        Err(StoreError::IndexMismatch {
            collection: self.cfg.collection.clone(),
            expected: kind.describe(),
            actual: format!(
                "{} {{{}}} {}",
                info.index_type,
                params.join(", "),
                info.metric_type
            ),
        })
    }

    /// Loads the collection for search and checks it reports `Loaded`. Needed after every
    /// server restart.
    pub async fn load(&self) -> Result<(), StoreError> {
        let request = LoadCollectionRequest::builder()
            .collection_name(&self.cfg.collection)
            .sync(true)
            .timeout_ms(LOAD_TIMEOUT.as_millis() as i64)
            .build();
        self.call("load_collection", request, ClientV2::load_collection)
            .await?;
        let state = self.load_state().await?;
        if state != LoadState::Loaded {
            return Err(StoreError::NotLoaded {
                collection: self.cfg.collection.clone(),
                state: format!("{state:?}"),
            });
        }
        Ok(())
    }

    pub(super) async fn load_state(&self) -> Result<LoadState, StoreError> {
        let request = GetLoadStateRequest::builder()
            .collection_name(&self.cfg.collection)
            .build();
        let answer = self.call("get_load_state", request, ClientV2::get_load_state);
        Ok(answer.await?.state())
    }
}

fn is_index_not_found(e: &SdkError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("index not found")
        || text.contains("index not exist")
        || text.contains("index doesn't exist")
        || text.contains("indexnotexist")
        || text.contains("code=700")
}

fn index_type_name(t: IndexType) -> String {
    match t {
        IndexType::IvfFlat => "IVF_FLAT".into(),
        IndexType::Hnsw => "HNSW".into(),
        IndexType::Flat => "FLAT".into(),
        IndexType::IvfSq8 => "IVF_SQ8".into(),
        IndexType::IvfPq => "IVF_PQ".into(),
        IndexType::AutoIndex => "AUTOINDEX".into(),
        other => format!("{other:?}"),
    }
}

fn metric_name(m: MetricType) -> String {
    match m {
        MetricType::Cosine => "COSINE".into(),
        MetricType::L2 => "L2".into(),
        MetricType::Ip => "IP".into(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

pub(super) fn index_info(d: &IndexDesc) -> IndexInfo {
    IndexInfo {
        index_name: d.get_index_name().to_owned(),
        index_type: index_type_name(d.get_index_type()),
        metric_type: metric_name(d.get_metric_type()),
        params: d
            .get_extra_params()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        state: format!("{:?}", d.get_state()),
        indexed_rows: d.get_indexed_rows(),
        total_rows: d.get_total_rows(),
        pending_rows: d.get_pending_rows(),
    }
}
