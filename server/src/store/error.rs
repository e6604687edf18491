//! `StoreError`: every way the vector store can fail, each with a message that tells the user
//! what to do next. Owns the mapping from Milvus SDK errors to these variants; callers never
//! see raw SDK errors.

use std::path::PathBuf;

/// Errors from the Milvus store (`MilvusStore`) and the embedded Milvus Lite process
/// (`EmbeddedMilvus`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Nothing answers at the configured address (connection refused, timed out, reset).
    #[error("Milvus at {uri} is not answering; is it running? (check MILVUS_URI) [{detail}]")]
    Unavailable { uri: String, detail: String },

    /// The collection exists but was built by a different embedding model.
    #[error(
        "collection '{collection}' was built with model '{collection_model}' but this run uses \
         '{expected_model}'; re-index with --recreate or start with --model {collection_model}"
    )]
    ModelMismatch {
        collection: String,
        collection_model: String,
        expected_model: String,
    },

    /// The collection exists but its vectors have another dimension.
    #[error(
        "collection '{collection}' stores {collection_dim}-d vectors but the model produces \
         {expected_dim}-d vectors; re-index with --recreate or use the model the collection was \
         built with"
    )]
    DimMismatch {
        collection: String,
        collection_dim: usize,
        expected_dim: usize,
    },

    /// The collection exists but does not have the fields shihua needs.
    #[error(
        "collection '{collection}' does not look like a shihua collection ({detail}); re-index \
         with --recreate or choose another collection name"
    )]
    SchemaMismatch { collection: String, detail: String },

    /// The collection does not exist (yet).
    #[error("collection '{collection}' does not exist; run `shihua index <photo dir>` first")]
    CollectionMissing { collection: String },

    /// A file path is longer than the VARCHAR field allows. Paths are never truncated.
    #[error(
        "file path is {len} bytes, longer than the {max}-byte limit of the collection: {path}; \
         move or rename the file, or re-create the collection with a larger path limit"
    )]
    PathTooLong { path: String, len: usize, max: u32 },

    /// A vector passed in has the wrong length or is not finite.
    #[error("vector has {got} values but the collection expects {expected}: {detail}")]
    BadVector {
        expected: usize,
        got: usize,
        detail: String,
    },

    /// A row's extra (dynamic) fields are not usable.
    #[error("invalid row: {0}")]
    InvalidRow(String),

    /// The index on the collection is not the one configured (or the server ignored params).
    #[error(
        "index on '{collection}' is {actual} but {expected} was requested; drop it with \
         `shihua index --recreate`"
    )]
    IndexMismatch {
        collection: String,
        expected: String,
        actual: String,
    },

    /// The server does not offer the requested index type (Milvus Lite: FLAT, IVF_FLAT and
    /// AUTOINDEX only).
    #[error(
        "this Milvus server cannot build {index} ({detail}); use the default IVF_FLAT index, or \
         a full Milvus server for HNSW"
    )]
    IndexUnsupported { index: String, detail: String },

    /// Building the index failed on the server.
    #[error("building the index on '{collection}' failed: {reason}")]
    IndexFailed { collection: String, reason: String },

    /// The collection could not be loaded into memory for search.
    #[error(
        "collection '{collection}' is not loaded (state {state}); check the Milvus log, then \
         restart shihua"
    )]
    NotLoaded { collection: String, state: String },

    /// Something took too long.
    #[error("timed out after {secs} s while {what}")]
    Timeout { what: String, secs: u64 },

    /// Milvus returned an error for an operation.
    #[error("Milvus {op} failed: {source}")]
    Milvus {
        op: &'static str,
        #[source]
        source: Box<::milvus::v2::error::Error>,
    },

    /// The server answered with something the store cannot interpret.
    #[error("unexpected answer from Milvus during {op}: {detail}")]
    Malformed { op: &'static str, detail: String },

    /// The Milvus Lite binary is not installed.
    #[error(
        "Milvus Lite binary not found at {path}; run `make run` or scripts/setup.sh to install it \
         (or set SHIHUA_MILVUS_LITE_LIB to the milvus_lite/lib folder)"
    )]
    LiteBinaryMissing { path: PathBuf },

    /// The database file name is not one Milvus Lite accepts.
    #[error(
        "Milvus Lite database name '{name}' is not allowed: {reason}; use e.g. ./data/milvus.db"
    )]
    LiteBadDbName { name: String, reason: String },

    /// Another process already serves this database file.
    #[error(
        "{db} is already in use by another process (another shihua or Milvus Lite); stop it or \
         point MILVUS_URI at another file"
    )]
    LiteDbLocked { db: PathBuf },

    /// The Milvus Lite child did not come up.
    #[error("Milvus Lite failed to start: {reason}; log {log} ends with:\n{log_tail}")]
    LiteStart {
        reason: String,
        log: PathBuf,
        log_tail: String,
    },

    /// A local file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Wraps an SDK error, turning transport failures into `Unavailable`.
    pub(crate) fn from_sdk(op: &'static str, uri: &str, err: ::milvus::v2::error::Error) -> Self {
        use ::milvus::v2::error::Error as E;
        match &err {
            E::Grpc(status)
                if matches!(
                    status.code() as i32,
                    tonic_code::UNAVAILABLE | tonic_code::DEADLINE_EXCEEDED
                ) || status.message().contains("transport error") =>
            {
                StoreError::Unavailable {
                    uri: uri.to_owned(),
                    detail: format!("{op}: {}", status.message()),
                }
            }
            E::Timeout(what) if what.contains("connecting") => StoreError::Unavailable {
                uri: uri.to_owned(),
                detail: format!("{op}: {what}"),
            },
            _ => StoreError::Milvus {
                op,
                source: Box::new(err),
            },
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error means the server could not be reached.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// gRPC status codes compared as integers, so this crate need not depend on `tonic` directly.
mod tonic_code {
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const UNAVAILABLE: i32 = 14;
}
