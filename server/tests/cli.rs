//! The `shihua` command line on the fixture model and a real Milvus Lite: index, search (text,
//! picture, JSON), embed, collection stats and drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use server::store::{embedded, EmbeddedMilvus};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shihua(uri: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shihua"))
        .current_dir(repo())
        .env("MILVUS_URI", uri)
        .env("SHIHUA_MODEL", "fixture")
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_search_embed_stats_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let mut demo: Vec<PathBuf> = std::fs::read_dir(repo().join("demo/photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    demo.sort();
    for p in demo.iter().take(3) {
        std::fs::copy(p, photos.join(p.file_name().unwrap())).unwrap();
    }
    let lib = embedded::find_lite_lib_dir(&repo()).expect("Milvus Lite in .venv");
    let milvus = EmbeddedMilvus::start(&tmp.path().join("db/m.db"), &lib)
        .await
        .unwrap();
    let uri = milvus.uri();

    let (ok, _, err) = shihua(&uri, &["collection", "stats"]);
    assert!(ok, "{err}");

    let (ok, out, err) = shihua(&uri, &["index", photos.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("rows in collection: 3"), "{out}");

    let (ok, out, err) = shihua(&uri, &["collection", "stats"]);
    assert!(ok, "{err}");
    for want in [
        "rows:       3",
        "model:      fixture",
        "IVF_FLAT",
        "COSINE",
        "nlist=512",
        "dim:        512",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }

    let (ok, out, err) = shihua(&uri, &["search", "小桥流水人家", "-k", "2", "--json"]);
    assert!(ok, "{err}");
    let hits: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 2);
    assert!(hits[0]["id"].is_string());

    let probe = photos.join(demo[1].file_name().unwrap());
    let (ok, out, err) = shihua(
        &uri,
        &["search", "--image", probe.to_str().unwrap(), "-k", "3"],
    );
    assert!(ok, "{err}");
    let first = out.lines().next().unwrap();
    assert!(
        first.ends_with(probe.canonicalize().unwrap().to_str().unwrap()),
        "{out}"
    );

    let (ok, out, err) = shihua(&uri, &["embed", "--text", "夕阳西下"]);
    assert!(ok, "{err}");
    let v: Vec<f32> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v.len(), 512);
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    assert_eq!(out.trim().lines().count(), 1, "one JSON line");

    let (ok, _, err) = shihua(&uri, &["collection", "drop"]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, out, err) = shihua(&uri, &["collection", "drop", "--yes"]);
    assert!(ok && out.contains("dropped"), "{out}{err}");
    let (_, out, _) = shihua(&uri, &["collection", "stats"]);
    assert!(out.contains("does not exist"), "{out}");

    milvus.stop().await.unwrap();
}
