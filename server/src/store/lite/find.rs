//! Finding the Milvus Lite server binary: the `milvus_lite/lib` folder of the Python package
//! `milvus-lite` (in the project's `.venv`), or the folder `$SHIHUA_MILVUS_LITE_LIB` names.

use std::path::{Path, PathBuf};

use super::db::absolute;

/// Finds the `milvus_lite/lib` folder: `$SHIHUA_MILVUS_LITE_LIB` if set, else the first
/// `<dir>/.venv/lib/python3*/site-packages/milvus_lite/lib` holding a `milvus` binary, for
/// `dir` = `start` and each of its ancestors.
pub fn find_lite_lib_dir(start: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SHIHUA_MILVUS_LITE_LIB").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let start = absolute(start).ok()?;
    for dir in start.ancestors() {
        let lib = dir.join(".venv").join("lib");
        let Ok(entries) = std::fs::read_dir(&lib) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path())
            .collect();
        pythons.sort();
        for py in pythons {
            let candidate = py.join("site-packages").join("milvus_lite").join("lib");
            if candidate.join("milvus").is_file() {
                return Some(candidate);
            }
        }
    }
    None
}
