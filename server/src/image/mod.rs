//! Pictures as pixels, apart from the model: decoding uploaded and indexed files
//! ([`decode`], with its own [`DecodeError`]), when a photo was taken ([`taken`], from EXIF)
//! and making JPEG thumbnails ([`thumbnail`]).

pub mod decode;
pub mod taken;
pub mod thumbnail;

pub use decode::{decode, DecodeError, Decoded};
