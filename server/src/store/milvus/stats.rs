//! What `shihua collection stats` shows ([`CollectionInfo`]): the collection's description
//! and model stamp, dimension, path limit, shards, row count, index and load state.

use ::milvus::v2::prelude::{ClientV2, GetCollectionStatsRequest, LoadState};

use super::{IndexInfo, MilvusStore};
use crate::store::error::StoreError;

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

impl MilvusStore {
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

    pub(super) async fn stats_row_count(&self) -> Result<u64, StoreError> {
        let request = GetCollectionStatsRequest::builder()
            .collection_name(&self.cfg.collection)
            .build();
        let resp = self
            .call(
                "get_collection_stats",
                request,
                ClientV2::get_collection_stats,
            )
            .await?;
        Ok(resp.row_count().unwrap_or(0).max(0) as u64)
    }
}
