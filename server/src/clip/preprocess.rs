//! Image preprocessing, faithful to cn_clip's `image_transform`: decode ([`crate::image::decode`]:
//! any format the `image` crate reads, EXIF orientation applied — the one deliberate deviation:
//! phone photos must be upright), squash-resize to the model's size with Pillow's BICUBIC convolution,
//! convert to RGB, scale to [0,1], normalise with the CLIP mean and std, and lay out as CHW
//! f32.
//!
//! cn_clip runs torchvision's `Resize((224, 224), BICUBIC)` on a PIL image, which is Pillow's
//! `img.resize((224, 224), Image.BICUBIC)`. [`resize_like_pillow`] reproduces that bit for bit
//! (Pillow 13.0: same coefficients, 22-bit fixed point, two passes with a rounded and
//! clamped 8-bit intermediate, in Pillow's order), including Pillow's rule that a picture with alpha is resized
//! premultiplied and un-premultiplied before `convert('RGB')` drops the alpha.
//! models/scripts/make_preprocess_refs.py and server/tests/preprocess_fidelity.rs check the
//! whole chain against cn_clip on real photos: PNG and WebP match exactly. JPEG decoding does
//! not: the `image` crate's zune-jpeg rounds chroma upsampling (and a few IDCT samples)
//! differently from Pillow's libjpeg-turbo, which leaves up to ~3–4 levels of 255 on a few
//! pixels of the 224² result for small JPEGs.
//!
//! Optional speed lever (`PreprocessSpec::jpeg_draft`, off by default): a JPEG much larger than
//! the model input is decoded at a reduced DCT scale (1/2, 1/4 or 1/8, like Pillow's
//! `draft()`), keeping at least [`DRAFT_GAP`]× the model size on each side, then resized as
//! above. It changes pixels (cn_clip does not draft), so it is opt-in and measured in bench/.

use image::DynamicImage;

use super::ClipError;
use crate::image::decode::decode_draft;
pub use crate::image::decode::{Decoded, DEFAULT_MAX_PIXELS, DRAFT_GAP};

/// What preprocessing needs to know about the model.
#[derive(Clone, Debug)]
pub struct PreprocessSpec {
    pub size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Decode large JPEGs at a reduced DCT scale (faster, not bit-faithful to cn_clip).
    pub jpeg_draft: bool,
}

/// Squash-resize to `spec.size`² and normalise into a CHW tensor (3 × size × size floats).
pub fn to_tensor(image: &DynamicImage, spec: &PreprocessSpec) -> Result<Vec<f32>, ClipError> {
    let size = spec.size;
    if size == 0 || image.width() == 0 || image.height() == 0 {
        return Err(ClipError::Decode("the picture has no pixels".into()));
    }
    let rgb = resize_to_rgb8(image, size, size);
    let plane = (size * size) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - spec.mean[c]) / spec.std[c];
        }
    }
    Ok(out)
}

/// cn_clip's `Resize((h, w), BICUBIC)` + `convert('RGB')` as Pillow runs them: interleaved RGB8,
/// `out_w` × `out_h`. Pillow resizes a picture with alpha premultiplied ("RGBa") and
/// un-premultiplies it; `convert('RGB')` then drops the alpha without compositing, so
/// transparent areas come out black, as in cn_clip.
pub fn resize_to_rgb8(image: &DynamicImage, out_w: u32, out_h: u32) -> Vec<u8> {
    if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        let (w, h) = rgba.dimensions();
        let mut px = rgba.into_raw();
        premultiply_like_pillow(&mut px);
        let mut out = resize_like_pillow::<4>(&px, w, h, out_w, out_h);
        unpremultiply_like_pillow(&mut out);
        out.chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    } else {
        let rgb = image.to_rgb8();
        let (w, h) = rgb.dimensions();
        resize_like_pillow::<3>(rgb.as_raw(), w, h, out_w, out_h)
    }
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
/// bit (Pillow 13.0's `ImagingResampleInner`): two separable passes with a rounded, clamped
/// 8-bit intermediate; a pass whose size does not change is skipped. The horizontal pass runs
/// first (over only the rows the vertical pass reads) unless the height shrinks by more than
/// twice as many pixels as the width, in which case the vertical pass runs first. (Pillow
/// before 13 always ran the horizontal pass first; the order changes a few pixels by a few
/// levels where the intermediate clamps.)
pub fn resize_like_pillow<const N: usize>(
    src: &[u8],
    width: u32,
    height: u32,
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    assert_eq!(src.len(), width as usize * height as usize * N);
    let need_h = out_w != width;
    let need_v = out_h != height;
    let (w, h, ow, oh) = (
        i64::from(width),
        i64::from(height),
        i64::from(out_w),
        i64::from(out_h),
    );
    let horizontal_first = !(h - oh > 0 && h - oh > (w - ow) * 2);
    let (w, h, ow, oh) = (
        width as usize,
        height as usize,
        out_w as usize,
        out_h as usize,
    );
    match (need_h, need_v) {
        (false, false) => src.to_vec(),
        (true, false) => horizontal_pass::<N>(src, w, 0, h, &coefficients(width, out_w)),
        (false, true) => vertical_pass::<N>(src, w, 0, &coefficients(height, out_h)),
        (true, true) if horizontal_first => {
            let vert = coefficients(height, out_h);
            // Rows of the source the vertical pass reads.
            let row0 = vert.start[0];
            let row1 = vert.start[oh - 1] + vert.weights[oh - 1].len();
            let tmp = horizontal_pass::<N>(src, w, row0, row1, &coefficients(width, out_w));
            vertical_pass::<N>(&tmp, ow, row0, &vert)
        }
        (true, true) => {
            let tmp = vertical_pass::<N>(src, w, 0, &coefficients(height, out_h));
            horizontal_pass::<N>(&tmp, w, 0, oh, &coefficients(width, out_w))
        }
    }
}

/// Pillow's `ImagingResampleHorizontal_8bpc` over rows `row0..row1` of a `width`-wide picture.
fn horizontal_pass<const N: usize>(
    src: &[u8],
    width: usize,
    row0: usize,
    row1: usize,
    coeffs: &Coeffs,
) -> Vec<u8> {
    let half = 1i32 << (PRECISION_BITS - 1);
    let out_row = coeffs.start.len() * N;
    let mut out = vec![0u8; (row1 - row0) * out_row];
    for (src_row, dst_row) in src[row0 * width * N..row1 * width * N]
        .chunks_exact(width * N)
        .zip(out.chunks_exact_mut(out_row))
    {
        for ((dst, &x0), k) in dst_row
            .chunks_exact_mut(N)
            .zip(&coeffs.start)
            .zip(&coeffs.weights)
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
    out
}

/// Pillow's `ImagingResampleVertical_8bpc` of a `width`-wide picture whose first row is source
/// row `row0` (the coefficients index source rows).
fn vertical_pass<const N: usize>(
    src: &[u8],
    width: usize,
    row0: usize,
    coeffs: &Coeffs,
) -> Vec<u8> {
    let half = 1i32 << (PRECISION_BITS - 1);
    let row_len = width * N;
    let mut out = vec![0u8; coeffs.start.len() * row_len];
    let mut acc = vec![0i32; row_len];
    for ((dst_row, &y0), k) in out
        .chunks_exact_mut(row_len)
        .zip(&coeffs.start)
        .zip(&coeffs.weights)
    {
        acc.fill(half);
        for (dy, &ky) in k.iter().enumerate() {
            let y = y0 - row0 + dy;
            for (a, &v) in acc.iter_mut().zip(&src[y * row_len..(y + 1) * row_len]) {
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
    let draft = spec.jpeg_draft.then_some(spec.size);
    let decoded = decode_draft(bytes, max_pixels, draft)?;
    let tensor = to_tensor(&decoded.image, spec)?;
    Ok((tensor, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::decode::tests::png;
    use image::{Rgb, RgbImage};

    // cn_clip's constants, digit for digit.
    #[allow(clippy::excessive_precision)]
    fn spec() -> PreprocessSpec {
        PreprocessSpec {
            size: 224,
            mean: [0.48145466, 0.4578275, 0.40821073],
            std: [0.26862954, 0.26130258, 0.27577711],
            jpeg_draft: false,
        }
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

    /// (x*37 + y*91 + c*53 + x*y*7) mod 256: high-contrast steps that make the intermediate clamp.
    fn pattern(w: u32, h: u32, n: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for c in 0..n {
                    v.push(((x * 37 + y * 91 + c * 53 + x * y * 7) % 256) as u8);
                }
            }
        }
        v
    }

    /// Source width, height; output width, height.
    type Dims = (u32, u32, u32, u32);

    // Expected bytes are Pillow 13.0.0's, from models/requirements.txt's venv:
    //   Image.fromarray(pattern(w, h, 3), "RGB").resize((ow, oh), Image.BICUBIC)
    #[test]
    fn resize_is_bit_exact_with_pillow() {
        #[rustfmt::skip]
        let cases: [(Dims, &[u8]); 5] = [
            // both passes, horizontal first
            ((9, 7, 4, 5), &[53, 113, 154, 125, 146, 168, 141, 140, 125, 88, 108, 128, 161, 149, 120, 113, 112, 130, 124, 133, 133, 118, 145, 151, 95, 121, 142, 157, 158, 139, 144, 131, 129, 151, 117, 101, 133, 162, 106, 136, 116, 114, 150, 136, 121, 107, 137, 142, 93, 152, 142, 106, 148, 107, 154, 133, 118, 128, 152, 94]),
            // both passes, vertical first (the height shrinks by more than twice the width)
            ((9, 20, 8, 5), &[90, 139, 124, 127, 125, 146, 125, 141, 127, 137, 125, 156, 120, 160, 130, 163, 114, 119, 100, 126, 139, 122, 133, 125, 116, 146, 135, 118, 121, 125, 128, 149, 132, 135, 113, 126, 135, 130, 109, 147, 130, 141, 146, 132, 120, 106, 135, 104, 141, 106, 149, 155, 122, 106, 152, 98, 146, 138, 123, 116, 113, 163, 80, 81, 140, 151, 122, 104, 173, 136, 125, 132, 155, 130, 105, 123, 129, 132, 115, 117, 120, 114, 140, 138, 87, 147, 85, 97, 149, 83, 97, 158, 122, 110, 153, 106, 110, 158, 117, 103, 127, 118, 134, 122, 114, 154, 117, 153, 96, 122, 158, 106, 166, 98, 141, 140, 115, 134, 119, 148]),
            // upscale width, downscale height
            ((5, 4, 13, 3), &[13, 65, 134, 19, 72, 140, 31, 90, 156, 49, 115, 174, 68, 135, 171, 89, 153, 150, 109, 162, 137, 128, 149, 146, 144, 128, 165, 144, 124, 182, 126, 142, 199, 109, 158, 211, 103, 164, 217, 141, 208, 110, 148, 195, 117, 171, 158, 140, 192, 117, 161, 179, 113, 148, 135, 142, 102, 104, 157, 72, 118, 126, 84, 147, 81, 113, 143, 69, 138, 102, 95, 160, 65, 121, 175, 52, 130, 182, 57, 118, 85, 66, 115, 93, 88, 104, 111, 114, 94, 137, 119, 102, 168, 104, 125, 206, 98, 151, 219, 114, 187, 173, 139, 220, 105, 166, 211, 82, 199, 148, 109, 223, 93, 137, 233, 73, 146]),
            // vertical pass only
            ((9, 7, 9, 3), &[75, 128, 127, 118, 116, 177, 105, 166, 107, 155, 96, 150, 85, 139, 192, 128, 181, 89, 170, 78, 131, 67, 120, 174, 110, 163, 104, 99, 152, 123, 146, 128, 110, 133, 115, 165, 128, 170, 104, 175, 109, 162, 114, 167, 94, 172, 99, 152, 104, 157, 91, 151, 96, 146, 117, 170, 119, 79, 140, 138, 161, 159, 115, 82, 136, 77, 157, 98, 151, 119, 172, 80, 193, 101, 154, 122, 175, 116, 84, 137, 93]),
            // horizontal pass only
            ((9, 7, 4, 7), &[25, 78, 131, 106, 167, 216, 185, 158, 99, 54, 57, 113, 129, 185, 188, 158, 99, 72, 57, 106, 175, 157, 210, 161, 178, 116, 67, 78, 125, 182, 182, 156, 97, 82, 86, 142, 57, 117, 173, 187, 176, 119, 119, 116, 151, 178, 136, 75, 163, 166, 105, 124, 105, 139, 172, 153, 96, 111, 114, 170, 95, 155, 109, 144, 134, 85, 125, 115, 149, 104, 164, 103, 98, 151, 155, 89, 151, 120, 170, 143, 101, 139, 143, 96]),
        ];
        for ((w, h, ow, oh), want) in cases {
            let img = DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pattern(w, h, 3)).unwrap());
            assert_eq!(resize_to_rgb8(&img, ow, oh), want, "{w}x{h} -> {ow}x{oh}");
        }
    }

    // Pillow: a = pattern(6, 6, 4) with the alpha below;
    //   Image.fromarray(a, "RGBA").resize((4, 3), Image.BICUBIC).convert("RGB")
    #[test]
    fn alpha_is_resized_premultiplied_and_dropped_like_pillow() {
        #[rustfmt::skip]
        let alpha = [255, 50, 100, 150, 255, 250, 40, 90, 140, 0, 240, 34, 80, 130, 255, 230, 24, 74, 120, 0, 220, 14, 64, 0, 255, 210, 4, 54, 255, 154, 200, 250, 44, 0, 144, 194];
        #[rustfmt::skip]
        let want = [43, 83, 129, 120, 158, 117, 86, 141, 194, 126, 180, 116, 139, 130, 107, 109, 131, 158, 85, 122, 170, 156, 166, 83, 118, 173, 116, 85, 151, 115, 156, 105, 182, 128, 138, 126];
        let mut px = pattern(6, 6, 4);
        for (p, a) in px.chunks_exact_mut(4).zip(alpha) {
            p[3] = a;
        }
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_raw(6, 6, px).unwrap());
        assert_eq!(resize_to_rgb8(&img, 4, 3), want);
    }
}
