//! `POST /upload`: the picture search for visitors without the client (no JavaScript). The
//! page's upload control is a plain multipart form; this keeps the picture and redirects to
//! `/?img=<id>`, the same shareable URL the client navigates to. Errors get their 4xx status
//! and a short page with the message and a way back.

use app::assets::SiteAssets;
use app::search::{SearchError, SearchService, IMAGE_FIELD};
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;

use super::AppState;

pub async fn upload(
    State(st): State<AppState>,
    Extension(assets): Extension<SiteAssets>,
    mut form: Multipart,
) -> Response {
    let fail = |e| failure(&assets, e);
    let mut image = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let is_image = field.name() == Some(IMAGE_FIELD);
                match field.bytes().await {
                    Ok(bytes) if is_image => image = Some(bytes.to_vec()),
                    Ok(_) => {}
                    Err(e) => return fail(upload_error(e.status(), e.body_text())),
                }
            }
            Ok(None) => break,
            Err(e) => return fail(upload_error(e.status(), e.body_text())),
        }
    }
    let Some(image) = image.filter(|b| !b.is_empty()) else {
        return fail(SearchError::BadRequest(
            "请选择一张图片 · choose a picture to search with".into(),
        ));
    };
    match st.shihua.remember_image(image).await {
        Ok(id) => Redirect::to(&format!("{}/?img={id}", assets.base)).into_response(),
        Err(e) => fail(e),
    }
}

fn upload_error(status: StatusCode, text: String) -> SearchError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        SearchError::TooLarge(format!("图片太大 · the upload is too large: {text}"))
    } else {
        SearchError::BadRequest(format!(
            "上传数据无法读取 · the upload could not be read: {text}"
        ))
    }
}

fn failure(assets: &SiteAssets, e: SearchError) -> Response {
    let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    let message = app::components::poem_box::escape_text(&e.to_string());
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
