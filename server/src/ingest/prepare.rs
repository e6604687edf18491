//! Row preparation: one photo read (stable), hashed, decoded and resized into the model's
//! input tensor, with the dynamic fields of its row (`sha256`, `mtime`/`mtime_ns`, `size`,
//! `width`, `height`, `orient`, `taken_at`/`taken_src` (EXIF date, else mtime), and the
//! `model` and `variant` that make its vector). Also owns how a
//! row's mtime is stored and compared ([`Mtime`]).

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::read::{read_stable, ReadHook};
use crate::clip::preprocess::{self, PreprocessSpec, DEFAULT_MAX_PIXELS};
use crate::store::row::{self, IndexedFile};

/// A photo ready for the model.
pub(super) struct Prepared {
    pub path: PathBuf,
    pub tensor: Vec<f32>,
    pub extra: Map<String, Value>,
}

/// Which model made a row: its dynamic fields `model` and `variant`.
pub(super) struct RowModel {
    pub id: String,
    pub variant: String,
}

pub(super) fn prepare(
    path: &Path,
    spec: &PreprocessSpec,
    model: &RowModel,
    max_path: usize,
    hook: Option<&ReadHook>,
) -> Result<Prepared, String> {
    let shown = path.to_string_lossy();
    if shown.len() > max_path {
        return Err(format!(
            "path is {} bytes, longer than the collection's {max_path}-byte filepath field",
            shown.len()
        ));
    }
    let (bytes, meta) = read_stable(path, hook)?;
    let (tensor, decoded) = preprocess::preprocess_bytes(&bytes, spec, DEFAULT_MAX_PIXELS)
        .map_err(|e| e.to_string())?;
    let mtime = Mtime::of(&meta);
    let mut extra = Map::new();
    extra.insert(
        row::SHA256.into(),
        json!(hex::encode(Sha256::digest(&bytes))),
    );
    extra.insert(row::MTIME.into(), json!(mtime.secs));
    extra.insert(row::MTIME_NS.into(), json!(mtime.nanos));
    extra.insert(row::SIZE.into(), json!(bytes.len()));
    extra.insert(row::WIDTH.into(), json!(decoded.width));
    extra.insert(row::HEIGHT.into(), json!(decoded.height));
    let orient = app::filters::Orient::of(decoded.width, decoded.height);
    extra.insert(row::ORIENT.into(), json!(orient.as_str()));
    let (taken, src) = match decoded.taken_at {
        Some(t) => (t, row::TAKEN_FROM_EXIF),
        None => (mtime.secs as i64, row::TAKEN_FROM_MTIME),
    };
    extra.insert(row::TAKEN_AT.into(), json!(taken));
    extra.insert(row::TAKEN_SRC.into(), json!(src));
    extra.insert(row::MODEL.into(), json!(model.id));
    extra.insert(row::VARIANT.into(), json!(model.variant));
    Ok(Prepared {
        path: path.to_path_buf(),
        tensor,
        extra,
    })
}

/// A file's modification time since the epoch, as stored in a row: `mtime` (seconds, for
/// people and older rows) and `mtime_ns` (nanoseconds, what change detection compares).
pub(super) struct Mtime {
    secs: u64,
    nanos: u64,
}

impl Mtime {
    pub(super) fn of(meta: &std::fs::Metadata) -> Mtime {
        let d = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        Mtime {
            secs: d.as_secs(),
            nanos: u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// True when `row` was made from a file with this mtime: to the nanosecond when the row
    /// has `mtime_ns`, else (a row from an older version) to the second.
    pub(super) fn matches(&self, row: &IndexedFile) -> bool {
        match row.mtime_ns {
            Some(ns) => ns == self.nanos,
            None => row.mtime == Some(self.secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mtime: Option<u64>, mtime_ns: Option<u64>) -> IndexedFile {
        IndexedFile {
            id: 1,
            filepath: "/p/a.jpg".into(),
            size: Some(10),
            mtime,
            mtime_ns,
            sha256: None,
        }
    }

    #[test]
    fn mtimes_compare_to_the_nanosecond_and_old_rows_to_the_second() {
        let t = Mtime {
            secs: 1_700_000_000,
            nanos: 1_700_000_000_250_000_000,
        };
        assert!(t.matches(&row(Some(1_700_000_000), Some(1_700_000_000_250_000_000))));
        // Same second, another nanosecond: changed.
        assert!(!t.matches(&row(Some(1_700_000_000), Some(1_700_000_000_250_000_001))));
        // A row written before mtime_ns existed: seconds decide.
        assert!(t.matches(&row(Some(1_700_000_000), None)));
        assert!(!t.matches(&row(Some(1_699_999_999), None)));
        assert!(!t.matches(&row(None, None)));
    }
}
