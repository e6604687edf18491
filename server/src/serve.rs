//! `shihua serve`: open the model and the store, start the watch folders (`--watch`) and
//! the indexing progress hub, assemble the router, listen, and shut down cleanly on Ctrl-C /
//! SIGTERM (stopping the watcher and the embedded Milvus with us).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use leptos::prelude::LeptosOptions;
use tokio::sync::Mutex;

use crate::config::{Common, ServeArgs};
use crate::http::fairness::FairnessConfig;
use crate::http::{self, media::ThumbCache, AppState, WebOptions};
use crate::progress::ProgressHub;
use crate::search::SearchEngine;
use crate::startup;
use crate::store::spawn_watchdog;
use crate::visible_path::PathDisplay;
use crate::watch::{WatchOptions, Watcher};

pub async fn run(cfg: &Common, args: &ServeArgs) -> anyhow::Result<()> {
    // The store first: with --variant auto the collection's rows decide the variant.
    let (opened, encoder) = startup::open_store_and_encoder(cfg, true).await?;
    if encoder.spec().fixture {
        tracing::warn!(
            "running on the FIXTURE model (random weights): search results are not meaningful"
        );
    }
    let startup::OpenStore { store, embedded } = opened;
    let embedded = embedded.map(|e| Arc::new(Mutex::new(e)));
    let watchdog = embedded
        .as_ref()
        .map(|e| spawn_watchdog(e.clone(), store.clone(), Duration::from_secs(1)));
    store.ensure_collection(false).await?;
    if let Err(e) = store.load().await {
        tracing::warn!("collection not loaded yet ({e}); run `shihua index <folder>`");
    }

    // Indexing progress: the watcher's, and that of `shihua index` runs on this data folder.
    let hub = ProgressHub::new();
    let follow = hub.follow_file(crate::progress::file::path(&cfg.data_dir, &cfg.collection));
    let watcher = start_watching(cfg, args, &encoder, &store, &hub)?;
    let poems = crate::poems::PoemLines::open_for_serving(store.config(), cfg).await?;
    http::card::check_font();
    let queries = cfg.data_dir.join("queries");
    let shihua = Arc::new(
        SearchEngine::new(encoder, store, args.max_upload)
            .with_poems(poems)
            .with_query_dir(queries.clone())
            .with_context(|| format!("creating {}", queries.display()))?
            .with_picture_queue(args.picture_queue)
            .with_fold_threshold(cfg.fold_threshold)
            .with_progress(hub)
            .with_paths(if args.show_paths {
                PathDisplay::absolute()
            } else {
                PathDisplay::relative(&cfg.data_dir)
            }),
    );
    let leptos_options = LeptosOptions::builder()
        .output_name("shihua")
        .site_root(args.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(args.addr)
        .build();
    let thumbs = Arc::new(
        ThumbCache::new(cfg.data_dir.join("thumbs"))
            .with_context(|| format!("creating {}", cfg.data_dir.join("thumbs").display()))?,
    );
    let mut assets = http::assets::load(&args.site_root)?;
    assets.base = app::assets::normalize_base(&args.base_path);
    assets.public_url = args
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_default();
    let site_base = assets.base.clone();
    let web = WebOptions {
        assets,
        fairness: FairnessConfig {
            per_minute: args.picture_rate,
            burst: args.picture_burst,
            trust_forwarded_for: args.trust_forwarded_for,
        },
        csp_report_log: args.csp_report_log.clone(),
    };
    let app = http::router_with(
        AppState {
            leptos_options,
            engine: shihua,
            thumbs,
        },
        web,
    );

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another server using it?",
                args.addr
            )
        })?;
    // The address actually bound (`--addr 127.0.0.1:0` picks a free port).
    let addr = listener.local_addr().unwrap_or(args.addr);
    tracing::info!("shihua serving on http://{addr}{site_base}");
    crate::outln!("shihua: http://{addr}{site_base}")?;
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    if let Some(w) = watcher {
        w.stop().await;
    }
    follow.abort();
    if let Some(w) = watchdog {
        w.abort();
        let _ = w.await;
    }
    if let Some(e) = embedded.and_then(|e| Arc::try_unwrap(e).ok()) {
        if let Err(err) = e.into_inner().stop().await {
            tracing::warn!("stopping embedded Milvus: {err}");
        }
    }
    served?;
    Ok(())
}

/// With `--watch`: the watcher over those folders (they are remembered as indexed folders,
/// so the site shows paths relative to them).
fn start_watching(
    cfg: &Common,
    args: &ServeArgs,
    encoder: &Arc<crate::clip::ClipEncoder>,
    store: &Arc<crate::store::MilvusStore>,
    hub: &Arc<ProgressHub>,
) -> anyhow::Result<Option<Watcher>> {
    if args.watch.is_empty() {
        return Ok(None);
    }
    for dir in &args.watch {
        if let Err(e) = crate::visible_path::remember_folder(&cfg.data_dir, dir) {
            tracing::warn!("could not note {} as an indexed folder: {e}", dir.display());
        }
    }
    let mut opts = WatchOptions::new(args.watch.clone());
    opts.settle = Duration::from_millis(args.watch_settle_ms);
    opts.rescan_every = Duration::from_secs(args.watch_rescan_s.max(1));
    opts.index.encode_batch = crate::ingest::default_encode_batch(encoder.on_gpu());
    let w = Watcher::start(
        encoder.clone(),
        store.clone(),
        opts,
        Some(hub.watch_meter()),
    )?;
    Ok(Some(w))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
