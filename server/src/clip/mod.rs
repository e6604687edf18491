//! Chinese-CLIP in Rust: the model manifest, cn_clip-faithful preprocessing and tokenisation,
//! and the ONNX Runtime encoder that turns photos and poems into L2-normalised vectors.

pub mod cpu_features;
pub mod encoder;
pub mod error;
pub mod manifest;
pub mod preprocess;
pub mod runtime;
pub mod text_cache;
pub mod tokenize;
pub mod variant_choice;

pub use encoder::{ClipEncoder, Device, EncoderOptions, TextEmbeddings};
pub use error::ClipError;
pub use manifest::{Manifest, ModelFiles, ModelSpec, Variant};
pub use variant_choice::VariantChoice;

/// Scale a vector to unit length (cosine similarity then equals the dot product).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
