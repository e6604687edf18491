//! JPEG thumbnails of a decoded picture: the photo thumbnails (`/thumb/{id}`) and the
//! previews of uploaded query pictures (`/query/{id}`). The shrink runs on `fast_image_resize`
//! (SIMD): a query preview is made while the visitor waits for results, so it must be cheap
//! (1 MP → 480 px: ~25 ms with `image`'s own resize and encode, a few ms here).

use std::io::Cursor;

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder};

const JPEG_QUALITY: u8 = 82;

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("resizing the picture: {0}")]
    Resize(String),
    #[error("encoding the thumbnail: {0}")]
    Encode(#[from] image::ImageError),
}

/// `image` shrunk to at most `max_w` pixels wide (never enlarged), as JPEG bytes.
pub fn jpeg_thumbnail(image: DynamicImage, max_w: u32) -> Result<Vec<u8>, ThumbnailError> {
    let rgb = image.into_rgb8();
    let (w, h) = rgb.dimensions();
    let (w, h, pixels) = if w > max_w {
        let out_h = ((u64::from(h) * u64::from(max_w)) / u64::from(w)).max(1) as u32;
        let pixels = shrink(rgb.into_raw(), (w, h), (max_w, out_h))?;
        (max_w, out_h, pixels)
    } else {
        (w, h, rgb.into_raw())
    };
    let mut out = Cursor::new(Vec::new());
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).write_image(
        &pixels,
        w,
        h,
        ExtendedColorType::Rgb8,
    )?;
    Ok(out.into_inner())
}

/// RGB8 pixels `from` → `to` with a bilinear (triangle) filter, antialiased like a
/// convolution resize should be when shrinking.
fn shrink(pixels: Vec<u8>, from: (u32, u32), to: (u32, u32)) -> Result<Vec<u8>, ThumbnailError> {
    let err = |e: &dyn std::fmt::Display| ThumbnailError::Resize(e.to_string());
    let src = Image::from_vec_u8(from.0, from.1, pixels, PixelType::U8x3).map_err(|e| err(&e))?;
    let mut dst = Image::new(to.0, to.1, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| err(&e))?;
    Ok(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn shrinks_wide_pictures_only() {
        let big = DynamicImage::new_rgb8(1000, 500);
        let out = image::load_from_memory(&jpeg_thumbnail(big, 480).unwrap()).unwrap();
        assert_eq!((out.width(), out.height()), (480, 240));
        let small = DynamicImage::new_rgb8(100, 50);
        let out = image::load_from_memory(&jpeg_thumbnail(small, 480).unwrap()).unwrap();
        assert_eq!((out.width(), out.height()), (100, 50));
    }

    #[test]
    fn shrinking_keeps_the_picture() {
        // Left half red, right half blue, 1200 × 600 → 480 × 240: the colours stay on their
        // sides (a swapped channel or a transposed buffer would show here).
        let img = RgbImage::from_fn(1200, 600, |x, _| {
            if x < 600 {
                Rgb([220, 20, 20])
            } else {
                Rgb([20, 20, 220])
            }
        });
        let out = image::load_from_memory(&jpeg_thumbnail(img.into(), 480).unwrap())
            .unwrap()
            .into_rgb8();
        let left = out.get_pixel(100, 120);
        let right = out.get_pixel(380, 120);
        assert!(left[0] > 180 && left[2] < 60, "left {left:?}");
        assert!(right[2] > 180 && right[0] < 60, "right {right:?}");
    }
}
