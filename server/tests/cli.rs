//! The `shihua` command line on the fixture model and a real Milvus Lite: index, search (text,
//! picture, JSON), embed, collection stats and drop.

mod common;

use common::{copy_demo, demo_photos, repo, shihua};
use server::store::{find_lite_lib_dir, EmbeddedMilvus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_search_embed_stats_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_demo(&photos, 3);
    let demo = demo_photos();
    let lib = find_lite_lib_dir(&repo()).expect("Milvus Lite in .venv");
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
