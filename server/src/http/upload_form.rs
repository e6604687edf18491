//! `POST /upload`: the picture search for visitors without the client (no JavaScript). The
//! page's upload control is a plain multipart form; this keeps the picture and redirects to
//! `/?img=<id>`, the same shareable URL the client navigates to. Errors get their 4xx status
//! and a short page with the message and a way back.

use app::assets::SiteAssets;
use app::search::{SearchError, SearchService};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;

use super::AppState;

pub async fn upload(
    State(st): State<AppState>,
    Extension(assets): Extension<SiteAssets>,
    req: Request,
) -> Response {
    let fail = |e| failure(&assets, e);
    let image = match super::upload::read_request(req, st.engine.max_upload_bytes()).await {
        Ok(form) => form.image,
        Err(e) => return fail(e),
    };
    let Some(image) = image else {
        return fail(SearchError::BadRequest(
            "请选择一张图片 · choose a picture to search with".into(),
        ));
    };
    match st.engine.remember_image(image).await {
        Ok(id) => Redirect::to(&format!(
            "{}{}",
            assets.base,
            app::url::search_route(&[("img", &id)])
        ))
        .into_response(),
        Err(e) => fail(e),
    }
}

fn failure(assets: &SiteAssets, e: SearchError) -> Response {
    let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    let message = app::html::escape_text(&e.to_string());
    let page = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>诗画 shihua</title><link rel=\"stylesheet\" href=\"{css}\">\
         <main><p class=\"error\" role=\"alert\">{message}</p>\
         <p><a href=\"{home}/\">← 返回 · back</a></p></main></html>",
        css = assets.pkg(&assets.css),
        home = assets.base,
    );
    let mut res = (code, [(header::CACHE_CONTROL, "no-store")], Html(page)).into_response();
    if let Some(s) = e.retry_after() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    res
}
