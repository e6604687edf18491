//! Rows in and out: inserts (validated first, chunked, serialised behind the write lock),
//! flush, deletes by id, point reads by id (a row, a vector, the fingerprints of a page of
//! hits), listing every row (or only its path) in id ranges (complete on servers that cap
//! query results) and counting.

use std::collections::HashMap;
use std::time::Duration;

use ::milvus::v2::prelude::{
    ClientV2, ConsistencyLevel, DeleteRequest, FieldData, FlushRequest, Ids, InsertRequest,
    QueryRequest, QueryResponse, QueryResults,
};
use serde_json::{Map, Value};

use super::MilvusStore;
use crate::store::error::StoreError;
use crate::store::row::{
    Fingerprint, IndexedFile, NewRow, StoredRow, ID_FIELD, META_FIELD, SHA256, VARIANT,
};

/// Rows per insert RPC (512-d float rows are ~2 KiB; keeps messages far below gRPC limits).
const INSERT_CHUNK: usize = 1000;
/// Most rows fetched by one query (Milvus caps offset + limit at 16,384; Milvus Lite silently
/// cuts plain queries there).
const QUERY_PAGE: u64 = 8192;
/// Ids per delete expression.
const DELETE_CHUNK: usize = 1000;
/// The output column of a row count.
const COUNT_ALL: &str = "count(*)";

impl MilvusStore {
    pub(super) fn check_vector(&self, v: &[f32]) -> Result<(), StoreError> {
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
            let request = InsertRequest::builder()
                .collection_name(&self.cfg.collection)
                .columns(vec![
                    FieldData::float_vector(&self.cfg.vector_field, vectors),
                    FieldData::varchar(&self.cfg.path_field, paths),
                    FieldData::json(META_FIELD, metas),
                ])
                .build();
            let resp = self.call("insert", request, ClientV2::insert).await?;
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
        let request = FlushRequest::builder()
            .collection_names([self.cfg.collection.clone()])
            .wait_flushed_ms(120_000)
            .build();
        self.call("flush", request, ClientV2::flush).await?;
        Ok(())
    }

    /// Number of rows (`count(*)`, strong consistency).
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.count_where("").await
    }

    /// A strongly consistent query (it sees every row written before it) for the rows that
    /// match `filter` (all when empty), with the columns `fields`, at most `limit` of them when
    /// given. A read: see [`read`](Self::read).
    async fn query(
        &self,
        op: &'static str,
        filter: String,
        fields: Vec<String>,
        limit: Option<u64>,
    ) -> Result<QueryResponse, StoreError> {
        self.query_at(op, filter, fields, limit, ConsistencyLevel::Strong)
            .await
    }

    /// [`query`](Self::query) at another consistency level.
    async fn query_at(
        &self,
        op: &'static str,
        filter: String,
        fields: Vec<String>,
        limit: Option<u64>,
        level: ConsistencyLevel,
    ) -> Result<QueryResponse, StoreError> {
        let mut request = QueryRequest::builder()
            .collection_name(&self.cfg.collection)
            .filter(filter)
            .output_fields(fields)
            .consistency_level(level);
        if let Some(n) = limit {
            request = request.limit(n as i64);
        }
        self.read(op, request.build(), ClientV2::query).await
    }

    pub(super) async fn count_where(&self, filter: &str) -> Result<u64, StoreError> {
        let fields = vec![COUNT_ALL.to_owned()];
        let resp = self.query("count", filter.to_owned(), fields, None).await?;
        let results = resp.results();
        let n = results
            .get_output_field(COUNT_ALL)
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
        let int8 = self.count_where(&format!(r#"{VARIANT} == "int8""#)).await?;
        Ok(match int8 {
            0 => Some(crate::clip::Variant::Fp32),
            n if n == total => Some(crate::clip::Variant::Int8),
            _ => None,
        })
    }

    async fn query_by_id(
        &self,
        op: &'static str,
        id: i64,
        fields: Vec<String>,
    ) -> Result<Option<QueryResults>, StoreError> {
        let filter = format!("{ID_FIELD} == {id}");
        let resp = self.query(op, filter, fields, None).await?;
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

    /// The SHA-256 and stored vector of each of `ids` (a page of hits), in one query; ids
    /// that are not stored are absent. Vectors come from a query by id, as for "more like
    /// this" (`get_vector`), which Milvus Lite and Milvus standalone 2.3 both answer. Bounded
    /// consistency, like the search the ids come from: a strong read would wait for the
    /// server's next time tick on every page.
    pub async fn fingerprints(&self, ids: &[i64]) -> Result<HashMap<i64, Fingerprint>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        let filter = format!("{ID_FIELD} in [{}]", list.join(", "));
        let fields = vec![
            ID_FIELD.to_owned(),
            self.cfg.vector_field.clone(),
            META_FIELD.to_owned(),
        ];
        let limit = Some(ids.len() as u64);
        let resp = self
            .query_at(
                "fingerprints",
                filter,
                fields,
                limit,
                ConsistencyLevel::Bounded,
            )
            .await?;
        let results = resp.results();
        let got = results
            .get_output_field(ID_FIELD)
            .and_then(|f| f.as_int64())
            .unwrap_or(&[]);
        let vectors = results
            .get_output_field(&self.cfg.vector_field)
            .and_then(|f| f.as_float_vectors());
        let metas = results
            .get_output_field(META_FIELD)
            .and_then(|f| f.as_json());
        if vectors.is_some_and(|v| v.len() != got.len()) {
            return Err(StoreError::Malformed {
                op: "fingerprints",
                detail: format!("{} ids, {:?} vectors", got.len(), vectors.map(|v| v.len())),
            });
        }
        Ok(got
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let sha256 = metas
                    .and_then(|m| m.get(i))
                    .and_then(|m| m.get(SHA256))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let vector = vectors.and_then(|v| v.get(i)).cloned();
                (id, Fingerprint { sha256, vector })
            })
            .collect())
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
            .map(IndexedFile::from)
            .collect())
    }

    /// Every stored row without its vector (id, path field, dynamic fields), sorted by id.
    /// Complete on servers that cap query results, as [`list_indexed`](Self::list_indexed).
    /// A range whose rows change between its count and its read is read again.
    pub async fn list_rows(&self) -> Result<Vec<StoredRow>, StoreError> {
        self.list_rows_with(true).await
    }

    /// Every stored row's id and path (no dynamic fields: a lighter
    /// [`list_rows`](Self::list_rows)), sorted by id.
    pub async fn list_paths(&self) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(self
            .list_rows_with(false)
            .await?
            .into_iter()
            .map(|r| (r.id, r.filepath))
            .collect())
    }

    async fn list_rows_with(&self, meta: bool) -> Result<Vec<StoredRow>, StoreError> {
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
            let mut fields = vec![ID_FIELD.to_owned(), self.cfg.path_field.clone()];
            if meta {
                fields.push(META_FIELD.to_owned());
            }
            let resp = self.query("list_rows", filter, fields, Some(n)).await?;
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
            let request = DeleteRequest::builder()
                .collection_name(&self.cfg.collection)
                .filter(format!("{ID_FIELD} in [{}]", list.join(", ")))
                .build();
            self.call("delete", request, ClientV2::delete).await?;
        }
        Ok(())
    }
}
