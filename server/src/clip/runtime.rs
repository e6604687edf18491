//! Loading the ONNX Runtime shared library (ort's `load-dynamic`): find it, initialise the
//! process-wide environment exactly once.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::ClipError;

static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// `ORT_DYLIB_PATH` if set, else the library inside the project's `.venv` (the PyPI
/// `onnxruntime` wheel installed by scripts/setup.sh), searched upwards from `start`.
pub fn find_dylib(start: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return Some(PathBuf::from(p));
    }
    for site in crate::paths::venv_site_packages(start) {
        let capi = site.join("onnxruntime/capi");
        if let Ok(files) = std::fs::read_dir(&capi) {
            let mut found: Vec<PathBuf> = files
                .flatten()
                .map(|f| f.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                })
                .collect();
            found.sort();
            if let Some(p) = found.pop() {
                return Some(p);
            }
        }
    }
    None
}

/// The process-wide environment, once `init` succeeded.
pub fn environment() -> Result<&'static ort::environment::Environment, ClipError> {
    match ENV.get() {
        Some(Ok(env)) => Ok(env),
        Some(Err(e)) => Err(ClipError::RuntimeMissing(e.clone())),
        None => Err(ClipError::RuntimeMissing(
            "ONNX Runtime was not initialised".into(),
        )),
    }
}

/// Load the library and create the environment (idempotent; later calls reuse the first).
pub fn init(dylib: Option<PathBuf>) -> Result<(), ClipError> {
    let result = ENV.get_or_init(|| {
        let path = dylib
            .or_else(|| std::env::current_dir().ok().and_then(|d| find_dylib(&d)))
            .or_else(|| find_dylib(Path::new(env!("CARGO_MANIFEST_DIR"))))
            .ok_or_else(|| "no ORT_DYLIB_PATH and no .venv with onnxruntime".to_string())?;
        if !path.is_file() {
            return Err(format!("{} does not exist", path.display()));
        }
        let builder = ort::init_from(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder
            .with_name("shihua")
            .build()
            .map_err(|e| format!("{}: {e}", path.display()))
    });
    result
        .as_ref()
        .map(|_| ())
        .map_err(|e| ClipError::RuntimeMissing(e.clone()))
}
