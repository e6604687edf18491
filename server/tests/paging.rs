//! Paging (issue 17, part 4) against a real Milvus Lite: 700 synthetic rows inserted through
//! the store, then pages of 200 (and of 37, 100) — from the store, the JSON API (`like=`,
//! text and combined-term queries, `similar/{id}`) and the server-rendered page — must be
//! exactly one large search cut into pieces: no gaps, no repeats, the same order. Also
//! `page=` validation (a clear 400 on nonsense, the 16,384 window) and the page's own links.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{fixture_encoder, test_router, TestMilvus};
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use server::search::{combine, SearchEngine};
use server::store::{MilvusStore, NewRow};
use tower::ServiceExt;

const DIM: usize = 512;
const ROWS: usize = 700;

/// Deterministic unit vectors (xorshift), so a failure reproduces.
fn unit_vectors(n: usize, mut seed: u64) -> Vec<Vec<f32>> {
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..DIM).map(|_| next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// Status and body of a GET.
async fn fetch(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let req = Request::get(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A JSON API answer: status and value.
async fn api(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let (status, body) = fetch(app, uri).await;
    let v = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{uri}: not JSON: {body}"));
    (status, v)
}

/// Every page of `base&k=&page=` until `next_page` stops, checking the paging fields; the ids
/// in order.
async fn all_pages(app: &axum::Router, base: &str, k: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page = 1u32;
    loop {
        let uri = format!("{base}&k={k}&page={page}");
        let (status, v) = api(app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
        assert_eq!(v["page"], json!(page), "{uri}");
        let results = v["results"].as_array().unwrap();
        let next = v.get("next_page").and_then(Value::as_u64);
        match next {
            Some(n) => {
                assert_eq!(n, u64::from(page) + 1, "{uri}");
                assert_eq!(results.len(), k, "{uri}: a page before the last is full");
            }
            None => assert!(results.len() <= k, "{uri}"),
        }
        ids.extend(results.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        if next.is_none() {
            break;
        }
        page += 1;
        assert!(page < 100, "{uri}: paging does not end");
    }
    ids
}

fn assert_no_repeats(ids: &[String], what: &str) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{what}: an id repeats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_one_ranking_without_gaps_or_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let milvus = TestMilvus::start("paging", &tmp.path().join("db/m.db")).await;
    // Every IVF list probed (nlist is 512): the large search reaches every row, whether or not
    // Milvus builds the index for a collection this small.
    let mut cfg = milvus.config("fixture");
    cfg.nprobe = Some(512);
    let store = Arc::new(MilvusStore::connect(cfg).await.unwrap());
    store.ensure_collection(false).await.unwrap();
    let vectors = unit_vectors(ROWS, 0x005e_ed17);
    let rows = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut extra = Map::new();
            extra.insert("model".into(), json!("fixture"));
            NewRow {
                vector: v.clone(),
                filepath: format!("synthetic/{i:04}.jpg"),
                extra,
            }
        })
        .collect();
    let ids = store.insert(rows).await.unwrap();
    store.flush().await.unwrap();
    store.build_index_and_load().await.unwrap();

    // --- The store: pages through Milvus' offset against one search of every row.
    let probe = &vectors[0];
    let reference: Vec<i64> = store
        .search(probe, ROWS)
        .await
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(reference.len(), ROWS, "the large search reaches every row");
    assert_eq!(reference[0], ids[0], "the probe's own row first");
    for k in [200usize, 37] {
        let mut paged = Vec::new();
        let mut scores = Vec::new();
        for offset in (0..).step_by(k) {
            let page = store.search_page(probe, offset, k).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= k);
            paged.extend(page.iter().map(|h| h.id));
            scores.extend(page.iter().map(|h| h.score));
        }
        assert_eq!(paged, reference, "pages of {k} = the large search");
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "best first across pages of {k}"
        );
    }

    let engine = Arc::new(SearchEngine::new(
        fixture_encoder(),
        store.clone(),
        20 << 20,
    ));
    let app = test_router(engine, tmp.path());

    // --- The JSON API, "more like this": pages of 200 and of 37 are the large search (with the
    // vector the engine searches with: the stored one, normalised).
    let like = ids[0];
    let stored = store.get_vector(like).await.unwrap().unwrap();
    let v = combine(&[(Arc::new(stored), 1.0)]).unwrap();
    let reference: Vec<String> = store
        .search(&v, ROWS)
        .await
        .unwrap()
        .iter()
        .map(|h| h.id.to_string())
        .collect();
    assert_eq!(reference.len(), ROWS);
    let base = format!("/api/v1/search?like={like}");
    let by_200 = all_pages(&app, &base, 200).await;
    assert_no_repeats(&by_200, "like, k=200");
    assert_eq!(by_200, reference, "like, pages of 200 = the large search");
    assert_eq!(all_pages(&app, &base, 37).await, reference, "like, k=37");
    // `similar/{id}` pages the same way.
    let (status, v) = api(&app, &format!("/api/v1/similar/{like}?k=200&page=2")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let page2: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(page2, reference[200..400]);
    assert_eq!(v["next_page"], json!(3));

    // --- Text and combined-term queries: pages of 100 and of 200 are one ranking.
    for q in [
        "%E5%A4%95%E9%98%B3",
        "%E5%A4%95%E9%98%B3%20-%20%E5%9F%8E%E5%B8%82",
    ] {
        let base = format!("/api/v1/search?q={q}");
        let by_200 = all_pages(&app, &base, 200).await;
        assert!(by_200.len() > 400, "{q}: {}", by_200.len());
        assert_no_repeats(&by_200, q);
        assert_eq!(
            all_pages(&app, &base, 100).await,
            by_200,
            "{q}: k=100 vs k=200"
        );
    }

    // --- page= is checked: nonsense is a 400 that says what a page is.
    for bad in ["0", "-1", "two", "1.5", "%20x"] {
        let (status, v) = api(&app, &format!("{base}&page={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "page={bad}: {v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("page must be a whole number"),
            "{v}"
        );
    }
    let (status, v) = api(&app, &format!("/api/v1/similar/{like}?page=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // The window: 16,384 = 81 · 200 + 184, so page 82 (a short one) is the last with k=200.
    let (status, v) = api(&app, &format!("{base}&k=200&page=82")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["results"], json!([]), "past the rows, inside the window");
    assert!(v.get("next_page").is_none());
    let (status, v) = api(&app, &format!("{base}&k=200&page=83")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("16384") && msg.contains("last page is 82"),
        "{msg}"
    );
    let (status, _) = api(&app, &format!("{base}&page=99999999999")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // --- The page: a server-rendered page N with its links, no script needed.
    let (status, page) = fetch(&app, &format!("/?like={like}&k=200&page=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("data-testid=\"result-card\"").count(), 200);
    for id in &reference[200..203] {
        assert!(
            page.contains(&format!("/thumb/{id}?w=480")),
            "page 2 shows {id}"
        );
    }
    assert!(
        !page.contains(&format!("/thumb/{}?w=480", reference[199])),
        "page 2 does not repeat page 1"
    );
    assert!(page.contains("data-testid=\"next-page\""), "next link");
    assert!(page.contains("page=3"), "next link to page 3");
    assert!(page.contains("data-testid=\"prev-page\""), "previous link");
    // The last page ends the results; past the results, a page says so.
    let last = reference.len().div_ceil(200);
    let (_, page) = fetch(&app, &format!("/?like={like}&k=200&page={last}")).await;
    assert!(page.contains("data-testid=\"end-of-results\""));
    assert!(!page.contains("data-testid=\"next-page\""));
    let (status, page) = fetch(&app, &format!("/?like={like}&k=200&page=50")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-testid=\"page-empty\""), "{page}");
    // Past the window: a clear message with the way back, not an error page.
    let (status, page) = fetch(&app, &format!("/?like={like}&k=200&page=83&lang=en")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-testid=\"past-end\""), "{page}");
    assert!(page.contains("the last page is 82"), "{page}");
    assert!(!page.contains("data-testid=\"search-error\""));
    // A page number that is not one is page 1 on the site (like a bad `w`).
    let (status, page) = fetch(&app, &format!("/?like={like}&k=200&page=abc")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("/thumb/{}?w=480", reference[0])));

    drop(app);
    milvus.stop().await;
}
