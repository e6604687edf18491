//! `GET /card.jpg?q=|img=|like=|poem=[&alt=][&tall=1]`: the share card of a search URL (its
//! `og:image`), rendered by `poems::card` and cached on disk under `<data dir>/cards/` by the
//! hash of what it shows (lines, byline, photo ids, size). A text search shows the text beside
//! its top photos; a picture or photo shows itself beside the poem line closest to it; a poem
//! shows its first lines beside the storyboard's first photos, or (`tall=1`) the whole
//! storyboard, a row per line, to save as a picture.

use std::path::PathBuf;
use std::sync::OnceLock;

use app::poems::{parse_alts, PoemQuery};
use app::search::{Query as SearchQuery, SearchService};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use image::DynamicImage;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::poems::card::{encode_jpeg, render_card, render_tall, CardFont};
use crate::poems::split::split_lines;

#[derive(Deserialize, Default)]
pub struct CardParams {
    q: Option<String>,
    img: Option<String>,
    like: Option<String>,
    poem: Option<String>,
    alt: Option<String>,
    tall: Option<String>,
}

/// Photos on a link-preview card.
const CARD_PHOTOS: usize = 3;

/// What a card shows, before the photos are read.
struct Content {
    lines: Vec<String>,
    byline: String,
    /// Collection photo ids, or a query picture (`q:<id>`).
    photos: Vec<String>,
    tall: bool,
}

impl Content {
    fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "v1|{}|{}|{}|{}",
            self.tall,
            self.lines.join("\n"),
            self.byline,
            self.photos.join(",")
        ));
        hex::encode(h.finalize())[..32].to_owned()
    }
}

/// At start: say at once (not at the first shared link) when the card font is missing.
pub fn check_font() {
    if let Err(e) = font() {
        tracing::error!("share cards (og:image) will fail: {e}");
    }
}

fn font() -> Result<&'static CardFont, String> {
    static FONT: OnceLock<Result<CardFont, String>> = OnceLock::new();
    FONT.get_or_init(|| CardFont::load().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

async fn content(st: &AppState, p: CardParams) -> Result<Content, app::search::SearchError> {
    let svc = &st.engine;
    let tall = p.tall.as_deref() == Some("1");
    if let Some(poem) = nonempty(p.poem) {
        let board = svc
            .storyboard(poem, parse_alts(p.alt.as_deref().unwrap_or_default()))
            .await?;
        let photos = board
            .lines
            .iter()
            .map(|l| l.photo.as_ref().map(|h| h.id.clone()).unwrap_or_default())
            .collect();
        return Ok(Content {
            lines: board.lines.into_iter().map(|l| l.text).collect(),
            byline: String::new(),
            photos,
            tall,
        });
    }
    let (img, like) = (nonempty(p.img), nonempty(p.like));
    if img.is_some() || like.is_some() {
        let top = svc
            .poem_lines(
                PoemQuery {
                    img: img.clone(),
                    like: like.clone(),
                    ..Default::default()
                },
                1,
            )
            .await
            .unwrap_or_default();
        let (lines, byline) = match top.first() {
            Some(l) => (
                vec![l.text.clone()],
                format!("《{}》 {} · {}", l.title, l.dynasty, l.author),
            ),
            None => (vec!["以图搜图".to_owned()], String::new()),
        };
        let photo = match (img, like) {
            (Some(id), _) => format!("q:{id}"),
            (None, Some(id)) => id,
            _ => unreachable!(),
        };
        return Ok(Content {
            lines,
            byline,
            photos: vec![photo],
            tall: false,
        });
    }
    let q = p.q.unwrap_or_default();
    let found = svc
        .search(SearchQuery::text(q.clone()), CARD_PHOTOS)
        .await?;
    let mut lines = split_lines(&q);
    if lines.is_empty() {
        lines.push(q.trim().to_owned());
    }
    Ok(Content {
        lines,
        byline: String::new(),
        photos: found.hits.into_iter().map(|h| h.id).collect(),
        tall: false,
    })
}

/// A photo or query picture, shrunk for the card; `None` if it cannot be read.
async fn load_photo(st: &AppState, id: &str) -> Option<DynamicImage> {
    let bytes: Vec<u8> = if let Some(q) = id.strip_prefix("q:") {
        st.engine.query_images().preview(q)?.as_ref().clone()
    } else {
        let path = st.engine.photo_path(id.parse().ok()?).await.ok()??;
        tokio::fs::read(path).await.ok()?
    };
    tokio::task::spawn_blocking(move || {
        image::load_from_memory(&bytes)
            .ok()
            .map(|i| i.thumbnail(1000, 1000))
    })
    .await
    .ok()?
}

fn error(code: StatusCode, msg: String) -> Response {
    (code, msg).into_response()
}

/// `GET /card.jpg`.
pub async fn card(State(st): State<AppState>, Query(p): Query<CardParams>) -> Response {
    let font = match font() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let c = match content(&st, p).await {
        Ok(c) => c,
        Err(e) => {
            let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
            return error(code, e.to_string());
        }
    };
    let key = c.key();
    let dir = cards_dir(&st);
    let path = dir.join(format!("{key}.jpg"));
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(_) => {
            let wanted = if c.tall { c.photos.len() } else { CARD_PHOTOS };
            let mut photos = Vec::new();
            for id in c.photos.iter().take(wanted) {
                photos.push(if id.is_empty() {
                    None
                } else {
                    load_photo(&st, id).await
                });
            }
            let lines = c.lines.clone();
            let byline = c.byline.clone();
            let tall = c.tall;
            let made = tokio::task::spawn_blocking(move || {
                let img = if tall {
                    let rows: Vec<(String, Option<DynamicImage>)> =
                        lines.into_iter().zip(photos).collect();
                    render_tall(font, "以诗配图 · 诗画", &rows)
                } else {
                    let photos: Vec<DynamicImage> = photos.into_iter().flatten().collect();
                    render_card(font, &lines, &byline, &photos)
                };
                encode_jpeg(&img)
            })
            .await;
            let bytes = match made {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            };
            // Best effort: a card that cannot be cached is still served.
            if tokio::fs::create_dir_all(&dir).await.is_ok() {
                let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
                if tokio::fs::write(&tmp, &bytes).await.is_ok() {
                    let _ = tokio::fs::rename(&tmp, &path).await;
                }
            }
            bytes
        }
    };
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{key}\"")) {
        h.insert(header::ETAG, v);
    }
    res
}

/// `<data dir>/cards`, beside the thumbnail cache.
fn cards_dir(st: &AppState) -> PathBuf {
    let thumbs = st.thumbs.dir();
    thumbs
        .parent()
        .map(|p| p.join("cards"))
        .unwrap_or_else(|| thumbs.join("cards"))
}
