//! The site's own files under `/pkg`: the hydrating client and the stylesheet. Release builds
//! (`scripts/build-site.sh --release`) name them by content hash, list the names in
//! `pkg/assets.json`, and store brotli and gzip copies next to them; here they are served with
//! the copy the browser accepts (`Content-Encoding`) and, when hashed, cached for a year
//! (`Cache-Control: public, max-age=31536000, immutable`). Unhashed names (debug builds) are
//! revalidated on every use (`no-cache`).

use std::path::Path;

use app::assets::{SiteAssets, ASSETS_FILE};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::services::ServeDir;

/// One year: the longest `max-age` caches honour.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The asset names the site was built with: `pkg/assets.json`, else wasm-bindgen's names.
pub fn load(site_root: &Path) -> anyhow::Result<SiteAssets> {
    let file = site_root.join("pkg").join(ASSETS_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a valid asset list: {e}", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SiteAssets::default()),
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", file.display())),
    }
}

/// True for `name.<16 hex digits>.ext`, the names build-site.sh gives.
pub fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.')
        .any(|part| part.len() == 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `/pkg/*` from `<site_root>/pkg`, pre-compressed copies preferred.
pub fn pkg_routes(site_root: &Path) -> Router {
    let dir = ServeDir::new(site_root.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .nest_service("/pkg", dir)
        .layer(axum::middleware::from_fn(cache_control))
}

async fn cache_control(req: Request, next: Next) -> Response {
    let hashed = is_hashed(req.uri().path());
    let mut res = next.run(req).await;
    if res.status().is_success() || res.status() == axum::http::StatusCode::NOT_MODIFIED {
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if hashed { IMMUTABLE } else { "no-cache" }),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("/pkg/shihua.0123456789abcdef.wasm"));
        assert!(!is_hashed("/pkg/shihua_bg.wasm"));
        assert!(!is_hashed("/pkg/shihua.css"));
    }
}
