//! The stored row and the name of every field a row has: the fixed fields of the collection
//! layout (`id`, the vector field, the path field; the last two configurable, with the
//! reference article's names as defaults), Milvus' `$meta` column of dynamic fields, and the
//! dynamic fields the indexer writes into every photo row (`sha256`, `mtime`, `mtime_ns`,
//! `size`, `width`, `height`, `orient`, `taken_at`, `taken_src`, `model`, `variant`). Everything that reads or writes a row names
//! its fields through these constants.

use serde_json::{Map, Value};

/// Name of the INT64 primary-key field (auto ids), as in the reference article.
pub const ID_FIELD: &str = "id";
/// The JSON column Milvus uses for dynamic fields.
pub const META_FIELD: &str = "$meta";
/// Default name of the FLOAT_VECTOR field (`StoreConfig::vector_field`).
pub const DEFAULT_VECTOR_FIELD: &str = "vectors";
/// Default name of the VARCHAR file path field (`StoreConfig::path_field`).
pub const DEFAULT_PATH_FIELD: &str = "filepath";

/// Dynamic field: SHA-256 of the photo's bytes (hex).
pub const SHA256: &str = "sha256";
/// Dynamic field: modification time, whole seconds since the epoch (for people and older rows).
pub const MTIME: &str = "mtime";
/// Dynamic field: modification time in nanoseconds since the epoch (what change detection
/// compares).
pub const MTIME_NS: &str = "mtime_ns";
/// Dynamic field: file size in bytes.
pub const SIZE: &str = "size";
/// Dynamic field: decoded width in pixels.
pub const WIDTH: &str = "width";
/// Dynamic field: decoded height in pixels.
pub const HEIGHT: &str = "height";
/// Dynamic field: `landscape`, `portrait` or `square` (`app::filters::Orient::of` the upright
/// width and height), for the `orient=` filter (Milvus cannot compare two JSON fields).
pub const ORIENT: &str = "orient";
/// Dynamic field: when the photo was taken, whole seconds since the epoch: its EXIF
/// DateTimeOriginal read as UTC, else its mtime (`TAKEN_SRC` says which). The `from=`/`to=`
/// filters compare it.
pub const TAKEN_AT: &str = "taken_at";
/// Dynamic field: where `taken_at` came from: `TAKEN_FROM_EXIF` or `TAKEN_FROM_MTIME`.
pub const TAKEN_SRC: &str = "taken_src";
/// `taken_src` of a date read from EXIF.
pub const TAKEN_FROM_EXIF: &str = "exif";
/// `taken_src` of a photo without an EXIF date: `taken_at` is its modification time.
pub const TAKEN_FROM_MTIME: &str = "mtime";
/// Dynamic field: the model id that made the vector.
pub const MODEL: &str = "model";
/// Dynamic field: the weights variant that made the vector (`fp32`, `int8`, …).
pub const VARIANT: &str = "variant";

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

/// What telling photos apart needs of a row (duplicates, `crate::fold`): the file's SHA-256
/// (dynamic field `sha256`, absent on rows written without it) and the stored vector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fingerprint {
    pub sha256: Option<String>,
    pub vector: Option<Vec<f32>>,
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

impl From<StoredRow> for IndexedFile {
    /// The file stamp of a stored row (absent fields stay `None`).
    fn from(row: StoredRow) -> Self {
        let field = |k: &str| row.extra.get(k);
        IndexedFile {
            id: row.id,
            size: field(SIZE).and_then(Value::as_u64),
            mtime: field(MTIME).and_then(Value::as_u64),
            mtime_ns: field(MTIME_NS).and_then(Value::as_u64),
            sha256: field(SHA256).and_then(Value::as_str).map(str::to_owned),
            filepath: row.filepath,
        }
    }
}
