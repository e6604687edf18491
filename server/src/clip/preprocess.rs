//! Image preprocessing, faithful to cn_clip's `image_transform`: decode (any format the
//! `image` crate reads), apply EXIF orientation (the one deliberate deviation: phone photos
//! must be upright), squash-resize to the model's size with Pillow's BICUBIC convolution,
//! convert to RGB, scale to [0,1], normalise with the CLIP mean and std, and lay out as CHW
//! f32. Decoding is bounded by pixel and memory limits so a decompression bomb is refused
//! before any large allocation.
//!
//! cn_clip runs torchvision's `Resize((224, 224), BICUBIC)` on a PIL image, which is Pillow's
//! `img.resize((224, 224), Image.BICUBIC)`. [`resize_like_pillow`] reproduces that bit for bit
//! (same coefficients, 22-bit fixed point, horizontal pass first with a rounded and clamped
//! 8-bit intermediate), including Pillow's rule that a picture with alpha is resized
//! premultiplied and un-premultiplied before `convert('RGB')` drops the alpha.
//! models/scripts/make_preprocess_refs.py and server/tests/preprocess_fidelity.rs check the
//! whole chain against cn_clip on real photos.

use std::io::Cursor;

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
    let size = spec.size;
    if size == 0 || image.width() == 0 || image.height() == 0 {
        return Err(ClipError::Decode("the picture has no pixels".into()));
    }
    // Pillow resizes RGBA/LA premultiplied ("RGBa"), then `convert('RGB')` drops the alpha
    // without compositing: transparent areas come out black, as in cn_clip.
    let rgb: Vec<u8> = if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        let (w, h) = rgba.dimensions();
        let mut px = rgba.into_raw();
        premultiply_like_pillow(&mut px);
        let mut out = resize_like_pillow::<4>(&px, w, h, size, size);
        unpremultiply_like_pillow(&mut out);
        out.chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    } else {
        let rgb = image.to_rgb8();
        let (w, h) = rgb.dimensions();
        resize_like_pillow::<3>(rgb.as_raw(), w, h, size, size)
    };
    let plane = (size * size) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - spec.mean[c]) / spec.std[c];
        }
    }
    Ok(out)
}

/// Pillow's fixed-point precision for 8-bit resampling (`PRECISION_BITS` in Resample.c).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's bicubic kernel (a = -0.5, i.e. Catmull-Rom), support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel: first input index and the fixed-point weights (Pillow's
/// `precompute_coeffs` + `normalize_coeffs_8bpc`, for the whole source range).
struct Coeffs {
    start: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn coefficients(in_size: u32, out_size: u32) -> Coeffs {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ss = 1.0 / filterscale;
    let one = f64::from(1u32 << PRECISION_BITS);
    let mut start = Vec::with_capacity(out_size as usize);
    let mut weights = Vec::with_capacity(out_size as usize);
    for xx in 0..out_size {
        let center = (f64::from(xx) + 0.5) * scale;
        // C's (int) cast truncates toward zero, as `as i64` does.
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size));
        let k: Vec<f64> = (xmin..xmax)
            .map(|x| bicubic((x as f64 - center + 0.5) * ss))
            .collect();
        let ww: f64 = k.iter().sum();
        let k = k.into_iter().map(|w| if ww != 0.0 { w / ww } else { w });
        weights.push(
            k.map(|w| {
                if w < 0.0 {
                    (-0.5 + w * one) as i32
                } else {
                    (0.5 + w * one) as i32
                }
            })
            .collect(),
        );
        start.push(xmin as usize);
    }
    Coeffs { start, weights }
}

/// Pillow's `clip8`: drop the fraction (arithmetic shift) and clamp to 0..=255.
fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's 8-bit `Image.resize(..., BICUBIC)` of an interleaved `N`-channel picture, bit for
/// bit: horizontal pass first (only over the rows the vertical pass reads) into a rounded,
/// clamped 8-bit intermediate, then the vertical pass; a pass whose size does not change is
/// skipped, as in Pillow.
pub fn resize_like_pillow<const N: usize>(
    src: &[u8],
    width: u32,
    height: u32,
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    assert_eq!(src.len(), width as usize * height as usize * N);
    let half = 1i32 << (PRECISION_BITS - 1);
    let vert = coefficients(height, out_h);
    // Rows of the source the vertical pass uses.
    let (row0, row1) = if out_h != height {
        let last = vert.start.len() - 1;
        (vert.start[0], vert.start[last] + vert.weights[last].len())
    } else {
        (0, height as usize)
    };
    let (tmp, tmp_w) = if out_w != width {
        let horiz = coefficients(width, out_w);
        let (w, ow) = (width as usize, out_w as usize);
        let mut tmp = vec![0u8; (row1 - row0) * ow * N];
        for (src_row, dst_row) in src[row0 * w * N..row1 * w * N]
            .chunks_exact(w * N)
            .zip(tmp.chunks_exact_mut(ow * N))
        {
            for ((dst, &x0), k) in dst_row
                .chunks_exact_mut(N)
                .zip(&horiz.start)
                .zip(&horiz.weights)
            {
                let mut acc = [half; N];
                for (px, &kx) in src_row[x0 * N..(x0 + k.len()) * N].chunks_exact(N).zip(k) {
                    for c in 0..N {
                        acc[c] += i32::from(px[c]) * kx;
                    }
                }
                for c in 0..N {
                    dst[c] = clip8(acc[c]);
                }
            }
        }
        (tmp, out_w)
    } else {
        (
            src[row0 * width as usize * N..row1 * width as usize * N].to_vec(),
            width,
        )
    };
    if out_h == height {
        return tmp;
    }
    let row_len = tmp_w as usize * N;
    let mut out = vec![0u8; out_h as usize * row_len];
    let mut acc = vec![0i32; row_len];
    for ((dst_row, &y0), k) in out
        .chunks_exact_mut(row_len)
        .zip(&vert.start)
        .zip(&vert.weights)
    {
        acc.fill(half);
        for (dy, &ky) in k.iter().enumerate() {
            let y = y0 - row0 + dy;
            for (a, &v) in acc.iter_mut().zip(&tmp[y * row_len..(y + 1) * row_len]) {
                *a += i32::from(v) * ky;
            }
        }
        for (d, &a) in dst_row.iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
    out
}

/// Pillow's RGBA → RGBa: each colour × alpha / 255, rounded (`MULDIV255`).
fn premultiply_like_pillow(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = u32::from(px[3]);
        for c in &mut px[..3] {
            let t = u32::from(*c) * a + 128;
            *c = (((t >> 8) + t) >> 8) as u8;
        }
    }
}

/// Pillow's RGBa → RGBA: colour × 255 / alpha, truncated and clamped; alpha 0 and 255 untouched.
fn unpremultiply_like_pillow(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = u32::from(px[3]);
        if a != 0 && a != 255 {
            for c in &mut px[..3] {
                *c = (255 * u32::from(*c) / a).min(255) as u8;
            }
        }
    }
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
