//! Image preprocessing, faithful to cn_clip's `image_transform`: decode (any format the
//! `image` crate reads), apply EXIF orientation (the one deliberate deviation: phone photos
//! must be upright), convert to RGB, squash-resize to the model's size with a bicubic
//! (Catmull-Rom, Pillow's BICUBIC) convolution, scale to [0,1], normalise with the CLIP mean
//! and std, and lay out as CHW f32. Decoding is bounded by pixel and memory limits so a
//! decompression bomb is refused before any large allocation.

use std::io::Cursor;

use fast_image_resize::{
    images::Image as FirImage, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

use super::ClipError;

/// The most pixels a picture may declare (width × height). 100 MP covers every phone and
/// most cameras; a 50,000 × 50,000 "bomb" is refused from its header.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// What preprocessing needs to know about the model.
#[derive(Clone, Debug)]
pub struct PreprocessSpec {
    pub size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// A decoded, upright picture with its original (post-orientation) size.
#[derive(Debug)]
pub struct Decoded {
    pub image: DynamicImage,
    pub width: u32,
    pub height: u32,
}

/// Decode bytes of any supported format, refusing pictures over `max_pixels` before decoding.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, ClipError> {
    if bytes.is_empty() {
        return Err(ClipError::Decode("the file is empty".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ClipError::Decode(e.to_string()))?;
    if reader.format().is_none() {
        return Err(ClipError::Decode(
            "not a JPEG, PNG or WebP picture (unrecognised content)".into(),
        ));
    }
    let mut limits = Limits::default();
    // Enough for an RGBA16 copy of the largest accepted picture plus the decoder's own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ClipError::Decode(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(ClipError::TooManyPixels(format!(
            "{w} × {h} pixels is more than the limit of {} megapixels",
            max_pixels / 1_000_000
        )));
    }
    let orientation = decoder
        .orientation()
        .map_err(|e| ClipError::Decode(e.to_string()))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(l) => ClipError::TooManyPixels(l.to_string()),
        other => ClipError::Decode(other.to_string()),
    })?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    Ok(Decoded {
        image,
        width,
        height,
    })
}

/// Squash-resize to `spec.size`² and normalise into a CHW tensor (3 × size × size floats).
pub fn to_tensor(image: &DynamicImage, spec: &PreprocessSpec) -> Result<Vec<f32>, ClipError> {
    let rgb = image.to_rgb8();
    let (w, h) = rgb.dimensions();
    let src = FirImage::from_vec_u8(w, h, rgb.into_raw(), PixelType::U8x3)
        .map_err(|e| ClipError::Decode(e.to_string()))?;
    let size = spec.size;
    let mut dst = FirImage::new(size, size, PixelType::U8x3);
    Resizer::new()
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom)),
        )
        .map_err(|e| ClipError::Decode(e.to_string()))?;
    let plane = (size * size) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in dst.buffer().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - spec.mean[c]) / spec.std[c];
        }
    }
    Ok(out)
}

/// Decode and preprocess in one go.
pub fn preprocess_bytes(
    bytes: &[u8],
    spec: &PreprocessSpec,
    max_pixels: u64,
) -> Result<(Vec<f32>, Decoded), ClipError> {
    let decoded = decode(bytes, max_pixels)?;
    let tensor = to_tensor(&decoded.image, spec)?;
    Ok((tensor, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    // cn_clip's constants, digit for digit.
    #[allow(clippy::excessive_precision)]
    fn spec() -> PreprocessSpec {
        PreprocessSpec {
            size: 224,
            mean: [0.48145466, 0.4578275, 0.40821073],
            std: [0.26862954, 0.26130258, 0.27577711],
        }
    }

    fn png(img: &RgbImage) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, ImageFormat::Png).unwrap();
        buf.into_inner()
    }

    #[test]
    fn uniform_colour_normalises_to_the_clip_constants() {
        let img = RgbImage::from_pixel(500, 300, Rgb([255, 0, 128]));
        let (t, d) = preprocess_bytes(&png(&img), &spec(), DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!((d.width, d.height), (500, 300));
        assert_eq!(t.len(), 3 * 224 * 224);
        let s = spec();
        let plane = 224 * 224;
        let expect = [
            (1.0 - s.mean[0]) / s.std[0],
            (0.0 - s.mean[1]) / s.std[1],
            (128.0 / 255.0 - s.mean[2]) / s.std[2],
        ];
        for c in 0..3 {
            for v in &t[c * plane..(c + 1) * plane] {
                assert!(
                    (v - expect[c]).abs() < 1e-5,
                    "channel {c}: {v} vs {}",
                    expect[c]
                );
            }
        }
    }

    #[test]
    fn empty_and_garbage_are_clear_errors() {
        assert!(matches!(
            decode(b"", DEFAULT_MAX_PIXELS),
            Err(ClipError::Decode(_))
        ));
        let err = decode(b"<html>not a jpeg</html>", DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(err.to_string().contains("not a JPEG"), "{err}");
    }

    #[test]
    fn truncated_png_is_a_decode_error() {
        let bytes = png(&RgbImage::from_pixel(64, 64, Rgb([1, 2, 3])));
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(
            decode(cut, DEFAULT_MAX_PIXELS),
            Err(ClipError::Decode(_))
        ));
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        let bytes = png(&RgbImage::from_pixel(200, 200, Rgb([1, 2, 3])));
        let err = decode(&bytes, 10_000).unwrap_err();
        assert!(matches!(err, ClipError::TooManyPixels(_)), "{err}");
    }
}
