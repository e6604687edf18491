//! Pictures as pixels, apart from the model: decoding uploaded and indexed files
//! ([`decode`], with its own [`DecodeError`]) and making JPEG thumbnails ([`thumbnail`]).

pub mod decode;
pub mod thumbnail;

pub use decode::{decode, DecodeError, Decoded};
