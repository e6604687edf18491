//! The JSON API for scripts, `/api/v1/...`: the same search service as the server functions.
//! `GET search?q=&img=&like=&w=&k=&page=&all=` (text, combined terms such as `夕阳 - 城市`, a
//! kept query picture, a collection photo, or any mix; `page` from 1, `k` results each; every
//! result lists its `duplicates` (same file elsewhere) and the near-identical photos folded
//! under it (`similar`), `all=1` unfolds), `POST search/image` (multipart field `image`,
//! optional `k`; answers with the first page and a `query_id` usable as `img=` for the next
//! ones), `GET similar/{id}?k=&page=&all=`, `GET stats`
//! (with the indexing progress; `GET progress` streams it, `super::progress`), `GET folders`. Every search takes the
//! filters `in=`, `from=`, `to=`, `orient=` (for `search/image` in the query string), checked
//! by the engine: a bad value is a 400.
//! Errors are JSON `{"error": "..."}` with a 4xx/5xx status.

use std::time::Instant;

use app::assets::SiteAssets;
use app::query::Term;
use app::search::{
    clamp_k, parse_page, Filters, Hit, Query as SearchQuery, SearchError, SearchResults,
    SearchService, IMAGE_FIELD, MAX_K,
};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/search/image", post(search_image))
        .route("/api/v1/similar/{id}", get(similar))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/folders", get(folders))
}

/// One result as the API shows it.
#[derive(Serialize)]
pub struct ApiHit {
    pub id: String,
    pub filepath: String,
    pub score: f32,
    pub thumb: String,
    pub image: String,
    /// Other copies of the same file among the results (same SHA-256), best-ranked first.
    pub duplicates: Vec<ApiCopy>,
    /// Near-identical photos folded under this result (cosine ≥ 0.98 to it), best first.
    pub similar: Vec<ApiHit>,
}

/// Another copy of a result's file.
#[derive(Serialize)]
pub struct ApiCopy {
    pub id: String,
    /// Relative to the indexed folder, like `ApiHit::filepath`.
    pub filepath: String,
    pub thumb: String,
    pub image: String,
}

#[derive(Serialize)]
pub struct ApiResults {
    pub results: Vec<ApiHit>,
    pub took_ms: u64,
    pub truncated: bool,
    /// The text terms combined (absent for picture-only searches).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<Term>,
    /// Id of the uploaded query picture: `search?img=<id>` and `/?img=<id>` repeat the search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// The page answered (from 1).
    pub page: u32,
    /// The next page, when it has results (`page=` it for them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page: Option<u32>,
}

impl ApiResults {
    /// The API's view of `r`, with picture URLs under the site's base path.
    fn new(r: SearchResults, base: &str) -> Self {
        ApiResults {
            results: r.hits.into_iter().map(|h| api_hit(h, base)).collect(),
            took_ms: r.took_ms,
            truncated: r.truncated,
            terms: r.terms,
            query_id: r.query_id,
            page: r.page,
            next_page: r.more.then_some(r.page + 1),
        }
    }
}

pub(crate) fn api_hit(h: Hit, base: &str) -> ApiHit {
    ApiHit {
        thumb: format!("{base}{}", app::url::thumb_default(&h.id)),
        image: format!("{base}{}", app::url::image(&h.id)),
        duplicates: h
            .duplicates
            .into_iter()
            .map(|d| ApiCopy {
                thumb: format!("{base}{}", app::url::thumb_default(&d.id)),
                image: format!("{base}{}", app::url::image(&d.id)),
                id: d.id,
                filepath: d.filepath,
            })
            .collect(),
        similar: h.similar.into_iter().map(|s| api_hit(s, base)).collect(),
        id: h.id,
        filepath: h.filepath,
        score: h.score,
    }
}

/// A `SearchError` as an HTTP response.
pub struct ApiError(pub SearchError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code =
            StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (code, Json(json!({"error": self.0.to_string()}))).into_response();
        if let Some(s) = self.0.retry_after() {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        res
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        ApiError(e)
    }
}

/// `k` as text: absent → default; a number → clamped into 1..=MAX_K; anything else → 400.
fn parse_k(k: Option<&str>) -> Result<usize, ApiError> {
    match k.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(clamp_k(None)),
        Some(s) => match s.parse::<i64>() {
            Ok(n) => Ok(clamp_k(Some(n.clamp(1, MAX_K as i64) as usize))),
            Err(_) => Err(ApiError(SearchError::BadRequest(format!(
                "k must be a whole number from 1 to {MAX_K}, not {s:?}"
            )))),
        },
    }
}

/// The filter parameters every search takes.
#[derive(Deserialize, Default)]
pub struct FilterParams {
    #[serde(rename = "in")]
    folder: Option<String>,
    from: Option<String>,
    to: Option<String>,
    orient: Option<String>,
}

impl FilterParams {
    fn filters(&self) -> Filters {
        Filters::from_params(|key| self.get(key))
    }

    fn get(&self, key: &str) -> Option<String> {
        match key {
            "in" => self.folder.clone(),
            "from" => self.from.clone(),
            "to" => self.to.clone(),
            "orient" => self.orient.clone(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    img: Option<String>,
    like: Option<String>,
    w: Option<String>,
    k: Option<String>,
    page: Option<String>,
    #[serde(flatten)]
    filters: FilterParams,
    all: Option<String>,
}

async fn search(
    State(st): State<AppState>,
    Extension(site): Extension<SiteAssets>,
    Query(p): Query<SearchParams>,
) -> Result<Json<ApiResults>, ApiError> {
    let k = parse_k(p.k.as_deref())?;
    let page = parse_page(p.page.as_deref())?;
    let query = SearchQuery::from_params(|key| match key {
        "q" => p.q.clone(),
        "img" => p.img.clone(),
        "like" => p.like.clone(),
        "w" => p.w.clone(),
        "all" => p.all.clone(),
        other => p.filters.get(other),
    })
    .map_err(|e| ApiError(SearchError::BadRequest(e.to_string())))?;
    Ok(Json(ApiResults::new(
        st.engine.search_page(query, k, page).await?,
        &site.base,
    )))
}

async fn search_image(
    State(st): State<AppState>,
    Extension(site): Extension<SiteAssets>,
    Query(f): Query<FilterParams>,
    req: Request,
) -> Result<Json<ApiResults>, ApiError> {
    let filters = f.filters();
    // A bad filter is refused before the picture is read or encoded.
    filters
        .check()
        .map_err(|e| ApiError(SearchError::BadRequest(e.to_string())))?;
    let form = super::upload::read_request(req, st.engine.max_upload_bytes()).await?;
    let k = parse_k(form.k.as_deref())?;
    let image = form.image.ok_or_else(|| {
        ApiError(SearchError::BadRequest(format!(
            "send the picture as multipart field '{IMAGE_FIELD}'"
        )))
    })?;
    Ok(Json(ApiResults::new(
        st.engine.search_image_where(image, k, filters).await?,
        &site.base,
    )))
}

#[derive(Deserialize)]
pub struct KQuery {
    k: Option<String>,
    page: Option<String>,
    #[serde(flatten)]
    filters: FilterParams,
    all: Option<String>,
}

async fn similar(
    State(st): State<AppState>,
    Extension(site): Extension<SiteAssets>,
    Path(id): Path<String>,
    Query(p): Query<KQuery>,
) -> Result<Json<ApiResults>, ApiError> {
    let k = parse_k(p.k.as_deref())?;
    let page = parse_page(p.page.as_deref())?;
    let start = Instant::now();
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError(SearchError::NotFound(format!("no photo with id {id:?}"))))?;
    let all = app::url::all_flag(p.all.as_deref());
    let (hits, more) = st
        .engine
        .similar(id, k, page, &p.filters.filters(), all)
        .await?;
    let next_page = more.then_some(page + 1);
    Ok(Json(ApiResults {
        results: hits.into_iter().map(|h| api_hit(h, &site.base)).collect(),
        took_ms: start.elapsed().as_millis() as u64,
        truncated: false,
        terms: Vec::new(),
        query_id: None,
        page,
        next_page,
    }))
}

/// The folders a search can be narrowed to (`in=`), as the site shows them.
async fn folders(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "folders": st.engine.folder_list().await? })))
}

async fn stats(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let s = st.engine.status().await?;
    Ok(Json(json!({
        "model": s.model_id,
        "variant": st.engine.encoder().variant(),
        "variant_why": st.engine.encoder().variant_why(),
        "kernel": st.engine.encoder().kernel(),
        "fixture": s.fixture,
        "rows": s.rows,
        // The run in progress, or the last one to finish (`active: false`); null if none.
        "indexing": st.engine.progress().and_then(|h| h.current()),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_is_clamped_or_refused() {
        assert_eq!(parse_k(None).ok(), Some(app::search::DEFAULT_K));
        assert_eq!(parse_k(Some("0")).ok(), Some(1));
        assert_eq!(parse_k(Some("-1")).ok(), Some(1));
        assert_eq!(parse_k(Some("1000000000")).ok(), Some(MAX_K));
        assert!(parse_k(Some("ten")).is_err());
    }

    #[test]
    fn the_next_page_is_named_only_when_it_has_results() {
        let found = |more| SearchResults {
            more,
            ..SearchResults::empty(3)
        };
        assert_eq!(ApiResults::new(found(true), "").next_page, Some(4));
        assert_eq!(ApiResults::new(found(false), "").next_page, None);
    }
}
