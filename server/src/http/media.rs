//! Pictures over HTTP: `/image/{id}` streams the original photo, `/thumb/{id}?w=` a JPEG
//! thumbnail made once and cached on disk, `/query/{id}` the preview of an uploaded query
//! picture. A photo's path always comes from the collection row, never from the client.
//! Responses carry `Cache-Control` and `ETag` and honour `If-None-Match`.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use crate::clip::preprocess::DEFAULT_MAX_PIXELS;
use crate::image::decode::decode;
use crate::image::thumbnail::jpeg_thumbnail;

/// Thumbnail widths are rounded up to one of these, so the cache stays small.
pub const THUMB_WIDTHS: [u32; 5] = [120, 240, 480, 960, 1600];

/// On-disk thumbnail cache.
pub struct ThumbCache {
    dir: PathBuf,
    /// Thumbnails being made at once (each decodes a whole photo); the rest wait their turn.
    making: tokio::sync::Semaphore,
}

impl ThumbCache {
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            making: tokio::sync::Semaphore::new(crate::search::decode_parallelism()),
        })
    }

    /// The cache folder (share cards are cached beside it).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn path(&self, id: i64, w: u32) -> PathBuf {
        self.dir.join(format!("{id}_{w}.jpg"))
    }
}

#[derive(Deserialize)]
pub struct ThumbQuery {
    w: Option<u32>,
}

fn not_found(msg: &str) -> Response {
    (StatusCode::NOT_FOUND, msg.to_string()).into_response()
}

/// Round a requested width up to a cached size.
pub fn thumb_width(w: Option<u32>) -> u32 {
    let w = w.unwrap_or(THUMB_WIDTHS[2]);
    THUMB_WIDTHS
        .iter()
        .copied()
        .find(|&s| s >= w)
        .unwrap_or(THUMB_WIDTHS[THUMB_WIDTHS.len() - 1])
}

async fn lookup(state: &AppState, id: &str) -> Result<(i64, PathBuf), Response> {
    let id: i64 = id.parse().map_err(|_| not_found("no such photo"))?;
    match state.engine.photo_path(id).await {
        Ok(Some(p)) => Ok((id, p)),
        Ok(None) => Err(not_found("no such photo")),
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()),
    }
}

fn etag_of(meta: &std::fs::Metadata, extra: &str) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    format!("\"{:x}-{:x}{extra}\"", meta.len(), mtime)
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

fn respond(bytes: Vec<u8>, content_type: &str, etag: String, headers: &HeaderMap) -> Response {
    let mut res = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(bytes));
        if let Ok(v) = HeaderValue::from_str(content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}

/// `GET /image/{id}`: the original photo.
pub async fn image(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let (_, path) = match lookup(&state, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return not_found("the photo file is no longer there");
    };
    let etag = etag_of(&meta, "");
    if not_modified(&headers, &etag) {
        return respond(Vec::new(), "", etag, &headers);
    }
    let Ok(bytes) = tokio::fs::read(&path).await else {
        return not_found("the photo file cannot be read");
    };
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    respond(bytes, mime.as_ref(), etag, &headers)
}

/// `GET /thumb/{id}?w=`: a JPEG at most `w` pixels wide (rounded up to a cached size).
pub async fn thumb(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<ThumbQuery>,
    headers: HeaderMap,
) -> Response {
    let (id, path) = match lookup(&state, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let w = thumb_width(q.w);
    let cached = state.thumbs.path(id, w);
    if let Ok(meta) = tokio::fs::metadata(&cached).await {
        let etag = etag_of(&meta, &format!("-{w}"));
        if not_modified(&headers, &etag) {
            return respond(Vec::new(), "", etag, &headers);
        }
        if let Ok(bytes) = tokio::fs::read(&cached).await {
            return respond(bytes, "image/jpeg", etag, &headers);
        }
    }
    let Ok(_slot) = state.thumbs.making.acquire().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    };
    // Made by an earlier request while this one waited?
    if let Ok(bytes) = tokio::fs::read(&cached).await {
        if let Ok(meta) = tokio::fs::metadata(&cached).await {
            return respond(
                bytes,
                "image/jpeg",
                etag_of(&meta, &format!("-{w}")),
                &headers,
            );
        }
    }
    let made = tokio::task::spawn_blocking(move || make_thumb(&path, &cached, w)).await;
    match made {
        Ok(Ok((bytes, meta))) => {
            let etag = etag_of(&meta, &format!("-{w}"));
            respond(bytes, "image/jpeg", etag, &headers)
        }
        Ok(Err(e)) => not_found(&format!("no thumbnail: {e}")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn make_thumb(src: &Path, dst: &Path, w: u32) -> anyhow::Result<(Vec<u8>, std::fs::Metadata)> {
    let bytes = std::fs::read(src)?;
    let decoded = decode(&bytes, DEFAULT_MAX_PIXELS)?;
    let out = jpeg_thumbnail(decoded.image, w)?;
    let tmp = dst.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &out)?;
    std::fs::rename(&tmp, dst)?;
    let meta = std::fs::metadata(dst)?;
    Ok((out, meta))
}

/// `GET /query/{id}`: the preview of an uploaded query picture.
pub async fn query_picture(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    match state.engine.query_images().preview(&id) {
        // Content-addressed: the same id is always the same picture.
        Some(bytes) => respond(bytes.to_vec(), "image/jpeg", format!("\"{id}\""), &headers),
        None => not_found("this query picture has expired or never existed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_round_up_to_cached_sizes() {
        assert_eq!(thumb_width(None), 480);
        assert_eq!(thumb_width(Some(1)), 120);
        assert_eq!(thumb_width(Some(240)), 240);
        assert_eq!(thumb_width(Some(241)), 480);
        assert_eq!(thumb_width(Some(100_000)), 1600);
    }
}
