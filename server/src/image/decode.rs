//! Decoding a picture: any format the `image` crate reads, EXIF orientation applied (phone
//! photos must be upright) and the EXIF date taken read ([`super::taken`]), bounded by pixel and memory limits so a decompression bomb is
//! refused from its header, before any large allocation; a cut-off JPEG is refused rather than
//! filled with grey. Optionally (`target`), a large JPEG is decoded at a reduced DCT scale.
//! Used by the model's preprocessing ([`crate::clip::preprocess`]) and by thumbnails.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

/// Why a picture could not be decoded. The texts are the ones users see (the HTTP layer maps
/// the two kinds to 400 and 413 through [`crate::clip::ClipError`]).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a supported picture: {0}")]
    Decode(String),
    #[error("picture too large: {0}")]
    TooManyPixels(String),
}

/// The most pixels a picture may declare (width × height). 100 MP covers every phone and
/// most cameras; a 50,000 × 50,000 "bomb" is refused from its header.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// With `jpeg_draft`, the reduced picture keeps at least this many times the model size on
/// each side (Pillow's `thumbnail` uses the same 2.0 `reducing_gap`).
pub const DRAFT_GAP: u32 = 2;

/// A decoded, upright picture with its original (post-orientation) size.
#[derive(Debug)]
pub struct Decoded {
    pub image: DynamicImage,
    pub width: u32,
    pub height: u32,
    /// When it was taken by its EXIF date (seconds since the epoch, the camera's clock read
    /// as UTC), if it has one.
    pub taken_at: Option<i64>,
}

/// Decode bytes of any supported format, refusing pictures over `max_pixels` before decoding.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, DecodeError> {
    decode_draft(bytes, max_pixels, None)
}

/// [`decode`], but a JPEG at least `2 × DRAFT_GAP × target` pixels on each side is decoded at
/// the largest DCT scale (1/2, 1/4, 1/8) that keeps `DRAFT_GAP × target` on each side.
/// `Decoded::width`/`height` stay the full (post-orientation) size.
pub fn decode_draft(
    bytes: &[u8],
    max_pixels: u64,
    target: Option<u32>,
) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Decode("the file is empty".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Decode(e.to_string()))?;
    if reader.format().is_none() {
        return Err(DecodeError::Decode(
            "not a JPEG, PNG, WebP or GIF picture (unrecognised content)".into(),
        ));
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        // The JPEG decoder fills a cut-off scan with grey instead of failing.
        return Err(DecodeError::Decode(
            "the JPEG is truncated or corrupt (its image data does not end)".into(),
        ));
    }
    let is_jpeg = reader.format() == Some(image::ImageFormat::Jpeg);
    let mut limits = Limits::default();
    // Enough for an RGBA16 copy of the largest accepted picture plus the decoder's own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| DecodeError::Decode(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(DecodeError::TooManyPixels(format!(
            "{w} × {h} pixels is more than the limit of {} megapixels",
            max_pixels / 1_000_000
        )));
    }
    // The EXIF chunk first: the JPEG decoder keeps the orientation it finds there.
    let taken_at = decoder
        .exif_metadata()
        .ok()
        .flatten()
        .and_then(|chunk| super::taken::taken_at(&chunk));
    let orientation = decoder
        .orientation()
        .map_err(|e| DecodeError::Decode(e.to_string()))?;
    if let (Some(t), true) = (target, is_jpeg) {
        if let Some(mut image) = jpeg_reduced(bytes, w, h, t) {
            image.apply_orientation(orientation);
            let (width, height) = match orientation {
                image::metadata::Orientation::Rotate90
                | image::metadata::Orientation::Rotate270
                | image::metadata::Orientation::Rotate90FlipH
                | image::metadata::Orientation::Rotate270FlipH => (h, w),
                _ => (w, h),
            };
            return Ok(Decoded {
                image,
                width,
                height,
                taken_at,
            });
        }
    }
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(l) => DecodeError::TooManyPixels(l.to_string()),
        other => DecodeError::Decode(other.to_string()),
    })?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    Ok(Decoded {
        image,
        width,
        height,
        taken_at,
    })
}

/// The reduced-scale decode of a `w` × `h` JPEG for model size `target`, or `None` when the
/// picture is not large enough to reduce or the reduced decoder cannot handle it (the caller
/// then decodes it in full).
fn jpeg_reduced(bytes: &[u8], w: u32, h: u32, target: u32) -> Option<DynamicImage> {
    let keep = target.saturating_mul(DRAFT_GAP).max(1);
    let denom = [8u32, 4, 2]
        .into_iter()
        .find(|d| w.div_ceil(*d) >= keep && h.div_ceil(*d) >= keep)?;
    let (rw, rh) = (w.div_ceil(denom), h.div_ceil(denom));
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    let (ow, oh) = dec
        .scale(u16::try_from(rw).ok()?, u16::try_from(rh).ok()?)
        .ok()?;
    let pixels = dec.decode().ok()?;
    let info = dec.info()?;
    let (ow, oh) = (u32::from(ow), u32::from(oh));
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            image::RgbImage::from_raw(ow, oh, pixels).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(ow, oh, pixels).map(DynamicImage::ImageLuma8)
        }
        _ => None,
    }
}

/// A JPEG's last scan must be followed by the end-of-image marker (FF D9). Entropy-coded data
/// never contains FF D9 (FF is stuffed as FF 00), so this tells a complete file from one that
/// was cut off, whatever trails after the image (camera trailers are allowed).
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(sos) => bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    /// `img` as PNG bytes (also for the preprocessing tests).
    pub(crate) fn png(img: &RgbImage) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, ImageFormat::Png).unwrap();
        buf.into_inner()
    }

    #[test]
    fn empty_and_garbage_are_clear_errors() {
        assert!(matches!(
            decode(b"", DEFAULT_MAX_PIXELS),
            Err(DecodeError::Decode(_))
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
            Err(DecodeError::Decode(_))
        ));
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        let bytes = png(&RgbImage::from_pixel(200, 200, Rgb([1, 2, 3])));
        let err = decode(&bytes, 10_000).unwrap_err();
        assert!(matches!(err, DecodeError::TooManyPixels(_)), "{err}");
    }
}
