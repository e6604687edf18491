//! Shrinks a query picture in the browser before upload: a 12 MP phone photo becomes a
//! ≤ 1024 px JPEG of a few hundred KB (the model looks at 224 px anyway). The browser applies
//! the EXIF orientation while decoding. Anything the browser cannot decode is sent as it is,
//! and the server applies its own size and pixel limits either way.

use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Longest side of an uploaded query picture.
pub const MAX_SIDE: u32 = 1024;
/// Pictures at most this large (and small enough in pixels) are sent untouched.
const SEND_AS_IS_BYTES: f64 = 1_500_000.0;
const JPEG_QUALITY: f64 = 0.9;

/// The picture to upload and its file name.
pub async fn for_upload(file: web_sys::File) -> (web_sys::Blob, String) {
    match shrink(&file).await {
        Ok(Some(blob)) => (blob, "query.jpg".to_string()),
        _ => {
            let name = file.name();
            (file.into(), name)
        }
    }
}

/// The new size for a `w` × `h` picture, or None when it is small enough already.
pub fn target_size(w: u32, h: u32) -> Option<(u32, u32)> {
    let longest = w.max(h);
    if longest <= MAX_SIDE {
        return None;
    }
    let scale = MAX_SIDE as f64 / longest as f64;
    let fit = |v: u32| ((v as f64 * scale).round() as u32).max(1);
    Some((fit(w), fit(h)))
}

async fn shrink(file: &web_sys::File) -> Result<Option<web_sys::Blob>, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let bitmap: web_sys::ImageBitmap = JsFuture::from(window.create_image_bitmap_with_blob(file)?)
        .await?
        .dyn_into()?;
    let (w, h) = (bitmap.width(), bitmap.height());
    let (nw, nh) = match target_size(w, h) {
        Some(size) => size,
        None if file.size() <= SEND_AS_IS_BYTES => {
            bitmap.close();
            return Ok(None);
        }
        None => (w, h),
    };
    let document = window.document().ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = document.create_element("canvas")?.dyn_into()?;
    canvas.set_width(nw);
    canvas.set_height(nh);
    let ctx: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")?
        .ok_or("no 2d context")?
        .dyn_into()?;
    ctx.set_image_smoothing_enabled(true);
    // `imageSmoothingQuality` is not in web-sys: set it by name.
    let _ = js_sys::Reflect::set(&ctx, &"imageSmoothingQuality".into(), &"high".into());
    ctx.draw_image_with_image_bitmap_and_dw_and_dh(&bitmap, 0.0, 0.0, nw as f64, nh as f64)?;
    bitmap.close();
    let blob = JsFuture::from(to_jpeg(&canvas)).await?;
    Ok(blob.dyn_into::<web_sys::Blob>().ok())
}

/// `canvas.toBlob(..., "image/jpeg")` as a promise.
fn to_jpeg(canvas: &web_sys::HtmlCanvasElement) -> js_sys::Promise {
    let canvas = canvas.clone();
    js_sys::Promise::new(&mut move |resolve, reject| {
        let done = Closure::once_into_js(move |blob: JsValue| {
            let _ = resolve.call1(&JsValue::NULL, &blob);
        });
        if let Err(e) = canvas.to_blob_with_type_and_encoder_options(
            done.unchecked_ref(),
            "image/jpeg",
            &JsValue::from_f64(JPEG_QUALITY),
        ) {
            let _ = reject.call1(&JsValue::NULL, &e);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::target_size;

    #[test]
    fn big_pictures_fit_in_1024() {
        assert_eq!(target_size(4032, 3024), Some((1024, 768)));
        assert_eq!(target_size(3000, 4000), Some((768, 1024)));
        assert_eq!(target_size(1024, 800), None);
        assert_eq!(target_size(100_000, 10), Some((1024, 1)));
    }
}
