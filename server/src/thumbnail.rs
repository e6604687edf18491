//! JPEG thumbnails of a decoded picture: the photo thumbnails (`/thumb/{id}`) and the
//! previews of uploaded query pictures (`/query/{id}`).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::DynamicImage;

const JPEG_QUALITY: u8 = 82;

/// `image` shrunk to at most `max_w` pixels wide (never enlarged), as JPEG bytes.
pub fn jpeg_thumbnail(image: DynamicImage, max_w: u32) -> Result<Vec<u8>, image::ImageError> {
    let img = if image.width() > max_w {
        let h = ((u64::from(image.height()) * u64::from(max_w)) / u64::from(image.width())).max(1)
            as u32;
        image.resize_exact(max_w, h, image::imageops::FilterType::Triangle)
    } else {
        image
    };
    let mut out = Cursor::new(Vec::new());
    img.to_rgb8()
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_wide_pictures_only() {
        let big = DynamicImage::new_rgb8(1000, 500);
        let out = image::load_from_memory(&jpeg_thumbnail(big, 480).unwrap()).unwrap();
        assert_eq!((out.width(), out.height()), (480, 240));
        let small = DynamicImage::new_rgb8(100, 50);
        let out = image::load_from_memory(&jpeg_thumbnail(small, 480).unwrap()).unwrap();
        assert_eq!((out.width(), out.height()), (100, 50));
    }
}
