//! Nearest-neighbour search: the `k` stored rows closest (cosine) to a vector, or the `k`
//! after the first `offset` (a page: Milvus' own `offset`, so `offset + k ≤ 16,384`), with the
//! search parameter that goes with the configured index (`nprobe` for IVF, `ef` for HNSW),
//! optionally narrowed by a filter expression inside the same search (`store/filter.rs`), read
//! from the hits' ids, scores and output columns.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use ::milvus::v2::prelude::{ClientV2, Ids, MetricType, SearchRequest, SearchVectors};
use serde_json::{Map, Value};

use super::{IndexKind, MilvusStore};
use crate::store::error::StoreError;
use crate::store::filter::FilterExpr;
use crate::store::row::{StoredHit, META_FIELD};
use crate::store::sizing;

impl MilvusStore {
    /// The `k` stored photos most similar (cosine) to `vector`, best first.
    pub async fn search(&self, vector: &[f32], k: usize) -> Result<Vec<StoredHit>, StoreError> {
        self.search_page(vector, 0, k).await
    }

    /// The `k` stored photos that follow the `offset` most similar to `vector`, best first:
    /// pages of one ranking, without gaps or repeats (`server/tests/paging.rs` checks them
    /// against one large search). Milvus refuses `offset + k > 16,384`
    /// (`app::search::MAX_WINDOW`).
    pub async fn search_page(
        &self,
        vector: &[f32],
        offset: usize,
        k: usize,
    ) -> Result<Vec<StoredHit>, StoreError> {
        self.search_page_where(vector, offset, k, None).await
    }

    /// [`search_page`](Self::search_page) among the rows that match `filter` only: Milvus
    /// applies it inside the search, so the pages are the filtered ranking, full and in order
    /// (`server/tests/filters.rs` checks them against the unfiltered one).
    pub async fn search_page_where(
        &self,
        vector: &[f32],
        offset: usize,
        k: usize,
        filter: Option<&FilterExpr>,
    ) -> Result<Vec<StoredHit>, StoreError> {
        Ok(self
            .search_inner(vector, offset, k, false, filter)
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
        self.search_inner(vector, 0, k, true, None).await
    }

    /// `cfg.nprobe`, or (when not configured) 1/32 of the index's lists, at least 64: read
    /// from the index once, kept until this store builds an index.
    async fn nprobe(&self) -> u32 {
        if let Some(n) = self.cfg.nprobe {
            return n;
        }
        let seen = self.auto_nprobe.load(Ordering::Relaxed);
        if seen > 0 {
            return seen;
        }
        let nlist = match self.index_info().await {
            Ok(Some(info)) => info
                .params
                .get("nlist")
                .and_then(|n| n.trim_matches('"').parse::<u32>().ok()),
            _ => None,
        };
        match nlist {
            Some(nlist) => {
                let n = sizing::recommended_nprobe(nlist);
                self.auto_nprobe.store(n, Ordering::Relaxed);
                n
            }
            None => sizing::DEFAULT_NPROBE,
        }
    }

    async fn search_inner(
        &self,
        vector: &[f32],
        offset: usize,
        k: usize,
        with_meta: bool,
        filter: Option<&FilterExpr>,
    ) -> Result<Vec<(StoredHit, Map<String, Value>)>, StoreError> {
        self.check_vector(vector)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let extra = match self.cfg.index {
            IndexKind::IvfFlat { .. } | IndexKind::IvfSq8 { .. } => {
                HashMap::from([("nprobe".to_owned(), self.nprobe().await.to_string())])
            }
            IndexKind::Hnsw { .. } => HashMap::from([(
                "ef".to_owned(),
                (offset + k)
                    .max(self.cfg.ef.unwrap_or(64) as usize)
                    .to_string(),
            )]),
        };
        let mut request = SearchRequest::builder()
            .collection_name(&self.cfg.collection)
            .vector_field(&self.cfg.vector_field)
            .vectors(SearchVectors::Float(vec![vector.to_vec()]))
            .output_fields(if with_meta {
                vec![self.cfg.path_field.clone(), META_FIELD.to_owned()]
            } else {
                vec![self.cfg.path_field.clone()]
            })
            .limit(k as i64)
            .offset(offset as i64)
            .metric_type(MetricType::Cosine)
            .extra_params(extra);
        if let Some(f) = filter {
            request = request.filter(f.as_str());
        }
        let request = request.build();
        let resp = self.read("search", request, ClientV2::search).await?;
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
}
