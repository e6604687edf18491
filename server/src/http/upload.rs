//! The one multipart reader: every upload — the page's upload server function, the JSON
//! API's `POST /api/v1/search/image` and the script-free `POST /upload` form — is read,
//! size-checked and reported here, so the three doors accept the same uploads and say the
//! same thing when one is wrong. The doors only decide what a missing picture means to their
//! caller and how an error is shown (JSON, the server function's encoding, a short page).

use app::search::{too_large, SearchError, UploadReader, IMAGE_FIELD};
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::RequestExt;

/// Room above the largest picture for the multipart framing and the small fields.
const FRAMING: usize = 64 * 1024;

/// The most bytes a request body may carry when pictures may be `max_upload` bytes (the
/// router's `DefaultBodyLimit`).
pub fn body_limit(max_upload: usize) -> usize {
    max_upload + FRAMING
}

/// What an upload form carried.
#[derive(Debug, Default)]
pub struct Upload {
    /// Field `image`, when present and not empty.
    pub image: Option<Vec<u8>>,
    /// Field `k` (the API's result count), as sent.
    pub k: Option<String>,
}

/// Reads the multipart body of `req` (held to the router's body limit), with pictures of at
/// most `limit` bytes.
pub async fn read_request(req: Request, limit: usize) -> Result<Upload, SearchError> {
    let boundary = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            SearchError::BadRequest(
                "上传数据无法读取 · the upload could not be read: expected a multipart/form-data \
                 upload"
                    .into(),
            )
        })?;
    let body = req.with_limited_body().into_body();
    read(
        multer::Multipart::new(body.into_data_stream(), boundary),
        limit,
    )
    .await
}

/// Reads a multipart form: every field is held to `limit` bytes, unknown fields are skipped.
pub async fn read(
    mut form: multer::Multipart<'static>,
    limit: usize,
) -> Result<Upload, SearchError> {
    let mut upload = Upload::default();
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| unreadable(&e, "上传数据无法读取 · the upload could not be read"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let mut buf = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| unreadable(&e, "上传中断 · the upload was interrupted"))?
        {
            if buf.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        match name.as_str() {
            IMAGE_FIELD => upload.image = Some(buf),
            "k" => upload.k = Some(String::from_utf8_lossy(&buf).into_owned()),
            _ => {}
        }
    }
    upload.image = upload.image.filter(|b| !b.is_empty());
    Ok(upload)
}

/// A read error: 413 when the body went over the router's limit, else 400 saying `what`.
fn unreadable(e: &multer::Error, what: &str) -> SearchError {
    if over_body_limit(e) {
        SearchError::TooLarge(format!("图片太大 · the upload is too large: {e}"))
    } else {
        SearchError::BadRequest(format!("{what}: {e}"))
    }
}

/// True when the body stream stopped at the router's `DefaultBodyLimit` (as axum's own
/// multipart extractor tells it).
fn over_body_limit(e: &multer::Error) -> bool {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => true,
        multer::Error::StreamReadFailed(inner) => {
            if let Some(e) = inner.downcast_ref::<multer::Error>() {
                return over_body_limit(e);
            }
            inner
                .downcast_ref::<axum::Error>()
                .and_then(std::error::Error::source)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        }
        _ => false,
    }
}

/// The reader as the upload server function finds it in Leptos context.
pub struct MultipartReader;

#[async_trait::async_trait]
impl UploadReader for MultipartReader {
    async fn picture(
        &self,
        form: multer::Multipart<'static>,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, SearchError> {
        Ok(read(form, limit).await?.image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, &[u8])]) -> multer::Multipart<'static> {
        let mut body = Vec::new();
        for (name, bytes) in parts {
            body.extend_from_slice(
                format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--B--\r\n");
        multer::Multipart::new(axum::body::Body::from(body).into_data_stream(), "B")
    }

    #[tokio::test]
    async fn fields_are_read_and_limited() {
        let got = read(form(&[("k", b"3"), ("image", b"abc"), ("x", b"y")]), 10)
            .await
            .unwrap();
        assert_eq!(got.image.as_deref(), Some(&b"abc"[..]));
        assert_eq!(got.k.as_deref(), Some("3"));
        let empty = read(form(&[("image", b"")]), 10).await.unwrap();
        assert!(empty.image.is_none());
        let big = read(form(&[("image", &[0u8; 11])]), 10).await.unwrap_err();
        assert_eq!(big.status_code(), 413, "{big}");
        let broken = multer::Multipart::new(
            axum::body::Body::from("--B\r\nnot a header").into_data_stream(),
            "B",
        );
        let bad = read(broken, 10).await.unwrap_err();
        assert_eq!(bad.status_code(), 400, "{bad}");
    }
}
