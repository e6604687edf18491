//! Typed errors of the CLIP layer. Messages say what to do next where there is something to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("model manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("unknown model {0:?}; known models: {1}")]
    UnknownModel(String, String),
    #[error("{0}")]
    ModelFilesMissing(String),
    #[error("ONNX Runtime library not found: {0}. Run `make run` (or scripts/setup.sh) to install it, or set ORT_DYLIB_PATH to libonnxruntime.so")]
    RuntimeMissing(String),
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("model {path} is unusable: {reason}")]
    BadModel { path: PathBuf, reason: String },
    #[error("tokenizer {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("not a supported picture: {0}")]
    Decode(String),
    #[error("picture too large: {0}")]
    TooManyPixels(String),
    #[error("the model returned {got} values per item, the manifest says {expected}")]
    DimMismatch { expected: usize, got: usize },
}

impl From<crate::image::DecodeError> for ClipError {
    /// The same two kinds, with the same texts: the HTTP layer matches on `ClipError`.
    fn from(e: crate::image::DecodeError) -> Self {
        match e {
            crate::image::DecodeError::Decode(m) => ClipError::Decode(m),
            crate::image::DecodeError::TooManyPixels(m) => ClipError::TooManyPixels(m),
        }
    }
}
