//! Poems against a real Milvus Lite and the fixture model (random weights: these tests check
//! structure, determinism, the assignment's properties and agreement with the store's own
//! ranking, never that a line "means" a photo): the `poem_lines` lifecycle (index, resume,
//! model stamp, search), photo → poem (`/api/v1/poems`), whole-poem storyboards
//! (`/api/v1/storyboard`, "another photo"), the pages that show them, and the CLI.

mod common;
use common::enc;

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{copy_demo, index_options, start_and_index, test_router, LiteIndex};
use http_body_util::BodyExt;
use serde_json::Value;
use server::poems::{Corpus, CorpusLine, PoemLines};
use server::search::SearchEngine;
use server::store::{MilvusStore, StoreConfig};
use tower::ServiceExt;

const PHOTOS: usize = 16;
const POEM: &str = "枯藤老树昏鸦，小桥流水人家，古道西风瘦马。夕阳西下，断肠人在天涯。";

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, body)
}

async fn api(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let (status, body) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn html(app: &axum::Router, uri: &str) -> String {
    let (status, body) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, StatusCode::OK, "{uri}: {text}");
    text
}

/// The lines of the first `n` corpus poems.
fn first_poems(n: usize) -> Vec<CorpusLine> {
    let corpus = Corpus::bundled();
    let ids: HashSet<&str> = corpus.poems.iter().take(n).map(|p| p.id.as_str()).collect();
    corpus
        .lines
        .iter()
        .filter(|l| ids.contains(l.poem_id.as_str()))
        .cloned()
        .collect()
}

/// Photos indexed, poem lines indexed, and the router over both.
struct World {
    lite: LiteIndex,
    poems: Arc<PoemLines>,
    engine: Arc<SearchEngine>,
    app: axum::Router,
    _tmp: tempfile::TempDir,
}

async fn world(poems_n: usize) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_demo(&photos, PHOTOS);
    let lite = start_and_index(tmp.path(), index_options(&photos)).await;
    assert_eq!(lite.summary.indexed, PHOTOS);
    let poems = PoemLines::connect(lite.store.config(), "poem_lines")
        .await
        .unwrap();
    let lines = first_poems(poems_n);
    let summary = poems.index(&lite.encoder, &lines, false).await.unwrap();
    assert_eq!(summary.embedded, lines.len());
    let poems = Arc::new(poems);
    let shihua = Arc::new(
        SearchEngine::new(lite.encoder.clone(), lite.store.clone(), 20 << 20)
            .with_poems(poems.clone()),
    );
    let app = test_router(shihua.clone(), tmp.path());
    World {
        lite,
        poems,
        engine: shihua,
        app,
        _tmp: tmp,
    }
}

fn embed(w: &World, text: &str) -> Vec<f32> {
    w.lite
        .encoder
        .embed_texts(&[text])
        .unwrap()
        .vectors
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poem_lines_lifecycle_index_resume_search_and_model_stamp() {
    let w = world(20).await;
    let lines = first_poems(20);
    let store = w.poems.store();
    assert_eq!(store.config().collection, "poem_lines");
    assert_eq!(store.count().await.unwrap(), lines.len() as u64);

    // Every row carries the line's fields and what made its vector.
    let rows = store.list_rows().await.unwrap();
    assert_eq!(rows.len(), lines.len());
    let row = rows
        .iter()
        .find(|r| r.extra["poem_id"] == "tang300-0001" && r.extra["line"] == 1)
        .expect("the first line is stored");
    assert_eq!(row.filepath, "西陆蝉声唱");
    for (k, v) in [
        ("title", "在岳咏蝉"),
        ("author", "骆宾王"),
        ("dynasty", "唐"),
        ("model", "fixture"),
        ("variant", "fp32"),
    ] {
        assert_eq!(row.extra[k], v, "{k}");
    }

    // Again: nothing to embed.
    let again = w.poems.index(&w.lite.encoder, &lines, false).await.unwrap();
    assert_eq!((again.embedded, again.skipped), (0, lines.len()));
    assert_eq!(store.count().await.unwrap(), lines.len() as u64);

    // Interrupted run (rows missing) plus a stale row (text changed): only those are redone.
    let victims: Vec<i64> = rows.iter().take(7).map(|r| r.id).collect();
    store.delete_ids(&victims).await.unwrap();
    let mut changed = lines.clone();
    let last = changed.len() - 1;
    changed[last].text.push('改');
    let resumed = w
        .poems
        .index(&w.lite.encoder, &changed, false)
        .await
        .unwrap();
    assert_eq!(resumed.embedded, 8, "{resumed}");
    assert_eq!(resumed.replaced, 1, "{resumed}");
    assert_eq!(resumed.rows_in_collection, lines.len() as u64);
    let texts: HashSet<String> = store
        .list_rows()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.filepath)
        .collect();
    assert!(texts.contains(&changed[last].text));

    // Search: a line's own text finds that line first (same text, same vector), scores sorted,
    // and the service's answer is the store's own ranking.
    let target = &lines[5];
    let v = embed(&w, &target.text);
    let hits = w.poems.search(&v, 5).await.unwrap();
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0].text, target.text);
    assert!((hits[0].score - 1.0).abs() < 1e-3, "{}", hits[0].score);
    assert!(hits.windows(2).all(|p| p[0].score >= p[1].score));
    let raw = store.search_rows(&v, 5).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.text.clone()).collect::<Vec<_>>(),
        raw.iter()
            .map(|(h, _)| h.filepath.clone())
            .collect::<Vec<_>>()
    );

    // Another model cannot use these vectors: opening says so.
    let other = MilvusStore::connect(StoreConfig {
        model_id: "ViT-L-14".into(),
        ..store.config().clone()
    })
    .await
    .unwrap();
    let err = other
        .ensure_collection(false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("fixture") && err.contains("ViT-L-14"), "{err}");
    w.lite.milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_to_poem_lines_through_the_api() {
    let w = world(30).await;
    let photo = w.lite.store.list_indexed().await.unwrap()[3].id;

    // ?like=: the photo's own vector against poem_lines, exactly the store's ranking.
    let (status, v) = api(&w.app, &format!("/api/v1/poems?like={photo}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "k defaults to 5");
    for r in results {
        for key in ["text", "title", "author", "dynasty", "poem_id"] {
            assert!(r[key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {r}");
        }
        assert!(r["line"].as_u64().unwrap() >= 1);
        assert!(r["score"].as_f64().is_some());
    }
    let pv = w.lite.store.get_vector(photo).await.unwrap().unwrap();
    let expected: Vec<String> = w
        .poems
        .search(&pv, 5)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.text)
        .collect();
    let got: Vec<String> = results
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, expected);
    // Deterministic.
    assert_eq!(
        api(&w.app, &format!("/api/v1/poems?like={photo}")).await.1,
        v
    );

    // ?img=: an uploaded picture (its id from the search API) gives the same lines as the
    // same photo's stored vector would (both are the image tower on the same bytes).
    let bytes = std::fs::read(&w.lite.store.get(photo).await.unwrap().unwrap().filepath).unwrap();
    let id = w.shihua_remember(bytes).await;
    let (status, by_img) = api(&w.app, &format!("/api/v1/poems?img={id}&k=3")).await;
    assert_eq!(status, StatusCode::OK, "{by_img}");
    let img_texts: Vec<&str> = by_img["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        img_texts,
        got[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // ?q=: a text; k is honoured and clamped.
    let (status, by_text) = api(
        &w.app,
        &format!("/api/v1/poems?q={}&k=2", enc("西陆蝉声唱")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_text["results"][0]["text"], "西陆蝉声唱");
    assert_eq!(by_text["results"].as_array().unwrap().len(), 2);

    // Errors say what to do.
    assert_eq!(
        api(&w.app, "/api/v1/poems").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api(&w.app, "/api/v1/poems?q=x&k=ten").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api(&w.app, "/api/v1/poems?like=999").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api(&w.app, "/api/v1/poems?img=feedbeef").await.0,
        StatusCode::NOT_FOUND
    );
    w.lite.milvus.stop().await.unwrap();
}

impl World {
    async fn shihua_remember(&self, bytes: Vec<u8>) -> String {
        use app::search::SearchService;
        self.engine.remember_image(bytes).await.unwrap()
    }
}

/// Best total score of a repeat-free choice of one photo per line, over every photo.
fn best_total(scores: &[Vec<f32>]) -> f64 {
    fn go(s: &[Vec<f32>], i: usize, used: &mut Vec<usize>) -> f64 {
        if i == s.len() {
            return 0.0;
        }
        let mut best = f64::NEG_INFINITY;
        for p in 0..s[i].len() {
            if !used.contains(&p) {
                used.push(p);
                best = best.max(f64::from(s[i][p]) + go(s, i + 1, used));
                used.pop();
            }
        }
        best
    }
    go(scores, 0, &mut Vec::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storyboard_is_optimal_repeat_free_and_another_photo_works() {
    let w = world(2).await;
    let uri = format!("/api/v1/storyboard?poem={}", enc(POEM));
    let (status, board) = api(&w.app, &uri).await;
    assert_eq!(status, StatusCode::OK, "{board}");
    let lines = board["lines"].as_array().unwrap();
    let texts: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "枯藤老树昏鸦",
            "小桥流水人家",
            "古道西风瘦马",
            "夕阳西下",
            "断肠人在天涯"
        ]
    );
    let ids: Vec<String> = lines
        .iter()
        .map(|l| l["photo"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "no photo twice"
    );
    for l in lines {
        let p = &l["photo"];
        let id = p["id"].as_str().unwrap();
        assert_eq!(p["thumb"], format!("/thumb/{id}"));
        assert_eq!(p["image"], format!("/image/{id}"));
        assert!(
            p["filepath"].as_str().unwrap().ends_with(".jpg")
                || p["filepath"].as_str().unwrap().contains('.')
        );
    }

    // The store's own scores: every line against every photo (k = all photos).
    let all: Vec<i64> = w
        .lite
        .store
        .list_indexed()
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let mut scores = Vec::new();
    for t in &texts {
        let v = embed(&w, t);
        let hits = w.lite.store.search(&v, PHOTOS).await.unwrap();
        assert_eq!(hits.len(), PHOTOS);
        scores.push(
            all.iter()
                .map(|id| hits.iter().find(|h| h.id == *id).unwrap().score)
                .collect::<Vec<f32>>(),
        );
    }
    let col = |id: &str| all.iter().position(|a| a.to_string() == id).unwrap();
    let total: f64 = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let s = l["photo"]["score"].as_f64().unwrap();
            // Each shown score is the store's score for that line and photo.
            let expected = f64::from(scores[i][col(l["photo"]["id"].as_str().unwrap())]);
            assert!((s - expected).abs() < 1e-5, "line {i}: {s} vs {expected}");
            s
        })
        .sum();
    let best = best_total(&scores);
    assert!(
        (total - best).abs() < 1e-4,
        "storyboard total {total}, optimum {best}"
    );

    // Deterministic.
    assert_eq!(api(&w.app, &uri).await.1["lines"], board["lines"]);

    // "another photo" for line 2: the best photo no other line holds, other than its own;
    // the other lines keep theirs.
    let (_, alt) = api(&w.app, &format!("{uri}&alt=2.1")).await;
    let alt_ids: Vec<String> = alt["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["photo"]["id"].as_str().unwrap().to_owned())
        .collect();
    for i in [0, 1, 3, 4] {
        assert_eq!(alt_ids[i], ids[i], "line {i} kept its photo");
    }
    let used: HashSet<usize> = [0, 1, 3, 4].iter().map(|&i| col(&ids[i])).collect();
    let expected = (0..PHOTOS)
        .filter(|p| !used.contains(p) && *p != col(&ids[2]))
        .max_by(|&a, &b| scores[2][a].total_cmp(&scores[2][b]))
        .unwrap();
    assert_eq!(alt_ids[2], all[expected].to_string());
    assert_eq!(alt_ids.iter().collect::<HashSet<_>>().len(), alt_ids.len());

    // A long poem: 40 lines at most; with 16 photos, 16 lines get distinct photos, the rest none.
    let long: String = (0..45).map(|i| format!("第{i}行山水，")).collect();
    let (status, big) = api(&w.app, &format!("/api/v1/storyboard?poem={}", enc(&long))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(big["truncated"], true);
    let big_lines = big["lines"].as_array().unwrap();
    assert_eq!(big_lines.len(), 40);
    let with_photo: Vec<&str> = big_lines
        .iter()
        .filter_map(|l| l["photo"]["id"].as_str())
        .collect();
    assert_eq!(with_photo.len(), PHOTOS);
    assert_eq!(with_photo.iter().collect::<HashSet<_>>().len(), PHOTOS);

    // Nothing to split: 400 with a hint.
    let (status, e) = api(&w.app, "/api/v1/storyboard?poem=%EF%BC%8C%E3%80%82").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["error"].as_str().unwrap().contains("poem"), "{e}");
    w.lite.milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poems_cli_indexes_resumably_and_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let (milvus, _store) = common::start_lite(tmp.path()).await;
    let uri = milvus.uri();
    let (ok, out, err) = common::shihua(&uri, &["poems", "index", "--limit", "3"]);
    assert!(ok, "{err}");
    let n = first_poems(3).len();
    assert!(out.contains(&format!("embedded:            {n}")), "{out}");
    let (ok, out, err) = common::shihua(&uri, &["poems", "index", "--limit", "3"]);
    assert!(ok, "{err}");
    assert!(out.contains("embedded:            0"), "{out}");
    assert!(out.contains(&format!("already stored:      {n}")), "{out}");
    let (ok, out, err) = common::shihua(
        &uri,
        &["poems", "search", "西陆蝉声唱", "-k", "3", "--json"],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[0]["text"], "西陆蝉声唱");
    assert_eq!(v[0]["author"], "骆宾王");
    milvus.stop().await.unwrap();
}

/// The `data-photo-id`s of a rendered storyboard, in line order.
fn story_photo_ids(page: &str) -> Vec<String> {
    page.split("data-photo-id=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_storyboards_and_the_poem_panel_without_javascript() {
    let w = world(5).await;
    // Storyboard page: the same photos as the API, with an "another photo" link per line.
    let uri = format!("/?poem={}", enc(POEM));
    let page = html(&w.app, &uri).await;
    assert_eq!(
        page.matches("data-testid=\"story-line\"").count(),
        5,
        "{page}"
    );
    let (_, board) = api(&w.app, &format!("/api/v1/storyboard?poem={}", enc(POEM))).await;
    let api_ids: Vec<String> = board["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["photo"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(story_photo_ids(&page), api_ids);
    assert_eq!(page.matches("data-testid=\"another-photo\"").count(), 5);
    assert!(
        page.contains("alt=2%2E1"),
        "the third line's link adds alt=2.1: {page}"
    );
    // Following it: line 2 changes, the rest stay, as the API says.
    let page2 = html(&w.app, &format!("{uri}&alt=2.1")).await;
    let (_, board2) = api(
        &w.app,
        &format!("/api/v1/storyboard?poem={}&alt=2.1", enc(POEM)),
    )
    .await;
    let ids2 = story_photo_ids(&page2);
    assert_eq!(
        ids2,
        board2["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["photo"]["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    assert_ne!(ids2[2], api_ids[2]);
    assert!(page2.contains("alt=2%2E2"), "pressing again counts on");

    // Photo → poem panel on a ?like= page: five lines, each a search link with its source.
    let photo = w.lite.store.list_indexed().await.unwrap()[0].id;
    let page = html(&w.app, &format!("/?like={photo}")).await;
    assert!(page.contains("data-testid=\"poem-panel\""), "{page}");
    assert_eq!(page.matches("data-testid=\"poem-line\"").count(), 5);
    let (_, lines) = api(&w.app, &format!("/api/v1/poems?like={photo}")).await;
    let first = lines["results"][0]["text"].as_str().unwrap();
    assert!(page.contains(&format!("href=\"/?q={}\"", enc(first))) || page.contains(first));
    assert!(page.contains(&format!(
        "《{}》",
        lines["results"][0]["title"].as_str().unwrap()
    )));
    // No panel on a text search.
    let page = html(&w.app, &format!("/?q={}", enc("夕阳"))).await;
    assert!(!page.contains("data-testid=\"poem-panel\""));

    // Pick a poem by title: links to its storyboard.
    let page = html(&w.app, &format!("/?title={}", enc("静夜思"))).await;
    assert!(page.contains("data-testid=\"title-result\""), "{page}");
    assert!(page.contains("?poem="));
    w.lite.milvus.stop().await.unwrap();
}

/// The `content` of `<meta property|name="{key}">` in a page.
fn meta(page: &str, key: &str) -> Option<String> {
    let at = page
        .find(&format!("property=\"{key}\""))
        .or_else(|| page.find(&format!("name=\"{key}\"")))?;
    let tag_start = page[..at].rfind("<meta")?;
    let tag = &page[tag_start..tag_start + page[tag_start..].find('>')?];
    let c = tag.find("content=\"")? + 9;
    Some(tag[c..c + tag[c..].find('"')?].replace("&amp;", "&"))
}

async fn jpeg(app: &axum::Router, uri: &str) -> image::DynamicImage {
    let (status, body) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&body)
    );
    image::load_from_memory_with_format(&body, image::ImageFormat::Jpeg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_search_url_has_link_preview_tags_and_a_card() {
    let w = world(5).await;
    let photo = w.lite.store.list_indexed().await.unwrap()[0].id;
    let bytes = std::fs::read(&w.lite.store.get(photo).await.unwrap().unwrap().filepath).unwrap();
    let img = w.shihua_remember(bytes).await;
    let urls = [
        format!("/?q={}", enc("夕阳西下")),
        format!("/?img={img}"),
        format!("/?like={photo}"),
        format!("/?poem={}", enc(POEM)),
    ];
    for url in &urls {
        let req = Request::get(url.as_str())
            .header(header::HOST, "shihua.example:8080")
            .body(Body::empty())
            .unwrap();
        let (status, body) = send(&w.app, req).await;
        assert_eq!(status, StatusCode::OK);
        let page = String::from_utf8(body).unwrap();
        for key in ["og:title", "og:description", "og:image", "og:url"] {
            assert!(
                meta(&page, key).is_some_and(|v| !v.is_empty()),
                "{url}: no {key}"
            );
        }
        assert_eq!(
            meta(&page, "twitter:card").as_deref(),
            Some("summary_large_image"),
            "{url}"
        );
        let og_url = meta(&page, "og:url").unwrap();
        assert!(
            og_url.starts_with("http://shihua.example:8080/?"),
            "{og_url}"
        );
        let image = meta(&page, "og:image").unwrap();
        let path = image
            .strip_prefix("http://shihua.example:8080")
            .expect(&image);
        assert!(path.starts_with("/card.jpg?"), "{path}");
        // The card it names is a 1200×630 JPEG.
        let card = jpeg(&w.app, path).await;
        assert_eq!((card.width(), card.height()), (1200, 630), "{path}");
    }
    // No tags on the bare home page (no search to preview).
    let home = html(&w.app, "/").await;
    assert!(meta(&home, "og:image").is_none());

    // Cached by content: the second request is served from <data dir>/cards.
    let cards = w._tmp.path().join("cards");
    let n = std::fs::read_dir(&cards).unwrap().count();
    assert!(n >= 4, "{n} cards cached");
    let again = jpeg(&w.app, &format!("/card.jpg?q={}", enc("夕阳西下"))).await;
    assert_eq!(again.width(), 1200);
    assert_eq!(std::fs::read_dir(&cards).unwrap().count(), n);

    // The storyboard's tall card: a row per line, offered to save.
    let page = html(&w.app, &format!("/?poem={}", enc(POEM))).await;
    assert!(page.contains("data-testid=\"save-card\""));
    let tall = jpeg(&w.app, &format!("/card.jpg?poem={}&tall=1", enc(POEM))).await;
    assert_eq!(tall.width(), 1200);
    assert_eq!(tall.height(), 120 + 5 * 360 + 40);
    w.lite.milvus.stop().await.unwrap();
}
