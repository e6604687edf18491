//! The poem side of the JSON API: `GET /api/v1/poems?img=<id>|like=<photo id>|q=<text>&k=5`
//! (以图寻诗: `{"results":[{"text","title","author","dynasty","poem_id","line","score"}]}`)
//! and `GET /api/v1/storyboard?poem=<whole poem>&alt=<line>.<n>_…` (以诗配图:
//! `{"lines":[{"text","photo":{"id","filepath","score","thumb","image"}}]}`; `photo` is null
//! for a line left without one). Both go through the same `SearchService` as the pages.

use app::assets::SiteAssets;
use app::poems::{clamp_poem_k, parse_alts, PoemLine, PoemQuery, MAX_POEM_K};
use app::search::{SearchError, SearchService};
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::api::{ApiError, ApiHit};
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/poems", get(poems))
        .route("/api/v1/storyboard", get(storyboard))
}

#[derive(Deserialize)]
pub struct PoemParams {
    q: Option<String>,
    img: Option<String>,
    like: Option<String>,
    k: Option<String>,
}

#[derive(Serialize)]
pub struct PoemResults {
    pub results: Vec<PoemLine>,
}

async fn poems(
    State(st): State<AppState>,
    Query(p): Query<PoemParams>,
) -> Result<Json<PoemResults>, ApiError> {
    let k = match p.k.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => clamp_poem_k(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) => clamp_poem_k(Some(n.clamp(1, MAX_POEM_K as i64) as usize)),
            Err(_) => {
                return Err(ApiError(SearchError::BadRequest(format!(
                    "k must be a whole number from 1 to {MAX_POEM_K}, not {s:?}"
                ))))
            }
        },
    };
    let query = PoemQuery {
        q: p.q.unwrap_or_default(),
        img: p.img,
        like: p.like,
        w: None,
        all: false,
    };
    let results = st.engine.poem_lines(query, k).await?;
    Ok(Json(PoemResults { results }))
}

#[derive(Deserialize)]
pub struct StoryboardParams {
    poem: Option<String>,
    alt: Option<String>,
}

#[derive(Serialize)]
pub struct ApiStoryLine {
    pub text: String,
    pub photo: Option<ApiHit>,
}

#[derive(Serialize)]
pub struct ApiStoryboard {
    pub lines: Vec<ApiStoryLine>,
    pub truncated: bool,
    pub took_ms: u64,
}

async fn storyboard(
    State(st): State<AppState>,
    Extension(site): Extension<SiteAssets>,
    Query(p): Query<StoryboardParams>,
) -> Result<Json<ApiStoryboard>, ApiError> {
    let alts = parse_alts(p.alt.as_deref().unwrap_or_default());
    let board = st
        .engine
        .storyboard(p.poem.unwrap_or_default(), alts)
        .await?;
    Ok(Json(ApiStoryboard {
        lines: board
            .lines
            .into_iter()
            .map(|l| ApiStoryLine {
                text: l.text,
                photo: l.photo.map(|h| super::api::api_hit(h, &site.base)),
            })
            .collect(),
        truncated: board.truncated,
        took_ms: board.took_ms,
    }))
}
