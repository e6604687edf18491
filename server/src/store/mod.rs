//! The vector store: the row and its field names (`row.rs`), search filters as Milvus
//! expressions (`filter.rs`), the Milvus client
//! (`milvus/`: schema, index, rows, search, stats), the embedded Milvus Lite child process
//! and its restart watchdog (`lite/`), index sizing (`sizing.rs`) and the store's error type
//! (`error.rs`).

pub mod error;
pub mod filter;
pub mod lite;
pub mod milvus;
pub mod row;
pub mod sizing;

pub use self::error::StoreError;
pub use self::filter::{FilterExpr, RowFilter};
pub use self::lite::{find_lite_lib_dir, spawn_watchdog, EmbeddedMilvus};
pub use self::milvus::{CollectionInfo, IndexInfo, IndexKind, MilvusStore, StoreConfig};
pub use self::row::{Fingerprint, IndexedFile, NewRow, StoredHit, StoredRow};
