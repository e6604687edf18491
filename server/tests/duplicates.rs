//! Duplicates (issue 17, part 5) against a real Milvus Lite: a folder where one photo is copied
//! into two subfolders and another has a near-identical twin (brightened by 2 % and
//! re-encoded), indexed with the fixture model. Through the JSON API: the copies are one
//! result with `duplicates` (visible paths), the twin is folded under the better-ranked photo
//! in `similar`, every other pair of results stays apart (cosine < 0.98), `all=1` shows every
//! hit on its own; pages of a folded search hold every photo exactly once, a page ending
//! between the two copies keeps both, and no page before the last is empty. `shihua search`
//! folds the same way (`--all` unfolds). Also measures what folding costs a page (the
//! fingerprints query).

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{fixture_encoder, index_options, test_router, TestMilvus};
use http_body_util::BodyExt;
use serde_json::Value;
use server::fold::cosine;
use server::ingest::index_folder;
use server::search::SearchEngine;
use server::store::MilvusStore;
use server::visible_path::{remember_folder, PathDisplay};
use tower::ServiceExt;

const THRESHOLD: f32 = app::search::FOLD_THRESHOLD;
/// Photos in the folder besides the copies and the twin.
const OTHERS: usize = 14;

/// A JSON API answer.
async fn api(app: &axum::Router, uri: &str) -> Value {
    let req = Request::get(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    v
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Every photo id an API answer names: results, their copies, folded photos and their copies.
fn every_id(results: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in results.as_array().unwrap() {
        out.push(id(r));
        out.extend(r["duplicates"].as_array().unwrap().iter().map(id));
        for s in r["similar"].as_array().unwrap() {
            out.push(id(s));
            out.extend(s["duplicates"].as_array().unwrap().iter().map(id));
        }
    }
    out
}

/// The demo JPEGs (sorted), for photos the test copies and edits.
fn demo_jpegs() -> Vec<PathBuf> {
    common::demo_photos()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect()
}

/// `src` brightened by `percent` and saved again as a JPEG (quality 92) at `dst`.
fn brightened(src: &Path, dst: &Path, percent: f32) {
    let img = image::open(src).unwrap().to_rgb8();
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (f32::from(*c) * (1.0 + percent / 100.0)).round().min(255.0) as u8;
        }
    }
    let file = std::fs::File::create(dst).unwrap();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 92);
    out.write_with_encoder(enc).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_and_near_identical_photos_fold_into_one_result() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let jpegs = demo_jpegs();
    let (copied, twin_of) = (&jpegs[3], &jpegs[5]);
    let copied_name = copied.file_name().unwrap().to_str().unwrap();
    std::fs::create_dir_all(&photos).unwrap();
    for d in ["2023/trip", "backup/phone", "edited"] {
        std::fs::create_dir_all(photos.join(d)).unwrap();
    }
    std::fs::copy(copied, photos.join("2023/trip").join(copied_name)).unwrap();
    std::fs::copy(copied, photos.join("backup/phone").join(copied_name)).unwrap();
    std::fs::copy(twin_of, photos.join(twin_of.file_name().unwrap())).unwrap();
    brightened(twin_of, &photos.join("edited/twin.jpg"), 2.0);
    let mut others = 0;
    for p in common::demo_photos() {
        if others == OTHERS || p == *copied || p == *twin_of {
            continue;
        }
        std::fs::copy(&p, photos.join(p.file_name().unwrap())).unwrap();
        others += 1;
    }
    let total = OTHERS + 4;

    let milvus = TestMilvus::start("duplicates", &tmp.path().join("db/m.db")).await;
    let mut cfg = milvus.config("fixture");
    cfg.nprobe = Some(512);
    let store = Arc::new(MilvusStore::connect(cfg).await.unwrap());
    let encoder = fixture_encoder();
    let summary = index_folder(encoder.clone(), store.clone(), index_options(&photos))
        .await
        .unwrap();
    assert_eq!(summary.indexed, total, "{summary:?}");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    remember_folder(&data, &photos.canonicalize().unwrap()).unwrap();
    let engine = Arc::new(
        SearchEngine::new(encoder.clone(), store.clone(), 20 << 20)
            .with_paths(PathDisplay::relative(&data)),
    );
    let app = test_router(engine.clone(), tmp.path());

    // Which row is which photo, and its stored vector.
    let rows = store.list_rows().await.unwrap();
    assert_eq!(rows.len(), total);
    let row_id = |suffix: &str| -> Vec<i64> {
        rows.iter()
            .filter(|r| r.filepath.ends_with(suffix))
            .map(|r| r.id)
            .collect()
    };
    let copies = row_id(&format!("/{copied_name}"));
    assert_eq!(copies.len(), 2, "the two copies");
    let original = row_id(&format!(
        "/photos/{}",
        twin_of.file_name().unwrap().to_str().unwrap()
    ))[0];
    let twin = row_id("/edited/twin.jpg")[0];
    let all_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let prints = store.fingerprints(&all_ids).await.unwrap();
    let vector = |id: i64| prints[&id].vector.clone().unwrap();
    let twin_cos = cosine(&vector(original), &vector(twin));
    eprintln!("cosine(original, brightened 2 % and re-encoded) = {twin_cos:.5}");
    assert!(
        twin_cos >= THRESHOLD,
        "the edited twin must be near-identical for the fixture model: {twin_cos}"
    );
    assert_eq!(prints[&copies[0]].sha256, prints[&copies[1]].sha256);
    assert_ne!(prints[&original].sha256, prints[&twin].sha256);

    // --- "More like" one copy: the copies are one result, the other listed as a duplicate.
    let v = api(&app, &format!("/api/v1/search?like={}&k=40", copies[0])).await;
    let results = v["results"].as_array().unwrap();
    let first = &results[0];
    let dups = first["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 1, "{first}");
    let pair: HashSet<String> = [id(first), id(&dups[0])].into();
    let want: HashSet<String> = copies.iter().map(i64::to_string).collect();
    assert_eq!(pair, want);
    let copy_path = dups[0]["filepath"].as_str().unwrap();
    assert!(
        copy_path == format!("2023/trip/{copied_name}")
            || copy_path == format!("backup/phone/{copied_name}"),
        "a visible path relative to the indexed folder: {copy_path}"
    );
    assert_ne!(copy_path, first["filepath"].as_str().unwrap());
    assert_eq!(dups[0]["thumb"], format!("/thumb/{}", id(&dups[0])));

    // --- "More like" the original: the twin is folded under it, with its score.
    let v = api(&app, &format!("/api/v1/search?like={original}&k=40")).await;
    let results = v["results"].as_array().unwrap();
    assert_eq!(id(&results[0]), original.to_string());
    let similar = results[0]["similar"].as_array().unwrap();
    assert_eq!(similar.len(), 1, "{}", results[0]);
    assert_eq!(id(&similar[0]), twin.to_string());
    assert_eq!(similar[0]["filepath"], "edited/twin.jpg");
    assert!(similar[0]["score"].as_f64().unwrap() >= f64::from(THRESHOLD));
    assert!(similar[0]["similar"].as_array().unwrap().is_empty());

    // Whatever the search, the results that stay are apart: no shared file, cosine < 0.98;
    // and the folded page names every photo of the unfolded one exactly once.
    for like in [copies[0], original, all_ids[7]] {
        let folded = api(&app, &format!("/api/v1/search?like={like}&k=40")).await;
        let results = folded["results"].as_array().unwrap();
        let kept: Vec<i64> = results.iter().map(|r| id(r).parse().unwrap()).collect();
        for (i, a) in kept.iter().enumerate() {
            for b in &kept[i + 1..] {
                let c = cosine(&vector(*a), &vector(*b));
                assert!(c < THRESHOLD, "results {a} and {b} stayed apart at {c}");
                assert_ne!(prints[a].sha256, prints[b].sha256, "{a} and {b}: one file");
            }
        }
        // Rank order is kept.
        let scores: Vec<f64> = results
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        let named = every_id(&folded["results"]);
        let unfolded = api(&app, &format!("/api/v1/search?like={like}&k=40&all=1")).await;
        let plain: Vec<String> = every_id(&unfolded["results"]);
        assert_eq!(plain.len(), total, "all=1: every photo its own result");
        assert!(unfolded["results"].as_array().unwrap().iter().all(|r| {
            r["duplicates"].as_array().unwrap().is_empty()
                && r["similar"].as_array().unwrap().is_empty()
        }));
        let a: HashSet<&String> = named.iter().collect();
        assert_eq!(a.len(), named.len(), "like={like}: a photo named twice");
        assert_eq!(
            a,
            plain.iter().collect(),
            "like={like}: folding lost a photo"
        );
        assert!(kept.len() < total, "like={like}: something was folded");
    }

    // --- Paging: a page that ends between the two copies keeps both. Rank of the copies when
    // searching like another photo (identical files: identical vectors, neighbours).
    let x = all_ids
        .iter()
        .copied()
        .find(|i| !copies.contains(i) && *i != original && *i != twin)
        .unwrap();
    let unfolded = api(&app, &format!("/api/v1/search?like={x}&k=200&all=1")).await;
    let ranking: Vec<i64> = unfolded["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| id(r).parse().unwrap())
        .collect();
    let at = ranking.iter().position(|i| copies.contains(i)).unwrap();
    assert!(
        copies.contains(&ranking[at + 1]),
        "copies are neighbours: {ranking:?}"
    );
    assert!(at >= 1, "the photo itself comes first");
    let cut = at + 1; // pages of `cut`: the first copy ends page 1, the second starts page 2
    for k in [cut, 2, 3, 5] {
        let mut seen: Vec<String> = Vec::new();
        let mut page = 1;
        loop {
            let v = api(&app, &format!("/api/v1/search?like={x}&k={k}&page={page}")).await;
            let ids = every_id(&v["results"]);
            let has_next = v.get("next_page").is_some_and(|n| !n.is_null());
            assert!(
                !ids.is_empty() || !has_next,
                "k={k} page {page}: empty before the end"
            );
            if k == cut && page == 1 {
                let both = copies.iter().all(|c| ids.contains(&c.to_string()));
                assert!(both, "k={k}: page 1 keeps both copies: {ids:?}");
                let top: Vec<String> = v["results"].as_array().unwrap().iter().map(id).collect();
                let apart = copies
                    .iter()
                    .filter(|c| top.contains(&c.to_string()))
                    .count();
                assert_eq!(apart, 1, "k={k}: the copies are one result: {v}");
            }
            seen.extend(ids);
            if !has_next {
                break;
            }
            page += 1;
            assert!(page <= total as u32 + 1, "k={k}: paging does not end");
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "k={k}: a photo on two pages: {seen:?}"
        );
        let every: HashSet<String> = all_ids.iter().map(i64::to_string).collect();
        assert_eq!(unique, every.iter().collect(), "k={k}: pages lost a photo");
    }

    // --- The cost of folding a page of 24: the fingerprints query on top of the search.
    let v = vector(x);
    let runs = 20;
    let (mut search_ms, mut prints_ms) = (0.0, 0.0);
    for _ in 0..runs {
        let t = Instant::now();
        let hits = store.search_page(&v, 0, 24 + 11).await.unwrap();
        search_ms += t.elapsed().as_secs_f64() * 1e3;
        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        let t = Instant::now();
        let got = store.fingerprints(&ids).await.unwrap();
        prints_ms += t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(got.len(), ids.len());
    }
    eprintln!(
        "a page of 24 (+11 looked ahead): search {:.2} ms, fingerprints (SHA-256 + vectors by id) {:.2} ms, mean of {runs}",
        search_ms / f64::from(runs),
        prints_ms / f64::from(runs)
    );

    // --- `shihua search` folds the same way; --all unfolds.
    let uri = milvus.uri.clone();
    // On an external server (`SHIHUA_TEST_MILVUS_URI`) the test has a collection of its own.
    let collection = milvus.collection.clone();
    let copied_path = photos.join("2023/trip").join(copied_name);
    let search = |all: bool| {
        let mut args = vec![
            "search",
            "--image",
            copied_path.to_str().unwrap(),
            "-k",
            "40",
        ];
        if all {
            args.push("--all");
        }
        let mut cmd = common::shihua_cmd(&uri, &args);
        if let Some(c) = &collection {
            cmd.env("SHIHUA_COLLECTION", c);
        }
        let out = cmd.env("SHIHUA_VARIANT", "fp32").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let folded = search(false);
    let lines: Vec<&str> = folded.lines().collect();
    let copy_lines = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("= "))
        .count();
    assert_eq!(copy_lines, 1, "{folded}");
    assert!(
        lines[1].trim_start().starts_with("= ") && lines[1].contains(copied_name),
        "the copy right under its result: {folded}"
    );
    let unfolded = search(true);
    let results = unfolded.lines().count();
    assert_eq!(results, total, "{unfolded}");
    assert_eq!(
        unfolded.lines().filter(|l| l.contains(copied_name)).count(),
        2,
        "{unfolded}"
    );
    drop(app);
    milvus.stop().await;
}
