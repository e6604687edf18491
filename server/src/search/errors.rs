//! Where the engine's lower layers' errors become the visitor's `SearchError`: a picture the
//! model cannot read or that is too large, and a store that does not answer.

use app::search::SearchError;

use crate::clip::ClipError;
use crate::store::StoreError;

/// A picture the visitor can fix (unreadable, too many pixels) as such; the rest internal.
pub fn clip_error(e: ClipError) -> SearchError {
    match e {
        ClipError::Decode(m) => {
            SearchError::BadRequest(format!("无法识别这张图片 · not a picture we can read: {m}"))
        }
        ClipError::TooManyPixels(m) => SearchError::TooLarge(format!("图片像素太多 · {m}")),
        other => SearchError::Internal(other.to_string()),
    }
}

/// The photo index did not answer: the visitor can try again later.
pub fn store_error(e: StoreError) -> SearchError {
    SearchError::Unavailable(format!(
        "向量库暂时不可用 · the photo index is unavailable: {e}"
    ))
}
