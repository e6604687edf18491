//! The whole path on the fixture model and a real Milvus Lite (started here on a free port):
//! index a folder with good, broken and ignored files, search by text and by picture, and
//! fetch photos and thumbnails by id through the HTTP router.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use app::search::SearchService;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{index_options, repo, start_and_index, test_router, LiteIndex};
use http_body_util::BodyExt;
use server::search::SearchEngine;
use tower::ServiceExt;

/// A photo folder: 6 demo photos (one renamed to upper-case .JPG, one in a sub-folder), an
/// animated GIF (indexed by its first frame), a broken JPEG, an empty PNG, a text file, a hidden folder, a symlink loop and a dangling link.
fn photo_folder(dir: &Path) -> Vec<PathBuf> {
    let demo = repo().join("demo/photos");
    let mut names: Vec<_> = std::fs::read_dir(&demo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    names.sort();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::create_dir_all(dir.join(".hidden")).unwrap();
    let mut good = Vec::new();
    for (i, src) in names.iter().take(6).enumerate() {
        let name = src.file_name().unwrap().to_string_lossy().to_string();
        let dst = match i {
            0 => dir.join(name.replace(".jpg", ".JPG")),
            1 => dir.join("sub").join(name),
            _ => dir.join(name),
        };
        std::fs::copy(src, &dst).unwrap();
        good.push(dst);
    }
    // Two frames of other demo photos as an animated GIF.
    let gif = dir.join("sub/animated.gif");
    {
        use image::codecs::gif::GifEncoder;
        use image::{Delay, Frame};
        let mut enc = GifEncoder::new(std::fs::File::create(&gif).unwrap());
        for src in &names[8..10] {
            let rgba = image::open(src).unwrap().thumbnail(96, 96).to_rgba8();
            enc.encode_frame(Frame::from_parts(
                rgba,
                0,
                0,
                Delay::from_numer_denom_ms(200, 1),
            ))
            .unwrap();
        }
    }
    good.push(gif);
    std::fs::copy(&names[7], dir.join(".hidden/secret.jpg")).unwrap();
    std::fs::write(
        dir.join("broken.jpg"),
        b"\xff\xd8\xff\xe0 this is not really a jpeg",
    )
    .unwrap();
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a photo").unwrap();
    // A symlink loop and a dangling symlink: reported, never followed forever.
    std::os::unix::fs::symlink("..", dir.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/photo.jpg", dir.join("dangling.jpg")).unwrap();
    good
}

async fn body_bytes(res: axum::response::Response) -> Vec<u8> {
    res.into_body().collect().await.unwrap().to_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_search_and_serve_media() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let good = photo_folder(&photos);

    // Default store config: 512 dimensions, IVF_FLAT with nlist 512.
    let mut opts = index_options(&photos);
    opts.encode_batch = 4;
    let LiteIndex {
        milvus,
        store,
        encoder,
        summary,
    } = start_and_index(tmp.path(), opts).await;
    assert_eq!(
        summary.found, 9,
        "6 photos + a GIF + broken.jpg + empty.png; .txt and hidden skipped"
    );
    assert_eq!(summary.indexed, 7);
    let failed: Vec<String> = summary
        .failed
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(failed.len(), 4, "{failed:?}");
    for name in ["broken.jpg", "empty.png", "loop", "dangling.jpg"] {
        assert!(
            failed.contains(&name.to_string()),
            "{name} not reported: {failed:?}"
        );
    }
    assert_eq!(summary.rows_in_collection, 7);
    // The summary says where the time went: every part of the pipeline did some work, and
    // the model's share is part of the run's wall time.
    let t = &summary.time;
    assert!(
        t.model > Duration::ZERO && t.prepare_cpu > Duration::ZERO && t.store > Duration::ZERO,
        "{t:?}"
    );
    assert!(t.model + t.model_waited <= summary.wall, "{t:?}");
    assert!(
        summary.to_string().contains("time spent: model "),
        "{summary}"
    );

    let shihua = Arc::new(SearchEngine::new(encoder.clone(), store.clone(), 20 << 20));
    let status = shihua.status().await.unwrap();
    assert!(status.fixture);
    assert_eq!(status.rows, 7);

    // Text search: k results, every one an indexed photo, scores sorted.
    let res = shihua.search_text("枯藤老树昏鸦", 4).await.unwrap();
    assert_eq!(res.hits.len(), 4);
    for h in &res.hits {
        assert!(
            good.iter()
                .any(|g| g.canonicalize().unwrap() == Path::new(&h.filepath)),
            "{}",
            h.filepath
        );
        h.id.parse::<i64>().expect("ids travel as strings of i64");
    }
    assert!(res.hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(
        shihua.search_text("   ", 4).await.is_err(),
        "blank query is refused"
    );

    // Picture search: the photo itself comes first, with cosine ~1.
    let probe = &good[2];
    let res = shihua
        .search_image(std::fs::read(probe).unwrap(), 3)
        .await
        .unwrap();
    assert_eq!(
        Path::new(&res.hits[0].filepath),
        probe.canonicalize().unwrap()
    );
    assert!(
        res.hits[0].score > 0.999,
        "self-similarity {}",
        res.hits[0].score
    );
    let err = shihua
        .search_image(b"<html>no</html>".to_vec(), 3)
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 400, "{err}");

    // The row records the photo and what made its vector.
    let row = store
        .get(res.hits[0].id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let meta = std::fs::metadata(probe).unwrap();
    let ns = meta
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert_eq!(row.extra["model"], "fixture");
    assert_eq!(row.extra["variant"], "fp32");
    assert_eq!(row.extra["size"], meta.len());
    assert_eq!(row.extra["mtime_ns"], ns);
    assert_eq!(row.extra["mtime"], ns / 1_000_000_000);

    // Media through the router, by id only.
    let app = test_router(shihua.clone(), tmp.path());
    let id = &res.hits[0].id;
    let get = |uri: String| Request::builder().uri(uri).body(Body::empty()).unwrap();

    let r = app
        .clone()
        .oneshot(get(format!("/thumb/{id}?w=240")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert!(r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let etag = r.headers()[header::ETAG].clone();
    let thumb = image::load_from_memory(&body_bytes(r).await).unwrap();
    assert!(thumb.width() <= 240 && thumb.width() > 0);

    let again = Request::builder()
        .uri(format!("/thumb/{id}?w=240"))
        .header(header::IF_NONE_MATCH, etag)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(again).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );

    let r = app
        .clone()
        .oneshot(get(format!("/image/{id}")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_bytes(r).await, std::fs::read(probe).unwrap());

    for bad in [
        "/image/1",
        "/image/..%2F..%2Fetc%2Fpasswd",
        "/thumb/not-a-number",
        "/image/%2Fetc%2Fpasswd",
    ] {
        let r = app.clone().oneshot(get(bad.to_string())).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
    }

    let r = app.clone().oneshot(get("/healthz".into())).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let health: serde_json::Value = serde_json::from_slice(&body_bytes(r).await).unwrap();
    assert_eq!(health["variant"], "fp32", "{health}");
    assert_eq!(health["rows"], 7, "{health}");
    let r = app
        .clone()
        .oneshot(get("/api/v1/stats".into()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stats: serde_json::Value = serde_json::from_slice(&body_bytes(r).await).unwrap();
    assert_eq!(
        stats,
        serde_json::json!({"model": "fixture", "variant": "fp32", "fixture": true, "rows": 7,
            "variant_why": "chosen by the caller", "kernel": "the graphs as given",
            "indexing": null})
    );

    // The page renders on the server with the poem box and the fixture warning.
    let r = app.clone().oneshot(get("/".into())).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = String::from_utf8(body_bytes(r).await).unwrap();
    assert!(html.contains("data-testid=\"poem-form\""), "{html}");
    let r = app
        .clone()
        .oneshot(get("/?q=%E5%A4%95%E9%98%B3%E8%A5%BF%E4%B8%8B".into()))
        .await
        .unwrap();
    let html = String::from_utf8(body_bytes(r).await).unwrap();
    assert!(
        html.contains("data-testid=\"result-card\""),
        "results are in the server-rendered HTML"
    );
    assert!(html.contains("data-testid=\"fixture-banner\""));

    // The JSON API: same service, JSON results with string ids, 4xx for bad input.
    let r = app
        .clone()
        .oneshot(get("/api/v1/search?q=%E5%A4%95%E9%98%B3&k=3".into()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body_bytes(r).await).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert!(
        results[0]["id"].is_string()
            && results[0]["thumb"].as_str().unwrap().starts_with("/thumb/")
    );
    for (uri, code) in [
        (
            "/api/v1/search?q=%E5%A4%95%E9%98%B3&k=ten",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/search?q=%20%20", StatusCode::BAD_REQUEST),
        ("/api/v1/search", StatusCode::BAD_REQUEST),
        ("/api/v1/similar/1", StatusCode::NOT_FOUND),
        ("/api/v1/similar/abc", StatusCode::NOT_FOUND),
    ] {
        let r = app.clone().oneshot(get(uri.into())).await.unwrap();
        assert_eq!(r.status(), code, "{uri}");
        let v: serde_json::Value = serde_json::from_slice(&body_bytes(r).await).unwrap();
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{uri}: {v}"
        );
    }
    let r = app
        .clone()
        .oneshot(get(format!("/api/v1/similar/{id}?k=2")))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body_bytes(r).await).unwrap();
    assert_eq!(
        v["results"][0]["id"].as_str(),
        Some(id.as_str()),
        "a photo is most like itself"
    );

    let multipart = |name: &str, bytes: &[u8]| {
        let mut body = Vec::new();
        body.extend_from_slice(b"--XBOUNDARY\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(b"\"; filename=\"q.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n--XBOUNDARY--\r\n");
        Request::builder()
            .method("POST")
            .uri("/api/v1/search/image")
            .header(
                header::CONTENT_TYPE,
                "multipart/form-data; boundary=XBOUNDARY",
            )
            .body(Body::from(body))
            .unwrap()
    };
    let r = app
        .clone()
        .oneshot(multipart("image", &std::fs::read(probe).unwrap()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body_bytes(r).await).unwrap();
    assert_eq!(v["results"][0]["id"].as_str(), Some(id.as_str()));
    for (field, bytes, code) in [
        ("image", &b"just some text"[..], StatusCode::BAD_REQUEST),
        ("image", &b""[..], StatusCode::BAD_REQUEST),
        ("photo", &b"wrong field name"[..], StatusCode::BAD_REQUEST),
    ] {
        let r = app.clone().oneshot(multipart(field, bytes)).await.unwrap();
        assert_eq!(
            r.status(),
            code,
            "{field} {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // An upload over the limit is refused with 413, and the server keeps answering.
    let small = test_router(
        Arc::new(SearchEngine::new(encoder.clone(), store.clone(), 4096)),
        tmp.path(),
    );
    let big = vec![0u8; 64 * 1024];
    let r = small
        .clone()
        .oneshot(multipart("image", &big))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = small.clone().oneshot(get("/healthz".into())).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    milvus.stop().await.unwrap();
}
