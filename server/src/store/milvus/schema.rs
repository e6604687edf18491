//! The collection itself: whether it exists, creating it with the reference article's layout
//! (`id` INT64 primary key with auto ids, the FLOAT_VECTOR field, the VARCHAR path field long
//! enough for the longest path, dynamic fields on) and the model/dimension stamp in its
//! description (`shihua model=<id> dim=<n>`), checking an existing one against the
//! configuration, and dropping it.

use std::time::{Duration, Instant};

use ::milvus::v2::prelude::{
    ClientV2, CollectionSchema, CreateCollectionRequest, DataType, DescribeCollectionRequest,
    DescribeCollectionResponse, DropCollectionRequest, FieldSchema, HasCollectionRequest,
};

use super::MilvusStore;
use crate::store::error::StoreError;
use crate::store::row::ID_FIELD;

/// Prefix of the collection description written by shihua.
const DESCRIPTION_PREFIX: &str = "shihua";

impl MilvusStore {
    pub async fn has_collection(&self) -> Result<bool, StoreError> {
        let request = HasCollectionRequest::builder()
            .collection_name(&self.cfg.collection)
            .build();
        let answer = self.call("has_collection", request, ClientV2::has_collection);
        Ok(answer.await?.exists())
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
        let request = CreateCollectionRequest::builder()
            .collection_name(&self.cfg.collection)
            .description(description)
            .schema(schema)
            .num_shards(self.cfg.shards_num)
            .build();
        self.call("create_collection", request, ClientV2::create_collection)
            .await?;
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

    pub(super) async fn describe_collection_raw(
        &self,
    ) -> Result<DescribeCollectionResponse, StoreError> {
        let request = DescribeCollectionRequest::builder()
            .collection_name(&self.cfg.collection)
            .build();
        self.call(
            "describe_collection",
            request,
            ClientV2::describe_collection,
        )
        .await
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

    pub async fn drop_collection(&self) -> Result<(), StoreError> {
        let request = DropCollectionRequest::builder()
            .collection_name(&self.cfg.collection)
            .build();
        self.call("drop_collection", request, ClientV2::drop_collection)
            .await
    }
}
