//! Indexing progress on the site, through the real router, the fixture model and a real
//! Milvus Lite: the `GET /api/v1/progress` event stream during a watcher's pass (done/total
//! never going back, a final `active: false` event with everything done, never compressed),
//! the idle answer (at once, with a `retry`), the per-client limit on open streams,
//! `/api/v1/stats` and the server-rendered page (no script) while a run is going, and a
//! separate `shihua index` run shown through its progress file.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::search::IndexProgress;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{copy_demo, fixture_encoder, start_lite, test_router};
use http_body_util::BodyExt;
use server::ingest::ProgressReport;
use server::progress::{file, ProgressHub};
use server::search::SearchEngine;
use server::watch::{WatchOptions, Watcher};
use tower::ServiceExt;

const DEADLINE: Duration = Duration::from_secs(90);

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .body(Body::empty())
        .unwrap()
}

/// An event stream being read.
struct Events {
    body: Body,
    buf: String,
}

impl Events {
    async fn open(app: &axum::Router) -> (axum::http::HeaderMap, Events) {
        let res = app.clone().oneshot(get("/api/v1/progress")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let headers = res.headers().clone();
        (
            headers,
            Events {
                body: res.into_body(),
                buf: String::new(),
            },
        )
    }

    /// The next `progress` event (`None` when the stream ended; panics after `wait`).
    async fn next(&mut self, wait: Duration) -> Option<(Option<IndexProgress>, String)> {
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..i + 2).collect();
                if let Some(data) = raw.lines().find_map(|l| l.strip_prefix("data: ")) {
                    assert!(raw.contains("event: progress"), "{raw}");
                    return Some((serde_json::from_str(data).unwrap(), raw));
                }
                continue;
            }
            let frame = tokio::time::timeout(wait, self.body.frame())
                .await
                .expect("no event in time")?;
            if let Ok(data) = frame.unwrap().into_data() {
                self.buf.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }
}

/// A plain (uncompressed) GET's body.
async fn text(app: &axum::Router, uri: &str) -> String {
    let req = Request::get(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_follows_a_watch_pass_to_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("photos");
    std::fs::create_dir_all(&root).unwrap();
    let (milvus, store) = start_lite(tmp.path()).await;
    let encoder = fixture_encoder();
    let hub = ProgressHub::new();
    let engine =
        SearchEngine::new(encoder.clone(), store.clone(), 20 << 20).with_progress(hub.clone());
    let app = test_router(Arc::new(engine), tmp.path());

    let mut opts = WatchOptions::new(vec![root.clone()]);
    opts.settle = Duration::from_millis(300);
    opts.index.encode_batch = 2;
    opts.index.batch_size = 4;
    let w = Watcher::start(encoder, store.clone(), opts, Some(hub.watch_meter())).unwrap();
    let start = Instant::now();
    while !w.status().idle() {
        assert!(start.elapsed() < DEADLINE, "{:?}", w.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Idle: the answer comes at once, says so, and asks the browser to come back.
    let (headers, mut idle) = Events::open(&app).await;
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    assert!(
        headers.get(header::CONTENT_ENCODING).is_none(),
        "{headers:?}"
    );
    let (p, raw) = idle.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(p, None);
    assert!(raw.contains("retry: 2000"), "{raw}");
    assert!(
        idle.next(Duration::from_secs(5)).await.is_none(),
        "the idle stream ends"
    );

    // Photos arrive: a stream opened while they are indexed follows them to the end.
    let copies = copy_demo(&root, 40);
    let mut events = loop {
        let (headers, mut ev) = Events::open(&app).await;
        assert!(
            headers.get(header::CONTENT_ENCODING).is_none(),
            "never compressed"
        );
        if let Some((Some(p), _)) = ev.next(Duration::from_secs(5)).await {
            if p.active {
                break (p, ev);
            }
        }
        assert!(start.elapsed() < DEADLINE, "no run seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut seen = vec![events.0.clone()];
    while let Some((p, _)) = events.1.next(DEADLINE).await {
        let p = p.expect("a snapshot");
        seen.push(p.clone());
        if !p.active {
            break;
        }
    }
    for pair in seen.windows(2) {
        assert!(
            pair[1].done >= pair[0].done && pair[1].total >= pair[0].total,
            "{seen:#?}"
        );
    }
    let last = seen.last().unwrap();
    assert!(!last.active, "a final event ends the run: {seen:#?}");
    assert_eq!(last.source, "watch");
    assert_eq!(
        (last.done, last.total, last.failed),
        (40, 40, 0),
        "{seen:#?}"
    );
    assert!(
        events.1.next(Duration::from_secs(5)).await.is_none(),
        "then the stream ends"
    );
    assert_eq!(store.count().await.unwrap(), copies.len() as u64);

    // /api/v1/stats shows the last run.
    let stats: serde_json::Value =
        serde_json::from_str(&text(&app, "/api/v1/stats").await).unwrap();
    assert_eq!(stats["indexing"]["active"], false, "{stats}");
    assert_eq!(stats["indexing"]["done"], 40, "{stats}");
    w.stop().await;
    milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_progress_shows_in_stats_on_the_page_and_streams_within_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let (milvus, store) = start_lite(tmp.path()).await;
    store.ensure_collection(false).await.unwrap();
    let hub = ProgressHub::new();
    let engine =
        SearchEngine::new(fixture_encoder(), store.clone(), 20 << 20).with_progress(hub.clone());
    let app = test_router(Arc::new(engine), tmp.path());
    // A run going: 3 of 10 done.
    let meter = hub.watch_meter();
    meter.planned(10);
    meter.indexed(3);
    meter.set_error(None);

    let stats: serde_json::Value =
        serde_json::from_str(&text(&app, "/api/v1/stats").await).unwrap();
    let p = &stats["indexing"];
    assert_eq!(
        (
            p["active"].as_bool(),
            p["done"].as_u64(),
            p["total"].as_u64()
        ),
        (Some(true), Some(3), Some(10)),
        "{stats}"
    );

    // Without a script: the server-rendered page says so.
    let html = text(&app, "/?lang=en").await;
    assert!(html.contains("data-testid=\"index-progress\""), "{html}");
    assert!(html.contains("Indexing new photos 3/10"), "{html}");

    // Streams per client are limited; past the limit the client is answered like an idle
    // one (the snapshot, then the stream ends), so its page polls instead of failing.
    let mut open = Vec::new();
    for _ in 0..server::http::progress::MAX_STREAMS_PER_CLIENT {
        let (_, mut ev) = Events::open(&app).await;
        let (p, _) = ev.next(Duration::from_secs(5)).await.unwrap();
        assert!(p.unwrap().active);
        open.push(ev);
    }
    let (_, mut over) = Events::open(&app).await;
    let (p, _) = over.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(p.map(|p| p.done), Some(3));
    assert!(
        over.next(Duration::from_secs(5)).await.is_none(),
        "ended at once"
    );

    // The open ones get the next snapshot, and the end.
    meter.indexed(7);
    meter.finish();
    for ev in &mut open {
        let mut last = None;
        while let Some((p, _)) = ev.next(Duration::from_secs(5)).await {
            last = p;
        }
        let last = last.unwrap();
        assert_eq!((last.active, last.done), (false, 10));
    }
    // Given back: a new run may be followed again by as many.
    drop(open);
    let html = text(&app, "/?lang=en").await;
    assert!(
        !html.contains("data-testid=\"index-progress\""),
        "nothing is indexing now"
    );
    milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shihua_index_run_shows_through_its_progress_file() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let copies = copy_demo(&photos, 6);
    let (milvus, _store) = start_lite(tmp.path()).await;
    let data = tmp.path().join("data");
    let hub = ProgressHub::new();
    let follow = hub.follow_file(file::path(&data, "multimodal_chinese_clip"));

    let out = common::shihua_cmd(&milvus.uri(), &["index", photos.to_str().unwrap()])
        .env("SHIHUA_DATA_DIR", &data)
        .env("SHIHUA_THREADS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = Instant::now();
    let last = loop {
        if let Some(p) = hub.current().filter(|p| !p.active) {
            break p;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the run's progress was not seen: {:?}",
            hub.current()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last.source, "index");
    assert_eq!(
        (last.done, last.total, last.failed),
        (copies.len() as u64, copies.len() as u64, 0)
    );
    follow.abort();
    milvus.stop().await.unwrap();
}
