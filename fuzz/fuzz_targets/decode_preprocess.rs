//! Fuzz target: the bytes of an uploaded picture through `preprocess_bytes`, exactly what
//! `Shihua::embed_image` (POST /api/v1/search/image and the picture search form) runs before
//! the model: format sniffing, the truncated-JPEG check, the pixel/allocation limits, decoding,
//! EXIF orientation, Pillow-exact bicubic resize and normalisation. Any panic, abort, sanitizer
//! report, timeout or out-of-memory is a bug. An accepted picture must give a full tensor of
//! finite values.

#![no_main]

use libfuzzer_sys::fuzz_target;
use server::clip::preprocess::{preprocess_bytes, PreprocessSpec, DEFAULT_MAX_PIXELS};

// cn_clip's constants (models/manifest.toml).
#[allow(clippy::excessive_precision)]
const SPEC: PreprocessSpec = PreprocessSpec {
    size: 224,
    mean: [0.48145466, 0.4578275, 0.40821073],
    std: [0.26862954, 0.26130258, 0.27577711],
    jpeg_draft: false,
};

fuzz_target!(|data: &[u8]| {
    if let Ok((tensor, decoded)) = preprocess_bytes(data, &SPEC, DEFAULT_MAX_PIXELS) {
        assert_eq!(tensor.len(), 3 * 224 * 224);
        assert!(tensor.iter().all(|v| v.is_finite()), "non-finite value");
        assert!(decoded.width > 0 && decoded.height > 0);
        assert!(u64::from(decoded.width) * u64::from(decoded.height) <= DEFAULT_MAX_PIXELS);
    }
});
