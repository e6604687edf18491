//! `MilvusStore`: the one place that talks to Milvus (via `milvus-sdk-rust` `ClientV2`).
//!
//! Owns the collection layout of the reference article (`id` INT64 primary key with auto ids,
//! `vectors` FLOAT_VECTOR, `filepath` VARCHAR, dynamic fields on), the model/dimension stamp
//! kept in the collection description, index creation (IVF_FLAT or HNSW, COSINE) with a check
//! that the server really applied the parameters, loading, inserts (serialised), search, point
//! reads and the statistics shown by `shihua collection stats`.
//!
//! Portability workarounds (Milvus Lite 2.5.1 / 3.x and Milvus standalone, see NOTES.md):
//! the index is created with `sync(false)` and polled with `describe_index`; index params are
//! sent as one JSON string under the key `params`; search hits are read from ids / scores /
//! output columns directly instead of `rows()`; SDK telemetry is off. Real Milvus (standalone
//! 2.3.5, cluster) only reads loaded collections and only loads indexed ones, while Milvus Lite
//! reads any: a read refused with "collection not loaded" loads the collection (building the
//! configured index first if it has none) and is tried once more (`read_loaded`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ::milvus::v2::prelude::{
    ClientV2, CollectionSchema, ConnectConfig, ConsistencyLevel, CreateCollectionRequest,
    CreateIndexRequest, DataType, DeleteRequest, DescribeCollectionRequest, DescribeIndexRequest,
    DropCollectionRequest, FieldData, FieldSchema, FlushRequest, GetLoadStateRequest,
    HasCollectionRequest, Ids, IndexDesc, IndexParam, IndexStateCode, IndexType, InsertRequest,
    LoadCollectionRequest, LoadState, MetricType, QueryRequest, RetryConfig, SearchRequest,
    SearchVectors, TelemetryConfig,
};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::error::StoreError;

/// Name of the INT64 primary-key field (auto ids), as in the reference article.
pub const ID_FIELD: &str = "id";
/// The JSON column Milvus uses for dynamic fields.
const META_FIELD: &str = "$meta";
/// Prefix of the collection description written by shihua.
const DESCRIPTION_PREFIX: &str = "shihua";
/// Rows per insert RPC (512-d float rows are ~2 KiB; keeps messages far below gRPC limits).
const INSERT_CHUNK: usize = 1000;
/// Most rows fetched by one query (Milvus caps offset + limit at 16,384; Milvus Lite silently
/// cuts plain queries there).
const QUERY_PAGE: u64 = 8192;
/// Ids per delete expression.
const DELETE_CHUNK: usize = 1000;
/// How long `connect` keeps trying.
const CONNECT_BUDGET: Duration = Duration::from_secs(10);
/// Deadline of one RPC attempt.
const RPC_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for an index build.
const INDEX_BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// How long to wait for a collection load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Deadline of the health check.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// IVF search breadth.
    pub nprobe: u32,
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
            vector_field: "vectors".to_owned(),
            path_field: "filepath".to_owned(),
            path_max_len: 200,
            dim: 512,
            model_id: "ViT-B-16".to_owned(),
            index: IndexKind::default(),
            nlist_auto: false,
            nprobe: 16,
            ef: None,
            shards_num: 2,
        }
    }
}

/// A row to insert. The id is assigned by Milvus.
#[derive(Clone, Debug)]
pub struct NewRow {
    pub vector: Vec<f32>,
    pub filepath: String,
    /// Dynamic fields (e.g. width, height, model, sha256, mtime). Must not reuse the names of
    /// the fixed fields.
    pub extra: Map<String, Value>,
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredHit {
    pub id: i64,
    pub filepath: String,
    /// Cosine similarity, higher is better (1.0 = same direction).
    pub score: f32,
}

/// One stored row without its vector.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRow {
    pub id: i64,
    pub filepath: String,
    pub extra: Map<String, Value>,
}

/// What `list_indexed` returns per row: enough for the indexer to skip unchanged files.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedFile {
    pub id: i64,
    pub filepath: String,
    /// Dynamic field `size` (bytes), if stored.
    pub size: Option<u64>,
    /// Dynamic field `mtime` (seconds since the epoch), if stored.
    pub mtime: Option<u64>,
    /// Dynamic field `mtime_ns` (nanoseconds since the epoch), if stored (rows written since
    /// shihua compares mtimes to the nanosecond).
    pub mtime_ns: Option<u64>,
    /// Dynamic field `sha256` (hex), if stored.
    pub sha256: Option<String>,
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

/// What `shihua collection stats` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionInfo {
    pub name: String,
    pub description: String,
    /// Model stamped into the description (`None` if not created by shihua).
    pub model: Option<String>,
    pub dim: usize,
    pub path_max_len: u32,
    pub shards: i64,
    pub rows: u64,
    pub index: Option<IndexInfo>,
    /// e.g. `Loaded`, `NotLoad`.
    pub load_state: String,
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
}

impl std::fmt::Debug for MilvusStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilvusStore")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl MilvusStore {
    /// Connects (retrying with backoff for about 10 s while nothing answers) and checks the
    /// server answers (`ping`).
    pub async fn connect(cfg: StoreConfig) -> Result<Self, StoreError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let remaining = CONNECT_BUDGET
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(500));
            let err = match Self::connect_once(&cfg, remaining).await {
                Ok(client) => {
                    let store = MilvusStore {
                        client,
                        cfg: cfg.clone(),
                        write_lock: Mutex::new(()),
                        path_limit: std::sync::atomic::AtomicU32::new(cfg.path_max_len),
                    };
                    match store.ping().await {
                        Ok(()) => return Ok(store),
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            if !err.is_unavailable() || started.elapsed() + backoff >= CONNECT_BUDGET {
                return Err(err);
            }
            tracing::debug!(error = %err, "Milvus not answering yet; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn connect_once(cfg: &StoreConfig, timeout: Duration) -> Result<ClientV2, StoreError> {
        let mut conn = ConnectConfig::new()
            .uri(cfg.uri.clone())
            .connect_timeout(timeout)
            .rpc_timeout(RPC_TIMEOUT)
            .retry(
                RetryConfig::new()
                    .max_attempts(5)
                    .max_retry_timeout(Duration::from_secs(10))
                    .initial_backoff(Duration::from_millis(50))
                    .max_backoff(Duration::from_secs(2)),
            )
            .telemetry(TelemetryConfig::new().enabled(false));
        if let Some(token) = &cfg.token {
            conn = conn.token(token.clone());
        }
        // The SDK itself waits for the server up to `connect_timeout`.
        match tokio::time::timeout(timeout + Duration::from_secs(1), ClientV2::new(&conn)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(StoreError::from_sdk("connect", &cfg.uri, e)),
            Err(_) => Err(StoreError::Unavailable {
                uri: cfg.uri.clone(),
                detail: format!("no answer within {} s", timeout.as_secs()),
            }),
        }
    }

    /// One connection attempt plus `ping`, both bounded by `timeout`; used to
    /// tell when a freshly started server is ready.
    pub(crate) async fn probe(uri: &str, timeout: Duration) -> Result<(), StoreError> {
        let cfg = StoreConfig {
            uri: uri.to_owned(),
            ..StoreConfig::default()
        };
        let client = Self::connect_once(&cfg, timeout).await?;
        let path_limit = std::sync::atomic::AtomicU32::new(cfg.path_max_len);
        let store = MilvusStore {
            client,
            cfg,
            write_lock: Mutex::new(()),
            path_limit,
        };
        store.ping().await
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    fn err(&self, op: &'static str) -> impl FnOnce(::milvus::v2::error::Error) -> StoreError + '_ {
        move |e| StoreError::from_sdk(op, &self.cfg.uri, e)
    }

    /// Builds a request, mapping the SDK's validation error.
    fn req<T>(&self, op: &'static str, r: ::milvus::v2::error::Result<T>) -> Result<T, StoreError> {
        r.map_err(self.err(op))
    }

    pub async fn has_collection(&self) -> Result<bool, StoreError> {
        let req = self.req(
            "has_collection",
            HasCollectionRequest::builder()
                .collection_name(&self.cfg.collection)
                .build(),
        )?;
        let resp = self
            .client
            .has_collection(req)
            .await
            .map_err(self.err("has_collection"))?;
        Ok(resp.exists())
    }

    /// Longest file path in bytes that the collection accepts.
    pub fn path_limit(&self) -> u32 {
        self.path_limit.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Before a collection is created: make its path field long enough for `longest` bytes
    /// (never shorter than configured, at most VARCHAR's 65,535), so long paths are stored
    /// whole rather than truncated or refused. Returns the new limit if it was raised.
    pub fn fit_paths(&self, longest: usize) -> Option<u32> {
        let longest = u32::try_from(longest).unwrap_or(u32::MAX).min(65_535);
        if longest <= self.path_limit() {
            return None;
        }
        let raised = longest.div_ceil(64).saturating_mul(64).min(65_535);
        self.path_limit
            .store(raised, std::sync::atomic::Ordering::Relaxed);
        Some(raised)
    }

    /// The description written into new collections.
    pub fn description_for(model_id: &str, dim: usize) -> String {
        format!("{DESCRIPTION_PREFIX} model={model_id} dim={dim}")
    }

    /// Parses `shihua model=<id> dim=<n>`; `None` if the collection was not made by shihua.
    pub fn parse_description(desc: &str) -> Option<(String, usize)> {
        let rest = desc
            .strip_prefix(DESCRIPTION_PREFIX)?
            .strip_prefix(" model=")?;
        let (model, dim) = rest.rsplit_once(" dim=")?;
        let dim = dim.trim().parse().ok()?;
        Some((model.to_owned(), dim))
    }

    /// Creates the collection if missing (dropping it first when `recreate`); if it exists,
    /// checks that model, dimension and fields match the configuration.
    pub async fn ensure_collection(&self, recreate: bool) -> Result<(), StoreError> {
        if recreate && self.has_collection().await? {
            tracing::info!(collection = %self.cfg.collection, "dropping collection (--recreate)");
            self.drop_collection().await?;
        }
        if self.has_collection().await? {
            return self.verify_existing().await;
        }
        if self.cfg.model_id.trim().is_empty() || self.cfg.model_id.contains(char::is_whitespace) {
            return Err(StoreError::InvalidRow(format!(
                "model id '{}' must be non-empty and contain no spaces",
                self.cfg.model_id
            )));
        }
        let description = Self::description_for(&self.cfg.model_id, self.cfg.dim);
        let schema = CollectionSchema::new()
            .enable_dynamic_field(true)
            .description(description.clone())
            .add_field(
                FieldSchema::new()
                    .name(ID_FIELD)
                    .description("ids")
                    .data_type(DataType::Int64)
                    .primary_key(true)
                    .auto_id(true),
            )
            .add_field(
                FieldSchema::new()
                    .name(&self.cfg.vector_field)
                    .description("embedding vectors")
                    .data_type(DataType::FloatVector)
                    .dimension(self.cfg.dim as u32),
            )
            .add_field(
                FieldSchema::new()
                    .name(&self.cfg.path_field)
                    .description("file path")
                    .data_type(DataType::VarChar)
                    .max_length(self.path_limit()),
            );
        let req = self.req(
            "create_collection",
            CreateCollectionRequest::builder()
                .collection_name(&self.cfg.collection)
                .description(description)
                .schema(schema)
                .num_shards(self.cfg.shards_num)
                .build(),
        )?;
        self.client
            .create_collection(req)
            .await
            .map_err(self.err("create_collection"))?;
        // The article's check: wait until the server lists it.
        let started = Instant::now();
        while !self.has_collection().await? {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(StoreError::Timeout {
                    what: format!("waiting for collection '{}' to appear", self.cfg.collection),
                    secs: 10,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::info!(collection = %self.cfg.collection, model = %self.cfg.model_id,
            dim = self.cfg.dim, "created collection");
        Ok(())
    }

    async fn describe_collection_raw(
        &self,
    ) -> Result<::milvus::v2::prelude::DescribeCollectionResponse, StoreError> {
        let req = self.req(
            "describe_collection",
            DescribeCollectionRequest::builder()
                .collection_name(&self.cfg.collection)
                .build(),
        )?;
        self.client
            .describe_collection(req)
            .await
            .map_err(self.err("describe_collection"))
    }

    async fn verify_existing(&self) -> Result<(), StoreError> {
        let resp = self.describe_collection_raw().await?;
        let desc = resp.description();
        let collection = self.cfg.collection.clone();
        let description = if desc.get_description().is_empty() {
            desc.get_schema().get_description()
        } else {
            desc.get_description()
        };
        let fields = desc.get_schema().get_fields();
        let vector = fields
            .iter()
            .find(|f| f.get_name() == self.cfg.vector_field);
        let Some(vector) = vector.filter(|f| f.get_data_type() == DataType::FloatVector) else {
            return Err(StoreError::SchemaMismatch {
                collection,
                detail: format!("no FLOAT_VECTOR field '{}'", self.cfg.vector_field),
            });
        };
        let path = fields.iter().find(|f| f.get_name() == self.cfg.path_field);
        match path.filter(|f| f.get_data_type() == DataType::VarChar) {
            Some(f) => {
                if f.get_max_length() > 0 {
                    self.path_limit
                        .store(f.get_max_length(), std::sync::atomic::Ordering::Relaxed);
                }
            }
            None => {
                return Err(StoreError::SchemaMismatch {
                    collection,
                    detail: format!("no VARCHAR field '{}'", self.cfg.path_field),
                });
            }
        }
        let pk = fields.iter().find(|f| f.is_primary_key());
        if !pk.is_some_and(|f| f.get_name() == ID_FIELD && f.get_data_type() == DataType::Int64) {
            return Err(StoreError::SchemaMismatch {
                collection,
                detail: format!("primary key is not INT64 '{ID_FIELD}'"),
            });
        }
        let collection_dim = vector.get_dimension() as usize;
        match Self::parse_description(description) {
            Some((model, _)) if model != self.cfg.model_id => Err(StoreError::ModelMismatch {
                collection,
                collection_model: model,
                expected_model: self.cfg.model_id.clone(),
            }),
            None => Err(StoreError::ModelMismatch {
                collection,
                collection_model: format!("an unknown model (description {description:?})"),
                expected_model: self.cfg.model_id.clone(),
            }),
            Some(_) if collection_dim != self.cfg.dim => Err(StoreError::DimMismatch {
                collection,
                collection_dim,
                expected_dim: self.cfg.dim,
            }),
            Some(_) => Ok(()),
        }
    }

    fn check_vector(&self, v: &[f32]) -> Result<(), StoreError> {
        if v.len() != self.cfg.dim {
            return Err(StoreError::BadVector {
                expected: self.cfg.dim,
                got: v.len(),
                detail: "wrong dimension; was it made by another model?".into(),
            });
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(StoreError::BadVector {
                expected: self.cfg.dim,
                got: v.len(),
                detail: format!("value {i} is {}", v[i]),
            });
        }
        Ok(())
    }

    fn check_row(&self, row: &NewRow) -> Result<(), StoreError> {
        self.check_vector(&row.vector)?;
        let len = row.filepath.len();
        if len > self.path_limit() as usize {
            return Err(StoreError::PathTooLong {
                path: row.filepath.clone(),
                len,
                max: self.path_limit(),
            });
        }
        if row.filepath.is_empty() {
            return Err(StoreError::InvalidRow("empty file path".into()));
        }
        for key in row.extra.keys() {
            if key == ID_FIELD
                || key == &self.cfg.vector_field
                || key == &self.cfg.path_field
                || key.starts_with('$')
                || key.is_empty()
            {
                return Err(StoreError::InvalidRow(format!(
                    "extra field '{key}' clashes with a reserved field name"
                )));
            }
        }
        Ok(())
    }

    /// Inserts rows (validated first: dimension, finite values, path length) and returns the
    /// auto ids in row order. Nothing is inserted if any row is invalid.
    pub async fn insert(&self, rows: Vec<NewRow>) -> Result<Vec<i64>, StoreError> {
        for row in &rows {
            self.check_row(row)?;
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.write_lock.lock().await;
        let mut ids = Vec::with_capacity(rows.len());
        let mut rows = rows;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(INSERT_CHUNK));
            let chunk = std::mem::replace(&mut rows, rest);
            let n = chunk.len();
            let mut vectors = Vec::with_capacity(n);
            let mut paths = Vec::with_capacity(n);
            let mut metas = Vec::with_capacity(n);
            for row in chunk {
                vectors.push(row.vector);
                paths.push(row.filepath);
                metas.push(Value::Object(row.extra));
            }
            let req = self.req(
                "insert",
                InsertRequest::builder()
                    .collection_name(&self.cfg.collection)
                    .columns(vec![
                        FieldData::float_vector(&self.cfg.vector_field, vectors),
                        FieldData::varchar(&self.cfg.path_field, paths),
                        FieldData::json(META_FIELD, metas),
                    ])
                    .build(),
            )?;
            let resp = self.client.insert(req).await.map_err(self.err("insert"))?;
            match resp.ids() {
                Ids::Int64(v) if v.len() == n => ids.extend_from_slice(v),
                other => {
                    return Err(StoreError::Malformed {
                        op: "insert",
                        detail: format!("expected {n} INT64 ids, got {other:?}"),
                    })
                }
            }
        }
        Ok(ids)
    }

    /// Flushes inserted rows to durable storage.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let req = self.req(
            "flush",
            FlushRequest::builder()
                .collection_names([self.cfg.collection.clone()])
                .wait_flushed_ms(120_000)
                .build(),
        )?;
        self.client.flush(req).await.map_err(self.err("flush"))?;
        Ok(())
    }

    /// The index on the vector field, or `None` if there is none.
    pub async fn index_info(&self) -> Result<Option<IndexInfo>, StoreError> {
        Ok(self.describe_vector_index().await?.map(|d| index_info(&d)))
    }

    async fn describe_vector_index(&self) -> Result<Option<IndexDesc>, StoreError> {
        let req = self.req(
            "describe_index",
            DescribeIndexRequest::builder()
                .collection_name(&self.cfg.collection)
                .field_name(&self.cfg.vector_field)
                .build(),
        )?;
        match self.client.describe_index(req).await {
            Ok(resp) => Ok(resp
                .indexes()
                .iter()
                .find(|d| d.get_field_name() == self.cfg.vector_field)
                .cloned()),
            Err(e) if is_index_not_found(&e) => Ok(None),
            Err(e) => Err(StoreError::from_sdk("describe_index", &self.cfg.uri, e)),
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
            let req = self.req(
                "create_index",
                CreateIndexRequest::builder()
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
                    .build(),
            )?;
            tracing::info!(index = %kind.describe(), "creating index");
            if let Err(e) = self.client.create_index(req).await {
                let text = e.to_string();
                if text.contains("only support") || text.contains("invalid index type") {
                    return Err(StoreError::IndexUnsupported {
                        index: kind.describe(),
                        detail: text,
                    });
                }
                // Another process (a `--shard` worker) created it at the same moment: go on
                // with that one (checked below like any existing index).
                if self.describe_vector_index().await?.is_none() {
                    return Err(StoreError::from_sdk("create_index", &self.cfg.uri, e));
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
        Ok(kind.with_nlist(super::sizing::recommended_nlist(rows)))
    }

    /// Drops the vector index (releasing the collection first, as Milvus requires), so that
    /// the next `build_index_and_load` builds it anew. Nothing happens if there is none.
    pub async fn drop_index(&self) -> Result<(), StoreError> {
        if self.describe_vector_index().await?.is_none() {
            return Ok(());
        }
        let release = self.req(
            "release_collection",
            ::milvus::v2::request::collection::ReleaseCollectionRequest::builder()
                .collection_name(&self.cfg.collection)
                .build(),
        )?;
        self.client
            .release_collection(release)
            .await
            .map_err(self.err("release_collection"))?;
        let req = self.req(
            "drop_index",
            ::milvus::v2::request::index::DropIndexRequest::builder()
                .collection_name(&self.cfg.collection)
                .field_name(&self.cfg.vector_field)
                .index_name(&self.cfg.vector_field)
                .build(),
        )?;
        self.client
            .drop_index(req)
            .await
            .map_err(self.err("drop_index"))?;
        Ok(())
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
        let req = self.req(
            "load_collection",
            LoadCollectionRequest::builder()
                .collection_name(&self.cfg.collection)
                .sync(true)
                .timeout_ms(LOAD_TIMEOUT.as_millis() as i64)
                .build(),
        )?;
        self.client
            .load_collection(req)
            .await
            .map_err(self.err("load_collection"))?;
        let state = self.load_state().await?;
        if state != LoadState::Loaded {
            return Err(StoreError::NotLoaded {
                collection: self.cfg.collection.clone(),
                state: format!("{state:?}"),
            });
        }
        Ok(())
    }

    async fn load_state(&self) -> Result<LoadState, StoreError> {
        let req = self.req(
            "get_load_state",
            GetLoadStateRequest::builder()
                .collection_name(&self.cfg.collection)
                .build(),
        )?;
        let resp = self
            .client
            .get_load_state(req)
            .await
            .map_err(self.err("get_load_state"))?;
        Ok(resp.state())
    }

    /// Runs a read RPC. Real Milvus refuses to read a collection that is not loaded (code 101,
    /// e.g. a new collection, or one released), and loads only a collection with an index;
    /// Milvus Lite reads any. So on that refusal: load the collection, first building the
    /// configured index if there is none (the same index `build_index_and_load` makes after
    /// an ingest), and try once more.
    async fn read_loaded<T, F, Fut>(&self, op: &'static str, rpc: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = ::milvus::v2::error::Result<T>>,
    {
        match rpc().await {
            Err(e) if is_not_loaded(&e) => {
                let collection = &self.cfg.collection;
                if self.describe_vector_index().await?.is_some() {
                    tracing::info!(%collection, "collection not loaded; loading it");
                    self.load().await?;
                } else {
                    tracing::info!(%collection, "collection not loaded and has no index; \
                        building the index, then loading it");
                    self.build_index_and_load().await?;
                }
                rpc().await.map_err(self.err(op))
            }
            r => r.map_err(self.err(op)),
        }
    }

    /// Number of rows (`count(*)`, strong consistency).
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.count_where("").await
    }

    async fn count_where(&self, filter: &str) -> Result<u64, StoreError> {
        let req = self.req(
            "count",
            QueryRequest::builder()
                .collection_name(&self.cfg.collection)
                .filter(filter)
                .output_fields(["count(*)"])
                .consistency_level(ConsistencyLevel::Strong)
                .build(),
        )?;
        let resp = self
            .read_loaded("count", || self.client.query(req.clone()))
            .await?;
        let results = resp.results();
        let n = results
            .get_output_field("count(*)")
            .and_then(|f| f.as_int64().and_then(|v| v.first().copied()))
            .ok_or_else(|| StoreError::Malformed {
                op: "count",
                detail: format!(
                    "no count(*) column in {:?}",
                    results.get_output_field_names()
                ),
            })?;
        Ok(n.max(0) as u64)
    }

    /// Which weights made the stored rows (their dynamic field `variant`): `Some(Int8)` when
    /// every row is int8, `Some(Fp32)` when none is (fp32, or another float variant such as
    /// fp16), `None` when the collection is absent, empty or mixed.
    pub async fn rows_variant(&self) -> Result<Option<crate::clip::Variant>, StoreError> {
        if !self.has_collection().await? {
            return Ok(None);
        }
        let total = self.count().await?;
        if total == 0 {
            return Ok(None);
        }
        let int8 = self.count_where(r#"variant == "int8""#).await?;
        Ok(match int8 {
            0 => Some(crate::clip::Variant::Fp32),
            n if n == total => Some(crate::clip::Variant::Int8),
            _ => None,
        })
    }

    /// The `k` stored photos most similar (cosine) to `vector`, best first.
    pub async fn search(&self, vector: &[f32], k: usize) -> Result<Vec<StoredHit>, StoreError> {
        Ok(self
            .search_inner(vector, k, false)
            .await?
            .into_iter()
            .map(|(hit, _)| hit)
            .collect())
    }

    /// [`search`](Self::search), with each hit's dynamic fields (for collections whose rows
    /// carry what a result shows, such as `poem_lines`).
    pub async fn search_rows(
        &self,
        vector: &[f32],
        k: usize,
    ) -> Result<Vec<(StoredHit, Map<String, Value>)>, StoreError> {
        self.search_inner(vector, k, true).await
    }

    async fn search_inner(
        &self,
        vector: &[f32],
        k: usize,
        with_meta: bool,
    ) -> Result<Vec<(StoredHit, Map<String, Value>)>, StoreError> {
        self.check_vector(vector)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let extra = match self.cfg.index {
            IndexKind::IvfFlat { .. } | IndexKind::IvfSq8 { .. } => {
                HashMap::from([("nprobe".to_owned(), self.cfg.nprobe.to_string())])
            }
            IndexKind::Hnsw { .. } => HashMap::from([(
                "ef".to_owned(),
                k.max(self.cfg.ef.unwrap_or(64) as usize).to_string(),
            )]),
        };
        let req = self.req(
            "search",
            SearchRequest::builder()
                .collection_name(&self.cfg.collection)
                .vector_field(&self.cfg.vector_field)
                .vectors(SearchVectors::Float(vec![vector.to_vec()]))
                .output_fields(if with_meta {
                    vec![self.cfg.path_field.clone(), META_FIELD.to_owned()]
                } else {
                    vec![self.cfg.path_field.clone()]
                })
                .limit(k as i64)
                .metric_type(MetricType::Cosine)
                .extra_params(extra)
                .build(),
        )?;
        let resp = self
            .read_loaded("search", || self.client.search(req.clone()))
            .await?;
        let Some(result) = resp.results().iter().next() else {
            return Ok(Vec::new());
        };
        // Read ids / scores / columns directly: `rows()` fails on servers that leave the
        // primary-key or score field name empty (Milvus Lite).
        let ids = match result.get_ids() {
            Ids::Int64(v) => v.clone(),
            other => {
                return Err(StoreError::Malformed {
                    op: "search",
                    detail: format!("expected INT64 ids, got {other:?}"),
                })
            }
        };
        let scores = result.get_scores();
        let paths = result
            .get_output_fields()
            .iter()
            .find(|f| f.name() == self.cfg.path_field)
            .and_then(|f| f.as_varchar());
        if scores.len() != ids.len() || paths.is_some_and(|p| p.len() != ids.len()) {
            return Err(StoreError::Malformed {
                op: "search",
                detail: format!(
                    "{} ids, {} scores, {:?} paths",
                    ids.len(),
                    scores.len(),
                    paths.map(|p| p.len())
                ),
            });
        }
        let Some(paths) = paths.or(if ids.is_empty() { Some(&[]) } else { None }) else {
            return Err(StoreError::Malformed {
                op: "search",
                detail: format!("no '{}' column in the hits", self.cfg.path_field),
            });
        };
        let metas = result
            .get_output_fields()
            .iter()
            .find(|f| f.name() == META_FIELD)
            .and_then(|f| f.as_json());
        Ok(ids
            .into_iter()
            .zip(scores.iter())
            .zip(paths.iter())
            .enumerate()
            .map(|(i, ((id, score), path))| {
                let extra = match metas.and_then(|m| m.get(i)) {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                let hit = StoredHit {
                    id,
                    filepath: path.clone(),
                    score: *score,
                };
                (hit, extra)
            })
            .collect())
    }

    async fn query_by_id(
        &self,
        op: &'static str,
        id: i64,
        fields: Vec<String>,
    ) -> Result<Option<::milvus::v2::prelude::QueryResults>, StoreError> {
        let req = self.req(
            op,
            QueryRequest::builder()
                .collection_name(&self.cfg.collection)
                .filter(format!("{ID_FIELD} == {id}"))
                .output_fields(fields)
                .consistency_level(ConsistencyLevel::Strong)
                .build(),
        )?;
        let resp = self
            .read_loaded(op, || self.client.query(req.clone()))
            .await?;
        let results = resp.results().clone();
        if results.get_row_count() == 0 {
            return Ok(None);
        }
        Ok(Some(results))
    }

    /// The stored row with this id (file path + dynamic fields), or `None`.
    pub async fn get(&self, id: i64) -> Result<Option<StoredRow>, StoreError> {
        let fields = vec![self.cfg.path_field.clone(), META_FIELD.to_owned()];
        let Some(results) = self.query_by_id("get", id, fields).await? else {
            return Ok(None);
        };
        let mut filepath = None;
        let mut extra = Map::new();
        for field in results.get_output_fields() {
            let name = field.name();
            if name == self.cfg.path_field {
                filepath = field.as_varchar().and_then(|v| v.first().cloned());
            } else if name == META_FIELD {
                if let Some(Value::Object(m)) = field.as_json().and_then(|v| v.first()) {
                    extra.extend(m.clone());
                }
            } else if name != ID_FIELD && name != self.cfg.vector_field {
                // Servers that expand dynamic keys into their own columns.
                if let Some(v) = field.as_json().and_then(|v| v.first()) {
                    extra.insert(name.to_owned(), v.clone());
                }
            }
        }
        let filepath = filepath.ok_or_else(|| StoreError::Malformed {
            op: "get",
            detail: format!("no '{}' column", self.cfg.path_field),
        })?;
        Ok(Some(StoredRow {
            id,
            filepath,
            extra,
        }))
    }

    /// The stored vector of this id (for "more like this"), or `None`.
    pub async fn get_vector(&self, id: i64) -> Result<Option<Vec<f32>>, StoreError> {
        let fields = vec![self.cfg.vector_field.clone()];
        let Some(results) = self.query_by_id("get_vector", id, fields).await? else {
            return Ok(None);
        };
        let v = results
            .get_output_field(&self.cfg.vector_field)
            .and_then(|f| f.as_float_vectors())
            .and_then(|v| v.first().cloned())
            .ok_or_else(|| StoreError::Malformed {
                op: "get_vector",
                detail: format!("no '{}' column", self.cfg.vector_field),
            })?;
        Ok(Some(v))
    }

    /// Every stored row's id, path and file stamp (size, mtime, sha256), for incremental
    /// indexing. Reads in id ranges of at most 8,192 rows, so it is complete on servers that
    /// cap query results (Milvus Lite, Milvus' 16,384 window) whatever order they return.
    /// A range whose rows change between its count and its read (another process writing,
    /// e.g. `index --shard` workers) is read again.
    pub async fn list_indexed(&self) -> Result<Vec<IndexedFile>, StoreError> {
        Ok(self
            .list_rows()
            .await?
            .into_iter()
            .map(|row| {
                let field = |k: &str| row.extra.get(k);
                IndexedFile {
                    id: row.id,
                    size: field("size").and_then(Value::as_u64),
                    mtime: field("mtime").and_then(Value::as_u64),
                    mtime_ns: field("mtime_ns").and_then(Value::as_u64),
                    sha256: field("sha256").and_then(Value::as_str).map(str::to_owned),
                    filepath: row.filepath,
                }
            })
            .collect())
    }

    /// Every stored row without its vector (id, path field, dynamic fields), sorted by id.
    /// Complete on servers that cap query results, as [`list_indexed`](Self::list_indexed).
    /// A range whose rows change between its count and its read is read again.
    pub async fn list_rows(&self) -> Result<Vec<StoredRow>, StoreError> {
        const RETRIES: usize = 50;
        let mut retries = 0;
        let mut out = Vec::new();
        // Inclusive id ranges still to read (auto ids are positive; a literal i64::MIN would
        // not parse as an expression).
        let mut ranges: Vec<(i64, i64)> = vec![(0, i64::MAX)];
        while let Some((lo, hi)) = ranges.pop() {
            let filter = format!("{ID_FIELD} >= {lo} and {ID_FIELD} <= {hi}");
            let n = self.count_where(&filter).await?;
            if n == 0 {
                continue;
            }
            if n > QUERY_PAGE && lo < hi {
                let mid = ((lo as i128 + hi as i128).div_euclid(2)) as i64;
                ranges.push((mid + 1, hi));
                ranges.push((lo, mid));
                continue;
            }
            let req = self.req(
                "list_rows",
                QueryRequest::builder()
                    .collection_name(&self.cfg.collection)
                    .filter(filter)
                    .output_fields([
                        ID_FIELD.to_owned(),
                        self.cfg.path_field.clone(),
                        META_FIELD.to_owned(),
                    ])
                    .limit(n as i64)
                    .consistency_level(ConsistencyLevel::Strong)
                    .build(),
            )?;
            let resp = self
                .read_loaded("list_rows", || self.client.query(req.clone()))
                .await?;
            let results = resp.results();
            let ids = results
                .get_output_field(ID_FIELD)
                .and_then(|f| f.as_int64())
                .unwrap_or(&[]);
            let paths = results
                .get_output_field(&self.cfg.path_field)
                .and_then(|f| f.as_varchar())
                .unwrap_or(&[]);
            let metas = results
                .get_output_field(META_FIELD)
                .and_then(|f| f.as_json())
                .unwrap_or(&[]);
            if ids.len() as u64 != n && paths.len() == ids.len() && retries < RETRIES {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                ranges.push((lo, hi));
                continue;
            }
            if ids.len() as u64 != n || paths.len() != ids.len() {
                return Err(StoreError::Malformed {
                    op: "list_rows",
                    detail: format!(
                        "expected {n} rows in [{lo}, {hi}], got {} ids and {} paths",
                        ids.len(),
                        paths.len()
                    ),
                });
            }
            for (i, (&id, path)) in ids.iter().zip(paths).enumerate() {
                let extra = match metas.get(i) {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                out.push(StoredRow {
                    id,
                    filepath: path.clone(),
                    extra,
                });
            }
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// Deletes rows by id (unknown ids are ignored).
    pub async fn delete_ids(&self, ids: &[i64]) -> Result<(), StoreError> {
        let _guard = self.write_lock.lock().await;
        for chunk in ids.chunks(DELETE_CHUNK) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let req = self.req(
                "delete",
                DeleteRequest::builder()
                    .collection_name(&self.cfg.collection)
                    .filter(format!("{ID_FIELD} in [{}]", list.join(", ")))
                    .build(),
            )?;
            self.client.delete(req).await.map_err(self.err("delete"))?;
        }
        Ok(())
    }

    pub async fn drop_collection(&self) -> Result<(), StoreError> {
        let req = self.req(
            "drop_collection",
            DropCollectionRequest::builder()
                .collection_name(&self.cfg.collection)
                .build(),
        )?;
        self.client
            .drop_collection(req)
            .await
            .map_err(self.err("drop_collection"))?;
        Ok(())
    }

    /// Cheap health check used by `/healthz`: `has_collection` with a 3 s deadline.
    /// (`list_collections` is not used: against Milvus Lite 2.5.1 the SDK rejects its answer
    /// as soon as one collection exists, because Lite sends names without ids.)
    pub async fn ping(&self) -> Result<(), StoreError> {
        match tokio::time::timeout(PING_TIMEOUT, self.has_collection()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Unavailable {
                uri: self.cfg.uri.clone(),
                detail: format!("no answer within {} s", PING_TIMEOUT.as_secs()),
            }),
        }
    }

    /// Rows, model, index and load state of the collection.
    pub async fn describe(&self) -> Result<CollectionInfo, StoreError> {
        if !self.has_collection().await? {
            return Err(StoreError::CollectionMissing {
                collection: self.cfg.collection.clone(),
            });
        }
        let resp = self.describe_collection_raw().await?;
        let desc = resp.description();
        let description = if desc.get_description().is_empty() {
            desc.get_schema().get_description().to_owned()
        } else {
            desc.get_description().to_owned()
        };
        let fields = desc.get_schema().get_fields();
        let dim = fields
            .iter()
            .find(|f| f.get_name() == self.cfg.vector_field)
            .map(|f| f.get_dimension() as usize)
            .unwrap_or(0);
        let path_max_len = fields
            .iter()
            .find(|f| f.get_name() == self.cfg.path_field)
            .map(|f| f.get_max_length())
            .unwrap_or(0);
        let shards = desc.get_num_shards();
        let model = Self::parse_description(&description).map(|(m, _)| m);
        let load_state = self.load_state().await?;
        // count(*) needs a loaded collection on real Milvus.
        let rows = if load_state == LoadState::Loaded {
            self.count().await?
        } else {
            self.stats_row_count().await.unwrap_or(0)
        };
        let index = self.index_info().await?;
        Ok(CollectionInfo {
            name: self.cfg.collection.clone(),
            description,
            model,
            dim,
            path_max_len,
            shards,
            rows,
            index,
            load_state: format!("{load_state:?}"),
        })
    }

    async fn stats_row_count(&self) -> Result<u64, StoreError> {
        let req = self.req(
            "get_collection_stats",
            ::milvus::v2::prelude::GetCollectionStatsRequest::builder()
                .collection_name(&self.cfg.collection)
                .build(),
        )?;
        let resp = self
            .client
            .get_collection_stats(req)
            .await
            .map_err(self.err("get_collection_stats"))?;
        Ok(resp.row_count().unwrap_or(0).max(0) as u64)
    }
}

/// "collection not loaded" (Milvus code 101): real Milvus reads only loaded collections.
fn is_not_loaded(e: &::milvus::v2::error::Error) -> bool {
    match e {
        ::milvus::v2::error::Error::Server(s) if s.code() == 101 => true,
        other => other
            .to_string()
            .to_ascii_lowercase()
            .contains("collection not loaded"),
    }
}

fn is_index_not_found(e: &::milvus::v2::error::Error) -> bool {
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

fn index_info(d: &IndexDesc) -> IndexInfo {
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
