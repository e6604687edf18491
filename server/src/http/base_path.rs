//! Serving under a reverse proxy's sub-path (`shihua serve --base-path /shihua`). The proxy
//! passes paths on unchanged (`/shihua/api/v1/search`); here they lose the prefix before
//! routing, so every route keeps its plain path, except the page itself, whose route the
//! Leptos router already generates under the base (`<Router base>`). Paths without the prefix
//! are served as they are (direct access to the port still works).

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::Router;

/// Wraps `app` so that `base` (normalised, e.g. "/shihua") is taken off request paths;
/// `page` is the page's route as generated ("/shihua" or "/shihua/").
pub fn mount(app: Router, base: &str, page: &str) -> Router {
    if base.is_empty() {
        return app;
    }
    let base = base.to_string();
    let page = page.to_string();
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let req = rewrite(&base, &page, req);
                async move { next.run(req).await }
            },
        ))
}

/// The request as the inner router should see it.
pub fn rewrite(base: &str, page: &str, mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix(base) else {
        return req;
    };
    let new_path = match rest {
        "" | "/" => page.to_string(),
        r if r.starts_with('/') => r.to_string(),
        // "/shihuaX" is not under "/shihua".
        _ => return req,
    };
    let with_query = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = with_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn path_after(uri: &str) -> String {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        rewrite("/shihua", "/shihua/", req).uri().to_string()
    }

    #[test]
    fn the_prefix_comes_off_except_for_the_page() {
        assert_eq!(path_after("/shihua/api/v1/stats"), "/api/v1/stats");
        assert_eq!(path_after("/shihua/thumb/1?w=240"), "/thumb/1?w=240");
        assert_eq!(path_after("/shihua"), "/shihua/");
        assert_eq!(path_after("/shihua/?q=%E5%B1%B1"), "/shihua/?q=%E5%B1%B1");
        assert_eq!(path_after("/shihuax/y"), "/shihuax/y");
        assert_eq!(path_after("/api/v1/stats"), "/api/v1/stats");
    }
}
