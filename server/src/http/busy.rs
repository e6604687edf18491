//! `429 Too Many Requests` with `Retry-After`, shaped for whoever asked: JSON `{"error"}` for
//! the API, the server function's JSON error encoding for the page's client (which shows a
//! friendly line in the visitor's language), and a short HTML page for the plain upload form.

use app::search::SearchError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The response for `error` (a `SearchError::Busy`) on the route at `path`, on a site under
/// `base`.
pub fn respond(path: &str, error: SearchError, base: &str) -> Response {
    let seconds = error.retry_after().unwrap_or(1);
    let mut res = if path.starts_with("/api/v1/") {
        axum::Json(serde_json::json!({"error": error.to_string()})).into_response()
    } else if path == app::url::UPLOAD_ROUTE {
        let message = app::html::escape_text(&error.to_string());
        Html(format!(
            "<!DOCTYPE html><html lang=\"zh-CN\"><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>诗画 shihua</title><main><p role=\"alert\">{message}</p>\
             <p><a href=\"{base}/\">← 返回 · back</a></p></main></html>"
        ))
        .into_response()
    } else {
        // A server function: its client decodes the body as a `SearchError` (JSON).
        let body = serde_json::to_string(&error).unwrap_or_default();
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    };
    *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let h = res.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
