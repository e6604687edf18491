//! The vector store: Milvus schema, index, insert, search (`milvus.rs`), the embedded
//! Milvus Lite child process (`embedded.rs`), its restart watchdog (`watchdog.rs`) and the
//! store's error type (`error.rs`).

pub mod embedded;
pub mod error;
pub mod milvus;
pub mod sizing;
pub mod watchdog;

pub use self::embedded::{find_lite_lib_dir, EmbeddedMilvus};
pub use self::error::StoreError;
pub use self::milvus::{
    CollectionInfo, IndexInfo, IndexKind, IndexedFile, MilvusStore, NewRow, StoreConfig, StoredHit,
    StoredRow,
};
pub use self::watchdog::spawn_watchdog;
