//! The web experience through the real router, the fixture model and a real Milvus Lite:
//! combined queries (`夕阳 - 城市`, weights, text + picture) computed exactly as documented,
//! uploaded query pictures kept under a content id (`/?img=`, `/query/{id}`, surviving a
//! restart), "more like this", the script-free upload form, pages rendered with their results
//! (no JavaScript needed), the empty-collection state, and the interface language
//! (Accept-Language, cookie, `?lang=`).

mod common;
use common::enc;

use std::sync::Arc;

use app::search::{Query, SearchService};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{copy_demo, demo_photos, index_options, start_and_index, test_router, LiteIndex};
use http_body_util::BodyExt;
use serde_json::Value;
use server::search::SearchEngine;
use server::store::{MilvusStore, StoreConfig};
use tower::ServiceExt;

const K: usize = 8;

async fn send(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// normalise(Σ wᵢ·vᵢ), worked out here in f64 (independently of `server::search::combine`):
/// the vector a combined query must search with.
fn weighted(parts: &[(&Vec<f32>, f64)]) -> Vec<f32> {
    let mut sum = vec![0f64; parts[0].0.len()];
    for (v, w) in parts {
        for (s, x) in sum.iter_mut().zip(v.iter()) {
            *s += w * f64::from(*x);
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    sum.into_iter().map(|x| (x / norm) as f32).collect()
}

/// Each result's score is its stored vector's inner product with `want` (the query vector
/// the search must have used).
async fn assert_scores(v: &Value, want: &[f32], store: &MilvusStore) {
    let results = v["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{v}");
    for r in results {
        let id: i64 = r["id"].as_str().unwrap().parse().unwrap();
        let photo = store.get_vector(id).await.unwrap().unwrap();
        let dot: f64 = photo
            .iter()
            .zip(want)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let score = r["score"].as_f64().unwrap();
        assert!(
            (score - dot).abs() < 1e-4,
            "photo {id}: score {score}, expected {dot}"
        );
    }
}

async fn api(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(app, get(uri)).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn multipart(field: &str, filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "shihua-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn post_multipart(uri: &str, field: &str, filename: &str, bytes: &[u8]) -> Request<Body> {
    let (ct, body) = multipart(field, filename, bytes);
    Request::post(uri)
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_experience_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_demo(&photos, 16);

    let LiteIndex {
        milvus,
        store,
        encoder,
        summary,
    } = start_and_index(tmp.path(), index_options(&photos)).await;
    assert_eq!(summary.indexed, 16);

    let queries = tmp.path().join("queries");
    let shihua = Arc::new(
        SearchEngine::new(encoder.clone(), store.clone(), 20 << 20)
            .with_query_dir(queries.clone())
            .unwrap(),
    );
    let app = test_router(shihua.clone(), tmp.path());

    // Expected results for a vector, straight from the store.
    let expect = |v: Vec<f32>| {
        let store = store.clone();
        async move {
            store
                .search(&v, K)
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.id.to_string())
                .collect::<Vec<_>>()
        }
    };
    let text = |t: &str| encoder.embed_texts(&[t]).unwrap().vectors.remove(0);

    // --- Combined text queries: exactly normalise(Σ wᵢ·eᵢ).
    let (status, v) = api(
        &app,
        &format!("/api/v1/search?k={K}&q={}", enc("夕阳 - 城市")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["terms"][0]["text"], "夕阳");
    assert_eq!(v["terms"][1]["weight"], -1.0);
    let sunset_minus_city = weighted(&[(&text("夕阳"), 1.0), (&text("城市"), -1.0)]);
    assert_eq!(ids(&v), expect(sunset_minus_city.clone()).await);
    assert_scores(&v, &sunset_minus_city, &store).await;

    let (_, v) = api(
        &app,
        &format!("/api/v1/search?k={K}&q={}", enc("2*大海 + 夕阳")),
    )
    .await;
    let (sea, sunset) = (text("大海"), text("夕阳"));
    let two_sea_sunset = weighted(&[(&sea, 2.0), (&sunset, 1.0)]);
    assert_eq!(ids(&v), expect(two_sea_sunset.clone()).await);
    assert_scores(&v, &two_sea_sunset, &store).await;
    // The weight matters: `大海 + 夕阳` searches with another vector, so other scores.
    let sea_sunset = weighted(&[(&sea, 1.0), (&sunset, 1.0)]);
    let moved: f64 = two_sea_sunset
        .iter()
        .zip(&sea_sunset)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(moved > 0.01, "2·大海 + 夕阳 vs 大海 + 夕阳: {moved}");
    let (_, plain) = api(
        &app,
        &format!("/api/v1/search?k={K}&q={}", enc("大海 + 夕阳")),
    )
    .await;
    assert_scores(&plain, &sea_sunset, &store).await;
    assert_ne!(
        v["results"][0]["score"], plain["results"][0]["score"],
        "the weight 2 changed nothing"
    );

    // A plain line is one term: the same as its own embedding.
    let (_, v) = api(
        &app,
        &format!("/api/v1/search?k={K}&q={}", enc("枯藤老树昏鸦")),
    )
    .await;
    assert!(v.get("terms").is_some());
    assert_eq!(ids(&v), expect(text("枯藤老树昏鸦").to_vec()).await);

    for (bad, why) in [
        ("- 城市", "only subtracts"),
        ("夕阳 - 夕阳", "cancels out"),
        ("99*夕阳", "weight out of range"),
    ] {
        let (status, v) = api(&app, &format!("/api/v1/search?q={}", enc(bad))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {why}: {v}");
        assert!(v["error"].as_str().unwrap().len() > 5);
    }
    let (status, _) = api(&app, "/api/v1/search?q=a&w=heavy").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // --- Upload a query picture; its id repeats the search.
    let photo = std::fs::read(&demo_photos()[20]).unwrap();
    let (status, _, body) = send(
        &app,
        post_multipart("/api/v1/search/image", "image", "q.jpg", &photo),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let uploaded: Value = serde_json::from_slice(&body).unwrap();
    let id = uploaded["query_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 20);
    let (_, again) = api(&app, &format!("/api/v1/search?k={K}&img={id}")).await;
    assert_eq!(ids(&again), ids(&uploaded)[..K]);
    let picture = shihua.embed_image(photo.clone()).await.unwrap();

    // Text plus picture, weighted.
    let (_, v) = api(
        &app,
        &format!("/api/v1/search?k={K}&img={id}&w=0.5&q={}", enc("夕阳")),
    )
    .await;
    let text_and_picture = weighted(&[(&text("夕阳"), 1.0), (&picture, 0.5)]);
    assert_eq!(ids(&v), expect(text_and_picture.clone()).await);
    assert_scores(&v, &text_and_picture, &store).await;

    // The preview is served by id; ids are content hashes, nothing else is accepted.
    let (status, headers, body) = send(&app, get(&format!("/query/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    let preview = image::load_from_memory(&body).unwrap();
    assert!(preview.width() <= 480);
    for bad in [
        "/query/..%2F..%2Fetc%2Fpasswd",
        "/query/00000000000000000000",
        "/query/x",
    ] {
        assert_eq!(send(&app, get(bad)).await.0, StatusCode::NOT_FOUND, "{bad}");
    }
    let (status, v) = api(&app, "/api/v1/search?img=00000000000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("expired"));

    // Kept on disk: a restarted server still knows the picture.
    let restarted = SearchEngine::new(encoder.clone(), store.clone(), 20 << 20)
        .with_query_dir(queries.clone())
        .unwrap();
    let res = restarted
        .search(
            Query {
                img: Some(id.clone()),
                ..Default::default()
            },
            K,
        )
        .await
        .unwrap();
    assert_eq!(
        res.hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
        ids(&uploaded)[..K]
    );

    // --- More like this: the photo itself comes first.
    let first = ids(&uploaded)[0].clone();
    let (_, v) = api(&app, &format!("/api/v1/search?k={K}&like={first}")).await;
    assert_eq!(ids(&v)[0], first);
    assert!(v["results"][0]["score"].as_f64().unwrap() > 0.999);
    let (status, _) = api(&app, "/api/v1/search?like=123").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // --- The script-free upload form redirects to the shareable URL, or explains.
    let (status, headers, _) =
        send(&app, post_multipart("/upload", "image", "q.jpg", &photo)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("/?img={id}").as_str());
    let (status, _, body) = send(
        &app,
        post_multipart(
            "/upload",
            "image",
            "<b>x</b>.jpg",
            b"<script>alert(1)</script>",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("not a picture"), "{page}");
    assert!(!page.contains("<script>"), "{page}");

    // --- Pages carry their results in the HTML itself.
    let page = html(&app, &format!("/?q={}", enc("夕阳西下")), &[]).await;
    assert!(
        page.matches("data-testid=\"result-card\"").count() >= 6,
        "{page}"
    );
    assert!(
        !page.contains("data-testid=\"loading\""),
        "results, not a loading state"
    );
    let page = html(&app, &format!("/?img={id}"), &[]).await;
    assert!(
        page.contains(&format!("src=\"/query/{id}\"")),
        "query picture shown"
    );
    assert!(page.contains("data-testid=\"result-card\""));
    let page = html(&app, &format!("/?like={first}"), &[]).await;
    assert!(page.contains(&format!("/thumb/{first}?w=480")));
    let page = html(&app, &format!("/?q={}&k=40&all=1", enc("夕阳")), &[]).await;
    assert_eq!(page.matches("data-testid=\"result-card\"").count(), 16);
    let page = html(&app, "/?img=00000000000000000000", &[]).await;
    assert!(page.contains("data-testid=\"search-error\""));

    // --- Interface language.
    let page = html(&app, "/", &[(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9")]).await;
    assert!(page.contains("<html lang=\"en\""), "{}", &page[..200]);
    assert!(page.contains(">Search<"));
    let page = html(
        &app,
        "/",
        &[(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.5")],
    )
    .await;
    assert!(page.contains("<html lang=\"zh-CN\""));
    assert!(page.contains(">搜索<"));
    let page = html(
        &app,
        "/",
        &[(header::ACCEPT_LANGUAGE, "en"), (header::COOKIE, "lang=zh")],
    )
    .await;
    assert!(
        page.contains(">搜索<"),
        "the cookie wins over Accept-Language"
    );
    let (_, headers, _) = send(&app, get("/?lang=en")).await;
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("lang=en;"), "{cookie}");

    // --- An empty collection: the page says how to add photos, in both languages.
    let empty_store = Arc::new(
        MilvusStore::connect(StoreConfig {
            uri: milvus.uri(),
            collection: "empty_collection".into(),
            model_id: "fixture".into(),
            ..StoreConfig::default()
        })
        .await
        .unwrap(),
    );
    empty_store.ensure_collection(false).await.unwrap();
    let empty = test_router(
        Arc::new(SearchEngine::new(encoder.clone(), empty_store, 20 << 20)),
        tmp.path(),
    );
    let page = html(&empty, "/", &[(header::ACCEPT_LANGUAGE, "zh-CN")]).await;
    assert!(page.contains("data-testid=\"empty-banner\""), "{page}");
    assert!(page.contains("shihua index"));
    let page = html(
        &empty,
        "/?q=%E5%A4%95%E9%98%B3",
        &[(header::ACCEPT_LANGUAGE, "en")],
    )
    .await;
    assert!(page.contains("No photos indexed yet"), "{page}");
    assert!(page.contains("data-testid=\"no-results\""), "{page}");

    drop(milvus);
}

async fn html(app: &axum::Router, uri: &str, headers: &[(header::HeaderName, &str)]) -> String {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    let (status, _, body) = send(app, req.body(Body::empty()).unwrap()).await;
    let page = String::from_utf8(body).unwrap();
    assert!(
        status.is_success() || status.is_client_error(),
        "{uri}: {status}"
    );
    page
}
