//! shihua's collection stays readable by the reference article's own Python code: pymilvus
//! opens it, counts rows, and the article's `vector_search` with a vector from `shihua embed`
//! returns the same file paths, in the same order, as `shihua search`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{copy_demo, repo};
use server::store::{find_lite_lib_dir, EmbeddedMilvus};

fn shihua(uri: &str, args: &[&str]) -> String {
    let (ok, out, err) = common::shihua(uri, args);
    assert!(ok, "{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymilvus_reads_the_collection_like_the_article() {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "run scripts/setup.sh first (it installs pymilvus into .venv)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_demo(&photos, 8);
    let lib = find_lite_lib_dir(&repo()).expect("Milvus Lite in .venv");
    let milvus = EmbeddedMilvus::start(&tmp.path().join("db/m.db"), &lib)
        .await
        .unwrap();
    let uri = milvus.uri();

    shihua(&uri, &["index", photos.to_str().unwrap()]);
    let vector = shihua(&uri, &["embed", "--text", "枯藤老树昏鸦"]);
    let ours: Vec<serde_json::Value> =
        serde_json::from_str(shihua(&uri, &["search", "枯藤老树昏鸦", "-k", "5", "--json"]).trim())
            .unwrap();
    let ours: Vec<&str> = ours
        .iter()
        .map(|h| h["filepath"].as_str().unwrap())
        .collect();

    let mut child = Command::new(&python)
        .arg(repo().join("server/tests/reference/vector_search.py"))
        .args([uri.as_str(), "multimodal_chinese_clip", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(vector.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs["count"], 8);
    assert_eq!(theirs["state"], "Loaded");
    let theirs: Vec<&str> = theirs["filepaths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        theirs, ours,
        "the article's vector_search and shihua search agree"
    );
    milvus.stop().await.unwrap();
}
