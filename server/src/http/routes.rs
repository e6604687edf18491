//! Router assembly: the Leptos pages and server functions (with the search service provided
//! through context), the media and health routes, static files, and the request layers.

use std::sync::Arc;

use app::search::SharedSearch;
use app::{shell, App};
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::trace::TraceLayer;

use super::media::ThumbCache;
use crate::service::Shihua;

/// Everything a request handler may need.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub shihua: Arc<Shihua>,
    pub thumbs: Arc<ThumbCache>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let search: SharedSearch = state.shihua.clone();
    // Multipart framing needs a little room above the picture itself.
    let body_limit = max_body(&state);
    Router::new()
        .route("/healthz", get(super::health::healthz))
        .route("/thumb/{id}", get(super::media::thumb))
        .route("/image/{id}", get(super::media::image))
        .route("/query/{id}", get(super::media::query_picture))
        .route("/upload", post(super::upload_form::upload))
        .merge(super::api::routes())
        .merge(super::poems_api::routes())
        .route("/card.jpg", get(super::card::card))
        .leptos_routes_with_context(&state, routes, move || provide_context(search.clone()), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

fn max_body(state: &AppState) -> usize {
    use app::search::SearchService;
    state.shihua.max_upload_bytes() + 64 * 1024
}
