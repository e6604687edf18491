//! Filters (issue 17, part 3) against a real Milvus (Lite here; the external server of
//! `make test-standalone` when `SHIHUA_TEST_MILVUS_URI` is set), on photos made in the test
//! (`common::dated_photos`): every filter — `in=`, `from=`/`to=`, `orient=`, and their mix —
//! gives exactly the unfiltered ranking restricted to the matching photos, for every kind of
//! query (text, combined terms, `like=`, `img=`, text + photo, `similar/{id}`, the upload) and
//! on page 2; hostile values never widen a search (they match nothing, or are a clear 400) and
//! the server keeps answering; what indexing stores (`taken_at`/`taken_src`/`orient`); the page
//! (form fields, links that keep the filters, the message for a bad value) and `shihua search
//! --in --from --to --orient`.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::dated_photos::{known_epoch, Library, HOSTILE_DIR, OLD_ROW};
use common::enc;
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use tower::ServiceExt;

/// Status and body of a request.
async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn api(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let (status, body) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    let v = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{uri}: not JSON: {body}"));
    (status, v)
}

/// The shown paths of a JSON answer's results, in order.
fn paths(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {v}"))
        .iter()
        .map(|r| r["filepath"].as_str().unwrap().to_owned())
        .collect()
}

/// A successful search: its shown paths.
async fn found(app: &axum::Router, uri: &str) -> Vec<String> {
    let (status, v) = api(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    paths(&v)
}

/// A filter case: the URL parameters, and which photos they keep (by shown path).
struct Case {
    params: Vec<(&'static str, String)>,
    keep: Box<dyn Fn(&str) -> bool>,
}

fn query_string(params: &[(&'static str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("&{k}={}", enc(v)))
        .collect()
}

fn cases(taken: Arc<HashMap<String, (&'static str, &'static str)>>) -> Vec<Case> {
    let p = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    let under = |prefix: &'static str| -> Box<dyn Fn(&str) -> bool> {
        Box::new(move |path: &str| path.starts_with(prefix))
    };
    // Dates compared as text: `YYYY-MM-DD HH:MM:SS` sorts like the time it names.
    let between = |lo: &'static str, hi: &'static str| -> Box<dyn Fn(&str) -> bool> {
        let taken = taken.clone();
        Box::new(move |path: &str| {
            taken
                .get(path)
                .is_some_and(|(t, _)| *t >= lo && (hi.is_empty() || *t < hi))
        })
    };
    let orient = |o: &'static str| -> Box<dyn Fn(&str) -> bool> {
        let taken = taken.clone();
        Box::new(move |path: &str| taken.get(path).is_some_and(|(_, or)| *or == o))
    };
    let hostile_dir: &'static str = Box::leak(format!("{HOSTILE_DIR}/").into_boxed_str());
    let both = {
        let (a, b, c) = (under("2019/"), orient("landscape"), between("2019-05", ""));
        Box::new(move |path: &str| a(path) && b(path) && c(path)) as Box<dyn Fn(&str) -> bool>
    };
    vec![
        Case {
            params: p(&[("in", "2019")]),
            keep: under("2019/"),
        },
        Case {
            params: p(&[("in", "2019/杭州")]),
            keep: under("2019/杭州/"),
        },
        Case {
            params: p(&[("in", "2019/杭州/")]),
            keep: under("2019/杭州/"),
        },
        Case {
            params: p(&[("in", "a")]),
            keep: under("a/"),
        },
        Case {
            params: p(&[("in", "a%b")]),
            keep: under("a%b/"),
        },
        Case {
            params: p(&[("in", "a_b")]),
            keep: under("a_b/"),
        },
        Case {
            params: p(&[("in", HOSTILE_DIR)]),
            keep: under(hostile_dir),
        },
        Case {
            params: p(&[("in", "杭州 西湖")]),
            keep: under("杭州 西湖/"),
        },
        Case {
            params: p(&[("in", "nowhere")]),
            keep: Box::new(|_| false),
        },
        Case {
            params: p(&[("from", "2019-05-04"), ("to", "2019-08")]),
            keep: between("2019-05-04", "2019-09"),
        },
        Case {
            params: p(&[("from", "2019"), ("to", "2019")]),
            keep: between("2019", "2020"),
        },
        Case {
            params: p(&[("to", "2018")]),
            keep: between("", "2019"),
        },
        Case {
            params: p(&[("from", "2019-12-31")]),
            keep: between("2019-12-31", ""),
        },
        Case {
            params: p(&[("orient", "landscape")]),
            keep: orient("landscape"),
        },
        Case {
            params: p(&[("orient", "portrait")]),
            keep: orient("portrait"),
        },
        Case {
            params: p(&[("orient", "square")]),
            keep: orient("square"),
        },
        Case {
            params: p(&[("in", "2019"), ("orient", "landscape"), ("from", "2019-05")]),
            keep: both,
        },
    ]
}

fn multipart(bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "filters-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The unfiltered text search, every row.
async fn everything(lib: &Library) -> Vec<String> {
    found(&lib.app, &format!("/api/v1/search?q={}&k=200", enc("夕阳"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filter_is_the_unfiltered_ranking_restricted() {
    let lib = Library::start("filters_rank").await;
    // --- What indexing stored: the EXIF date (read as UTC), else the mtime, and the
    // orientation of the upright size.
    let stored = lib.store.list_rows().await.unwrap();
    let rows: HashMap<String, Map<String, Value>> = stored
        .into_iter()
        .map(|r| (lib.shown(&r.filepath), r.extra))
        .collect();
    assert_eq!(rows.len(), lib.total + 1);
    let h2 = &rows["2019/杭州/h2.jpg"];
    assert_eq!(h2["taken_at"], json!(known_epoch("2019-05-03 23:30:00")));
    assert_eq!(
        (h2["taken_src"].as_str(), h2["orient"].as_str()),
        (Some("exif"), Some("portrait"))
    );
    let t3 = &rows["2020/t3.jpg"];
    assert_eq!(t3["taken_at"], json!(known_epoch("2018-07-01 12:00:00")));
    assert_eq!(
        (t3["taken_src"].as_str(), t3["orient"].as_str()),
        (Some("mtime"), Some("square"))
    );
    assert!(rows[OLD_ROW].get("taken_at").is_none());

    // --- Every kind of query: unfiltered, then each filter = that ranking restricted.
    let like = lib.id_of("2019/杭州/h1.jpg").await;
    let probe = std::fs::read(lib.photos.join("2020/t2.jpg")).unwrap();
    let (ct, body) = multipart(&probe);
    let (status, uploaded) = send(
        &lib.app,
        Request::post("/api/v1/search/image?k=200")
            .header(header::CONTENT_TYPE, &ct)
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{uploaded}");
    let uploaded: Value = serde_json::from_str(&uploaded).unwrap();
    let img = uploaded["query_id"].as_str().unwrap().to_owned();
    let queries = [
        format!("/api/v1/search?q={}", enc("夕阳")),
        format!("/api/v1/search?q={}", enc("2*大海 + 夕阳 - 城市")),
        format!("/api/v1/search?like={like}"),
        format!("/api/v1/search?img={img}"),
        format!("/api/v1/search?q={}&like={like}&w=0.5", enc("小桥流水")),
        format!("/api/v1/similar/{like}?x=1"),
    ];
    let mut checked = 0;
    for base in &queries {
        let full = found(&lib.app, &format!("{base}&k=200")).await;
        assert_eq!(
            full.len(),
            lib.total + 1,
            "{base}: the unfiltered search reaches every row"
        );
        for case in cases(lib.table.clone()) {
            let qs = query_string(&case.params);
            let want: Vec<String> = full.iter().filter(|p| (case.keep)(p)).cloned().collect();
            let got = found(&lib.app, &format!("{base}{qs}&k=200")).await;
            assert_eq!(got, want, "{base}{qs}");
            // Page 2 of 2 is the same ranking's 3rd and 4th.
            let (status, v) = api(&lib.app, &format!("{base}{qs}&k=2&page=2")).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            let page2: Vec<String> = want.iter().skip(2).take(2).cloned().collect();
            assert_eq!(paths(&v), page2, "{base}{qs} page 2");
            assert_eq!(
                v.get("next_page").and_then(Value::as_u64),
                (want.len() > 4).then_some(3)
            );
            checked += 1;
        }
    }
    assert!(checked >= 6 * 15, "{checked}");
    // The old row is found by folder, never by date or orientation.
    let all = found(&lib.app, &format!("{}&k=200", queries[0])).await;
    assert!(all.contains(&OLD_ROW.to_owned()));
    for filter in [
        "in=2019%2F%E6%9D%AD%E5%B7%9E",
        "from=1900",
        "orient=landscape",
    ] {
        let got = found(&lib.app, &format!("{}&{filter}&k=200", queries[0])).await;
        assert_eq!(
            got.contains(&OLD_ROW.to_owned()),
            filter.starts_with("in="),
            "{filter}"
        );
    }

    // --- The upload takes the filters in its query string.
    let (ct, body) = multipart(&probe);
    let (status, narrowed) = send(
        &lib.app,
        Request::post("/api/v1/search/image?k=200&orient=portrait&in=2020")
            .header(header::CONTENT_TYPE, &ct)
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    let want: Vec<String> = paths(&uploaded)
        .into_iter()
        .filter(|p| p.starts_with("2020/") && lib.table.get(p).is_some_and(|t| t.1 == "portrait"))
        .collect();
    assert_eq!(paths(&serde_json::from_str(&narrowed).unwrap()), want);
    assert_eq!(want, vec!["2020/t2.jpg"]);

    lib.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_filter_values_never_widen_a_search() {
    let lib = Library::start("filters_hostile").await;
    let like = lib.id_of("2019/杭州/h1.jpg").await;
    let all = everything(&lib).await;
    let text = &format!("/api/v1/search?q={}", enc("夕阳"));
    // --- Hostile values: a well-formed folder made of the expression language matches
    // nothing (it never widens the search); anything malformed is a clear 400.
    for folder in [
        r#"x" or id > 0 or ""#,
        r#"2019" or "1" == "1"#,
        r#"2019\" or id >= 0 or \""#,
        "2019) or (id > 0",
        "[1, 2]",
        "2019%",
        "2019_",
        "2",
    ] {
        let got = found(&lib.app, &format!("{text}&in={}&k=200", enc(folder))).await;
        assert!(got.is_empty(), "in={folder:?} found {got:?}");
    }
    let long = "长".repeat(5000);
    for (key, value, says) in [
        ("in", "../2019", "in= must be a folder"),
        ("in", "2019/../..", "in= must be a folder"),
        ("in", "/etc", "in= takes a folder as the site shows paths"),
        ("in", long.as_str(), "in= must be a folder"),
        ("in", "a\nb", "in= must be a folder"),
        (
            "orient",
            r#"landscape" or 1 == 1"#,
            "orient= must be landscape",
        ),
        ("orient", "sideways", "orient= must be landscape"),
        ("from", r#"2019" or id > 0"#, "from= must be a date"),
        ("from", "2019-02-30", "from= must be a date"),
        ("to", "19", "to= must be a date"),
    ] {
        for base in [text.clone(), format!("/api/v1/similar/{like}?x=1")] {
            let uri = format!("{base}&{key}={}", enc(value));
            let (status, v) = api(&lib.app, &uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{key}={value:?}: {v}");
            let msg = v["error"].as_str().unwrap();
            assert!(msg.contains(says), "{key}={value:?}: {msg}");
            assert!(msg.chars().count() < 600, "a short message: {msg}");
        }
    }
    let (status, v) = api(&lib.app, &format!("{text}&from=2020&to=2019")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("is after"), "{v}");
    // The server (and Milvus) kept answering.
    assert_eq!(found(&lib.app, &format!("{text}&k=200")).await, all);

    lib.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_the_cli_keep_the_filters() {
    let lib = Library::start("filters_page").await;
    let all = everything(&lib).await;
    // --- The page: results narrowed, the form keeps the filters, links continue them, and
    // a bad value is a message in both languages, not an error page.
    let (status, page) = send(
        &lib.app,
        Request::get(format!("/?q={}&in=2019&orient=landscape&k=2", enc("夕阳")))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let want: Vec<String> = all
        .iter()
        .filter(|p| p.starts_with("2019/") && lib.table.get(*p).is_some_and(|t| t.1 == "landscape"))
        .cloned()
        .collect();
    assert_eq!(
        page.matches("data-testid=\"result-card\"").count(),
        2,
        "{page}"
    );
    assert!(page.contains("data-testid=\"filter-in\""), "the filter row");
    assert!(page.contains("value=\"2019\""), "in= kept in the form");
    assert!(
        page.contains("value=\"landscape\" selected"),
        "orient= kept in the form"
    );
    assert!(want.len() > 2, "{want:?}");
    assert!(page.contains("data-testid=\"next-page\""));
    let next = page
        .split("data-testid=\"next-page\"")
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap()
        .to_owned();
    assert!(
        next.contains("in=2019") && next.contains("orient=landscape"),
        "{next}"
    );
    assert!(page.contains("data-testid=\"clear-filters\""));
    for (lang, says) in [
        ("en", "orient= must be landscape, portrait or square"),
        ("zh", "方向"),
    ] {
        let (_, page) = send(
            &lib.app,
            Request::get(format!("/?q={}&orient=sideways&lang={lang}", enc("夕阳")))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert!(page.contains(says), "{lang}: {page}");
        assert!(!page.contains("data-testid=\"result-card\""));
    }
    // The folders the site offers: the first two levels, relative.
    let (status, v) = api(&lib.app, "/api/v1/folders").await;
    assert_eq!(status, StatusCode::OK);
    let folders: Vec<String> = serde_json::from_value(v["folders"].clone()).unwrap();
    for f in [
        "2019",
        "2019/杭州",
        "2019/苏州",
        "2020",
        "a",
        "a%b",
        HOSTILE_DIR,
        "杭州 西湖",
    ] {
        assert!(folders.iter().any(|x| x == f), "{f} in {folders:?}");
    }
    assert!(folders.iter().all(|f| !f.starts_with('/')), "{folders:?}");

    // --- The CLI: the same filters, absolute folders.
    let dir2019: PathBuf = lib.photos.join("2019");
    let out = lib
        .milvus
        .shihua(
            &[],
            &[
                "search",
                "夕阳",
                "-k",
                "200",
                "--nprobe",
                "512",
                "--json",
                "--in",
                dir2019.to_str().unwrap(),
                "--orient",
                "landscape",
                "--from",
                "2019-05",
            ],
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let hits: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<String> = hits
        .iter()
        .map(|h| lib.shown(h["filepath"].as_str().unwrap()))
        .collect();
    let keep = &cases(lib.table.clone()).pop().unwrap().keep;
    let want: Vec<String> = all.iter().filter(|p| keep(p)).cloned().collect();
    assert_eq!(got, want);
    let out = lib
        .milvus
        .shihua(&[], &["search", "夕阳", "--orient", "sideways"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("orient= must be landscape"));

    lib.stop().await;
}
