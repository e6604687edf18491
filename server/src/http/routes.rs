//! Router assembly: the Leptos pages and server functions (with the search service and the
//! asset names provided through context), the media and health routes, static files, and the
//! request layers (security headers, compression, per-client picture limits).

use std::path::PathBuf;
use std::sync::Arc;

use app::assets::SiteAssets;
use app::search::{SharedSearch, SharedUploadReader};
use app::url;
use app::{shell, App};
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use axum::{Extension, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list_with_exclusions_and_ssg_and_context, LeptosRoutes};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use super::fairness::{ClientLimits, FairnessConfig};
use super::media::ThumbCache;
use crate::search::SearchEngine;

/// Everything a request handler may need.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// The search engine (the field keeps the project's name).
    pub engine: Arc<SearchEngine>,
    pub thumbs: Arc<ThumbCache>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// How the site is put together for visitors (from `shihua serve` flags).
#[derive(Clone, Debug, Default)]
pub struct WebOptions {
    /// Names of the client and stylesheet (content-hashed in release builds).
    pub assets: SiteAssets,
    /// Per-client limits on picture searches.
    pub fairness: FairnessConfig,
    /// Where CSP violation reports are appended (besides the log).
    pub csp_report_log: Option<PathBuf>,
}

/// The router with default options (wasm-bindgen's file names, default limits).
pub fn router(state: AppState) -> Router {
    router_with(state, WebOptions::default())
}

pub fn router_with(state: AppState, web: WebOptions) -> Router {
    let assets = web.assets.clone();
    // The page's routes, under the base path (`<Router base>` reads it from context).
    let (routes, _) = generate_route_list_with_exclusions_and_ssg_and_context(App, None, {
        let assets = assets.clone();
        move || provide_context(assets.clone())
    });
    let page = routes
        .first()
        .map(|r| r.path().to_string())
        .unwrap_or_else(|| "/".into());
    let search: SharedSearch = state.engine.clone();
    let uploads: SharedUploadReader = Arc::new(super::upload::MultipartReader);
    let context = move || {
        provide_context(search.clone());
        provide_context(uploads.clone());
        provide_context(assets.clone());
    };
    let body_limit = {
        use app::search::SearchService;
        super::upload::body_limit(state.engine.max_upload_bytes())
    };
    let site_root = PathBuf::from(state.leptos_options.site_root.as_ref());
    let limits = Arc::new(ClientLimits::new(web.fairness).draining_bodies_up_to(body_limit));
    let reports = Arc::new(ClientLimits::new(FairnessConfig {
        trust_forwarded_for: web.fairness.trust_forwarded_for,
        ..super::fairness::REPORT_LIMITS
    }));
    let pages = Router::new()
        .route("/healthz", get(super::health::healthz))
        .route(url::THUMB_ROUTE, get(super::media::thumb))
        .route(url::IMAGE_ROUTE, get(super::media::image))
        .route(url::QUERY_ROUTE, get(super::media::query_picture))
        .route(url::UPLOAD_ROUTE, post(super::upload_form::upload))
        .route(
            app::security::REPORT_PATH,
            post(super::security::csp_report)
                .layer(DefaultBodyLimit::max(super::security::MAX_REPORT))
                .layer(axum::middleware::from_fn_with_state(
                    reports,
                    super::fairness::limit_reports,
                )),
        )
        .merge(super::api::routes())
        .merge(super::progress::routes())
        .merge(super::poems_api::routes())
        .route(url::CARD_ROUTE, get(super::card::card))
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        // HTML and JSON compressed on the fly (pictures and tiny bodies are left alone).
        .layer(CompressionLayer::new().br(true).gzip(true))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            super::fairness::limit_pictures,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    let base = web.assets.base.clone();
    let app = pages
        .merge(super::assets::pkg_routes(&site_root))
        .layer(Extension(web.assets))
        .layer(Extension(Arc::new(super::progress::StreamSlots::new(
            web.fairness.trust_forwarded_for,
        ))))
        .layer(Extension(super::security::ReportLog(web.csp_report_log)))
        .layer(axum::middleware::from_fn(super::security::headers))
        .layer(TraceLayer::new_for_http());
    super::base_path::mount(app, &base, &page)
}
