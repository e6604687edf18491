//! Finding the Milvus Lite server binary: the `milvus_lite/lib` folder of the Python package
//! `milvus-lite` (in the project's `.venv`), or the folder `$SHIHUA_MILVUS_LITE_LIB` names.

use std::path::{Path, PathBuf};

/// Finds the `milvus_lite/lib` folder: `$SHIHUA_MILVUS_LITE_LIB` if set, else the first
/// `<dir>/.venv/lib/python3*/site-packages/milvus_lite/lib` holding a `milvus` binary, for
/// `dir` = `start` and each of its ancestors.
pub fn find_lite_lib_dir(start: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SHIHUA_MILVUS_LITE_LIB").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    crate::paths::venv_site_packages(start)
        .into_iter()
        .map(|site| site.join("milvus_lite").join("lib"))
        .find(|candidate| candidate.join("milvus").is_file())
}
