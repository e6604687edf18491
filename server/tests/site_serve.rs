//! A real `shihua serve` (fixture model, its own Milvus Lite) answering real HTTP requests:
//! security headers and the page's CSP nonce (issue 19 part 3), no absolute server paths for
//! visitors (part 4), per-client picture limits and the bounded picture queue answering
//! `429` + `Retry-After` (part 2), share URLs under `--public-url` (part 5), and a flood of
//! CSP reports held to a per-client limit.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};

use app::search::SearchError;
use common::{copy_demo, shihua_cmd};

/// Stops the server when the test ends, passed or not.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        // SIGTERM: the server stops its embedded Milvus Lite on the way out.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

fn get(url: &str) -> Answer {
    let mut res = agent().get(url).call().unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// POST `picture` as multipart field `image` from the client `forwarded_for`.
fn post_picture(url: &str, forwarded_for: &str, picture: &[u8]) -> Answer {
    post_picture_with(&agent(), url, forwarded_for, picture)
}

/// `post_picture` through `agent`, whose connections are kept alive and reused.
fn post_picture_with(
    agent: &ureq::Agent,
    url: &str,
    forwarded_for: &str,
    picture: &[u8],
) -> Answer {
    let boundary = "shihua-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(picture);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut res = agent
        .post(url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("x-forwarded-for", forwarded_for)
        .send(&body[..])
        .unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header (status {})", a.status))
}

#[test]
fn a_served_site_is_safe_fair_and_shows_no_server_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let pictures = copy_demo(&photos.join("山水"), 4);
    let db = tmp.path().join("db/m.db");
    let data = tmp.path().join("data");
    let out = shihua_cmd(db.to_str().unwrap(), &["index", photos.to_str().unwrap()])
        .env("SHIHUA_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut child = shihua_cmd(
        db.to_str().unwrap(),
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--picture-rate",
            "6",
            "--picture-burst",
            "2",
            "--picture-queue",
            "0",
            "--trust-forwarded-for",
            "--public-url",
            "https://photos.example/",
        ],
    )
    .env("SHIHUA_DATA_DIR", &data)
    .env("LEPTOS_SITE_ROOT", tmp.path().join("site"))
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serving = Serving(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("shihua: ")
        .unwrap_or_else(|| panic!("the server did not start: {line:?}"))
        .to_string();

    // --- Safe by default: the page's CSP carries the nonce its inline scripts have.
    let page = get(&format!("{base}/?q=山"));
    assert_eq!(page.status, 200);
    let csp = header(&page, "content-security-policy").to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"));
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let scripts = page.body.matches("<script").count();
    assert!(scripts >= 2, "boot script and resources: {}", page.body);
    assert_eq!(
        page.body.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every inline script carries the response's nonce"
    );
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "referrer-policy"), "same-origin");
    // Absolute share URLs are under --public-url, not the address this request came by.
    for (tag, want) in [
        ("og:url", "https://photos.example/?q="),
        ("og:image", "https://photos.example/card.jpg?q="),
    ] {
        let at = page
            .body
            .find(&format!("property=\"{tag}\""))
            .unwrap_or_else(|| panic!("no {tag} in the page"));
        let content = page.body[at..]
            .split("content=\"")
            .nth(1)
            .and_then(|c| c.split('"').next())
            .unwrap();
        assert!(content.starts_with(want), "{tag} is {content}");
    }
    assert!(
        page.body
            .contains("data-public-url=\"https://photos.example\""),
        "the share button reads the public address from the page"
    );
    // A second page gets a fresh nonce.
    let again = get(&format!("{base}/"));
    assert!(!header(&again, "content-security-policy").contains(nonce));
    // Everything else: no script at all, no framing.
    let api = get(&format!("{base}/api/v1/stats"));
    assert_eq!(api.status, 200);
    let api_csp = header(&api, "content-security-policy");
    assert!(api_csp.starts_with("default-src 'none'"), "{api_csp}");
    assert!(api_csp.contains("frame-ancestors 'none'"), "{api_csp}");
    assert_eq!(header(&api, "x-content-type-options"), "nosniff");

    // --- No server paths: relative to the indexed folder, in the API and the page.
    let found = get(&format!("{base}/api/v1/search?q=山&k=4"));
    assert_eq!(found.status, 200, "{}", found.body);
    let json: serde_json::Value = serde_json::from_str(&found.body).unwrap();
    let shown: Vec<&str> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["filepath"].as_str().unwrap())
        .collect();
    assert_eq!(shown.len(), 4);
    for p in &shown {
        assert!(p.starts_with("山水/") && p.ends_with(".jpg"), "{p}");
    }
    let tmp_path = tmp.path().canonicalize().unwrap();
    let secret = tmp_path.to_str().unwrap();
    assert!(!found.body.contains(secret), "{}", found.body);
    assert!(!page.body.contains(secret), "the page shows {secret}");
    assert!(
        page.body.contains("山水/"),
        "the page names photos by relative path"
    );

    // --- Fair: a client over its picture limit gets 429 + Retry-After; others do not.
    let picture = std::fs::read(&pictures[0]).unwrap();
    let image_api = format!("{base}/api/v1/search/image");
    for i in 0..2 {
        let ok = post_picture(&image_api, "10.0.0.1", &picture);
        assert_eq!(ok.status, 200, "picture {i} of the burst: {}", ok.body);
    }
    let refused = post_picture(&image_api, "10.0.0.1", &picture);
    assert_eq!(refused.status, 429, "{}", refused.body);
    let wait: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=10).contains(&wait), "Retry-After {wait}");
    let err: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("try again"),
        "{err}"
    );
    // The page's server function gets an error its client decodes (and shows in words).
    let server_fn = format!(
        "{base}{}",
        <app::api::UploadQuery as server_fn::ServerFn>::PATH
    );
    let refused = post_picture(&server_fn, "10.0.0.1", &picture);
    assert_eq!(refused.status, 429);
    assert!(refused.headers.contains_key("retry-after"));
    let decoded: SearchError = serde_json::from_str(&refused.body).unwrap();
    assert!(decoded.retry_after().is_some(), "{decoded:?}");
    let refused = post_picture(&format!("{base}/upload"), "10.0.0.1", &picture);
    assert_eq!(refused.status, 429);
    assert!(refused.headers.contains_key("retry-after"));
    // A refused client that is still sending a large picture reads its 429 over a connection
    // that stays usable: the refusal reads the upload first (closing with the body unread resets
    // the connection, and a pooled connection then fails the client's next request).
    let mut large = picture.clone();
    large.resize(picture.len() + 3 * 1024 * 1024, 0);
    let pooled = agent();
    for i in 0..4 {
        let refused = post_picture_with(&pooled, &image_api, "10.0.0.1", &large);
        assert_eq!(
            refused.status, 429,
            "refusal {i} on a kept-alive connection"
        );
    }
    let mut res = pooled.get(&format!("{base}/healthz")).call().unwrap();
    assert_eq!(res.status().as_u16(), 200, "the same client's next request");
    let _ = res.body_mut().read_to_string();
    // Another client is served meanwhile.
    let other = post_picture(&image_api, "10.0.0.2", &picture);
    assert_eq!(other.status, 200, "{}", other.body);

    // --- Bounded queue: with no room to wait, a burst of new pictures from many clients
    // gets some answers and some 429s at once, never an unbounded wait.
    let n = 12;
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let url = image_api.clone();
            // Distinct bytes (trailing data after the JPEG) so none is a cached query.
            let mut bytes = std::fs::read(&pictures[i % pictures.len()]).unwrap();
            bytes.extend_from_slice(format!("burst {i}").as_bytes());
            std::thread::spawn(move || {
                barrier.wait();
                post_picture(&url, &format!("10.1.0.{i}"), &bytes)
            })
        })
        .collect();
    let answers: Vec<Answer> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(ok + busy.len(), n, "only answers or 429s");
    assert!(ok >= 1, "some pictures are searched");
    assert!(!busy.is_empty(), "a full queue refuses at once");
    for b in busy {
        let wait: u64 = header(b, "retry-after").parse().unwrap();
        assert!(wait >= 1);
    }
    // --- CSP reports: anyone may post them and each is logged, so a client gets a small
    // burst, then 429; other clients and the site are served meanwhile.
    let report = |client: &str, body: &[u8]| {
        let res = agent()
            .post(&format!("{base}/csp-report"))
            .header("content-type", "application/csp-report")
            .header("x-forwarded-for", client)
            .send(body)
            .unwrap();
        (
            res.status().as_u16(),
            res.headers().get("retry-after").is_some(),
        )
    };
    let one = br#"{"csp-report":{"blocked-uri":"inline","violated-directive":"script-src"}}"#;
    let flood: Vec<(u16, bool)> = (0..60).map(|_| report("10.9.0.1", one)).collect();
    let accepted = flood.iter().filter(|(s, _)| *s == 204).count();
    let refused: Vec<_> = flood.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(accepted + refused.len(), flood.len(), "{flood:?}");
    assert!(
        (1..=25).contains(&accepted),
        "a small burst is taken: {accepted}"
    );
    assert!(
        refused.len() >= 30,
        "the flood is refused: {}",
        refused.len()
    );
    assert!(
        refused.iter().all(|(_, retry)| *retry),
        "429s say when to retry"
    );
    assert_eq!(
        report("10.9.0.2", one).0,
        204,
        "another client still reports"
    );
    assert_eq!(
        report("10.9.0.3", &vec![b'x'; 64 * 1024]).0,
        413,
        "a report is small"
    );
    assert_eq!(
        get(&format!("{base}/?q=山")).status,
        200,
        "the site still answers"
    );
    drop(serving);
}
