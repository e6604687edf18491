//! The `#[server]` functions the pages call: searches (`search`, `get_status`, the folders for
//! the `in=` filter: `list_folders`), the upload of
//! a query picture (`upload_query`), and the poems (以图寻诗 lines, 以诗配图 storyboards,
//! corpus titles, suggestions, example chips). On the server each one goes through the
//! `SearchService` port (and the upload through `UploadReader`) found in Leptos context.

use leptos::prelude::*;
use server_fn::codec::{MultipartData, MultipartFormData};

use crate::poems::{CorpusPoem, PoemLine, PoemQuery, Storyboard};
use crate::search::{Query, SearchError, SearchResults, ServerStatus};

#[cfg(feature = "ssr")]
fn service() -> Result<crate::search::SharedSearch, SearchError> {
    use_context::<crate::search::SharedSearch>()
        .ok_or_else(|| SearchError::Internal("search service is not configured".into()))
}

/// Sets the HTTP status of the server-function response from the error, then passes it on.
#[cfg(feature = "ssr")]
fn with_status(e: SearchError) -> SearchError {
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(code) = http::StatusCode::from_u16(e.status_code()) {
            opts.set_status(code);
        }
        if let Some(s) = e.retry_after() {
            opts.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(s));
        }
    }
    e
}

/// Model and collection facts for the banner.
#[server]
pub async fn get_status() -> Result<ServerStatus, SearchError> {
    service()?.status().await.map_err(with_status)
}

/// 以文搜图 / 以图搜图 / combined: the photos closest to what the page's URL describes, page
/// `page` (from 1, default 1) of `k`; "load more" asks for the next pages.
#[server]
pub async fn search(
    query: Query,
    k: Option<usize>,
    page: Option<u32>,
) -> Result<SearchResults, SearchError> {
    service()?
        .search_page(query, crate::search::clamp_k(k), page.unwrap_or(1))
        .await
        .map_err(with_status)
}

/// The folders a search can be narrowed to (`in=`), as the site shows them (the first two
/// levels of the indexed photos' folders).
#[server]
pub async fn list_folders() -> Result<Vec<String>, SearchError> {
    service()?.folders().await.map_err(with_status)
}

/// Takes an uploaded query picture (multipart field `image`) and returns its id, for
/// `/?img=<id>`.
#[server(input = MultipartFormData)]
pub async fn upload_query(data: MultipartData) -> Result<String, SearchError> {
    let svc = service()?;
    let reader = use_context::<crate::search::SharedUploadReader>()
        .ok_or_else(|| SearchError::Internal("upload reader is not configured".into()))?;
    let form = data.into_inner().ok_or_else(|| {
        with_status(SearchError::BadRequest(
            "expected a multipart upload".into(),
        ))
    })?;
    let image = reader
        .picture(form, svc.max_upload_bytes())
        .await
        .map_err(with_status)?
        .ok_or_else(|| {
            with_status(SearchError::BadRequest(
                "请选择一张图片 · choose a picture to search with".into(),
            ))
        })?;
    svc.remember_image(image).await.map_err(with_status)
}

/// 以图寻诗: the corpus lines closest to a picture, a photo or a text.
#[server]
pub async fn find_poem_lines(
    query: PoemQuery,
    k: Option<usize>,
) -> Result<Vec<PoemLine>, SearchError> {
    service()?
        .poem_lines(query, crate::poems::clamp_poem_k(k))
        .await
}

/// 以诗配图: one photo per line of `poem`, no photo twice; `alt` as in the URL.
#[server]
pub async fn make_storyboard(poem: String, alt: String) -> Result<Storyboard, SearchError> {
    service()?
        .storyboard(poem, crate::poems::parse_alts(&alt))
        .await
}

/// Corpus poems whose title contains `title` (at most 20), for "pick a poem by title".
#[server]
pub async fn find_corpus_poems(title: String) -> Result<Vec<CorpusPoem>, SearchError> {
    service()?.corpus_poems(title, 20).await
}

/// Suggestions shown while typing in the poem box (at most 8).
#[server]
pub async fn suggest_lines(typed: String) -> Result<Vec<PoemLine>, SearchError> {
    let typed: String = typed.chars().take(40).collect();
    service()?.poem_suggestions(typed, 8).await
}

/// Example chips: batch `page` of corpus lines.
#[server]
pub async fn example_lines(page: u64) -> Result<Vec<PoemLine>, SearchError> {
    service()?.poem_examples(page, 5).await
}
