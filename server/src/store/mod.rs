//! The vector store: Milvus schema, index, insert, search (`milvus.rs`), the embedded
//! Milvus Lite child process (`embedded.rs`) and the store's error type (`error.rs`).

pub mod embedded;
pub mod error;
pub mod milvus;

pub use self::embedded::{find_lite_lib_dir, EmbeddedMilvus};
pub use self::error::StoreError;
pub use self::milvus::{
    CollectionInfo, IndexInfo, IndexKind, IndexedFile, MilvusStore, NewRow, StoreConfig, StoredHit,
    StoredRow,
};
