//! Milvus going away while the site serves: the health check and searches answer 503 with a
//! clear message (the server itself keeps answering), and once the watchdog has restarted the
//! embedded Milvus Lite everything works again without a restart of shihua.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{copy_demo, index_options, start_and_index, start_lite, test_router, LiteIndex};
use http_body_util::BodyExt;
use server::search::SearchEngine;
use server::store::spawn_watchdog;
use tokio::sync::Mutex;
use tower::ServiceExt;

async fn status_of(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let code = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_answers_503_then_recovers_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_demo(&photos, 4);

    let LiteIndex {
        milvus,
        store,
        encoder,
        ..
    } = start_and_index(tmp.path(), index_options(&photos)).await;
    let pid = milvus.pid();

    let app = test_router(
        Arc::new(SearchEngine::new(encoder, store.clone(), 20 << 20)),
        tmp.path(),
    );
    assert_eq!(status_of(&app, "/healthz").await.0, StatusCode::OK);

    // Milvus dies.
    // SAFETY: SIGKILL to the Milvus Lite child this test started.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
    let embedded = Arc::new(Mutex::new(milvus));
    let (code, body) = status_of(&app, "/healthz").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (code, body) = status_of(&app, "/api/v1/search?q=%E5%A4%95%E9%98%B3").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body.contains("unavailable"),
        "the message says what is wrong: {body}"
    );

    // The watchdog brings it back; shihua recovers without a restart.
    let dog = spawn_watchdog(embedded.clone(), store.clone(), Duration::from_millis(200));
    let start = Instant::now();
    loop {
        let (code, _) = status_of(&app, "/healthz").await;
        if code == StatusCode::OK {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no recovery within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, body) = status_of(&app, "/api/v1/search?q=%E5%A4%95%E9%98%B3&k=4").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["results"].as_array().unwrap().len(),
        4,
        "no photo was lost"
    );
    dog.abort();
    let _ = dog.await;
    Arc::try_unwrap(embedded)
        .unwrap()
        .into_inner()
        .stop()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milvus_killed_during_index_then_rerun_gives_one_row_per_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    // Every demo photo: the run must still be going when Milvus is killed.
    let copies = copy_demo(&photos, usize::MAX);
    let n = copies.len();
    let (mut milvus, store) = start_lite(tmp.path()).await;
    let uri = milvus.uri();

    let args = [
        "index",
        photos.to_str().unwrap(),
        "--batch-size",
        "4",
        "--encode-batch",
        "2",
    ];
    let mut child = common::shihua_cmd(&uri, &args)
        .env("SHIHUA_THREADS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first rows (however slow the machine), but notice a run that ended first.
    loop {
        if let Ok(rows) = store.count().await {
            if rows >= 4 {
                break;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the index run ended before 4 rows were visible"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: SIGKILL to the Milvus Lite child this test started.
    unsafe {
        libc::kill(milvus.pid() as libc::pid_t, libc::SIGKILL);
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run reports the failure");
    assert!(err.contains("Milvus"), "a clear message: {err}");

    assert!(milvus.revive().await.unwrap(), "restarted on the same port");
    let (ok, summary, err) = common::shihua(&uri, &args);
    assert!(ok, "{err}");
    assert!(
        summary.contains(&format!("rows in collection: {n}")),
        "{summary}"
    );
    let rows = store.list_indexed().await.unwrap();
    let paths: std::collections::HashSet<&str> = rows.iter().map(|r| r.filepath.as_str()).collect();
    assert_eq!(rows.len(), n, "no duplicates");
    assert_eq!(paths.len(), copies.len(), "every photo once");
    milvus.stop().await.unwrap();
}
