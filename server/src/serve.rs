//! `shihua serve`: open the model and the store, assemble the router, listen, and shut down
//! cleanly on Ctrl-C / SIGTERM (stopping the embedded Milvus with us).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use leptos::prelude::LeptosOptions;
use tokio::sync::Mutex;

use crate::config::{Common, ServeArgs};
use crate::http::{self, media::ThumbCache, AppState};
use crate::service::Shihua;
use crate::startup;
use crate::store::spawn_watchdog;

pub async fn run(cfg: &Common, args: &ServeArgs) -> anyhow::Result<()> {
    let encoder = startup::open_encoder(cfg, true)?;
    let spec = encoder.spec().clone();
    if spec.fixture {
        tracing::warn!(
            "running on the FIXTURE model (random weights): search results are not meaningful"
        );
    }
    let startup::OpenStore { store, embedded } = startup::open_store(cfg, &spec).await?;
    let embedded = embedded.map(|e| Arc::new(Mutex::new(e)));
    let watchdog = embedded
        .as_ref()
        .map(|e| spawn_watchdog(e.clone(), store.clone(), Duration::from_secs(1)));
    store.ensure_collection(false).await?;
    if let Err(e) = store.load().await {
        tracing::warn!("collection not loaded yet ({e}); run `shihua index <folder>`");
    }

    let poems = crate::poems::PoemLines::open_for_serving(store.config(), cfg).await?;
    http::card::check_font();
    let queries = cfg.data_dir.join("queries");
    let shihua = Arc::new(
        Shihua::new(encoder, store, args.max_upload)
            .with_poems(poems)
            .with_query_dir(queries.clone())
            .with_context(|| format!("creating {}", queries.display()))?,
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
    let app = http::router(AppState {
        leptos_options,
        shihua,
        thumbs,
    });

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another server using it?",
                args.addr
            )
        })?;
    tracing::info!("shihua serving on http://{}", args.addr);
    println!("shihua: http://{}", args.addr);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
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
