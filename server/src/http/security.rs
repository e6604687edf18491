//! Security headers on every response: `X-Content-Type-Options: nosniff`, a `Referrer-Policy`,
//! `X-Frame-Options: DENY`, and a Content-Security-Policy. HTML pages rendered by Leptos set
//! their own policy with this response's nonce (`app::security`); every other response (JSON,
//! pictures, static files, the plain upload form's pages) gets a strict one that runs no
//! script at all and cannot be framed.

use std::io::Write;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Extension;

/// The policy for responses that are not the app's pages.
pub const DEFAULT_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Referrers only to this site (links out to other sites say nothing of the search).
pub const REFERRER_POLICY: &str = "same-origin";

pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DEFAULT_POLICY));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(REFERRER_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Where `POST /csp-report` appends the violation reports browsers send (`--csp-report-log`;
/// the e2e run checks the file stays empty). Reports are logged as warnings either way.
#[derive(Clone, Debug, Default)]
pub struct ReportLog(pub Option<PathBuf>);

/// Largest report accepted (reports are a few hundred bytes): the route's body limit, past
/// which the answer is 413.
pub const MAX_REPORT: usize = 16 * 1024;

/// `POST /csp-report`: a browser reports that the page's policy blocked something.
pub async fn csp_report(Extension(log): Extension<ReportLog>, body: Bytes) -> StatusCode {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_REPORT)]);
    let line = text.replace(['\n', '\r'], " ");
    tracing::warn!("CSP violation reported: {line}");
    if let Some(path) = &log.0 {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            tracing::warn!("cannot append to {}: {e}", path.display());
        }
    }
    StatusCode::NO_CONTENT
}
