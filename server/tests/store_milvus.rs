//! Store tests against a real Milvus Lite 2.5.1 (never a mock). Each test starts its own
//! `EmbeddedMilvus` on a temporary folder. The binary is found with `find_lite_lib_dir` from
//! the repository root (run `make run` / scripts/setup.sh once to install it).
//!
//! With `SHIHUA_TEST_MILVUS_URI` set (e.g. `http://127.0.0.1:19530`, a real Milvus standalone
//! started by `scripts/milvus-standalone.sh`; `scripts/test-standalone.sh` does both), the tests
//! use that server instead, each in its own collection `t_<test>_<pid>` that is dropped at the
//! end, so they can run in parallel on one server. Tests about the embedded child process
//! itself say why and return early there.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Map, Value};
use server::store::{
    EmbeddedMilvus, IndexKind, IndexedFile, MilvusStore, NewRow, StoreConfig, StoreError,
};

const DIM: usize = 512;
const N: usize = 600;

mod common;

use common::{external_uri, lite_lib as lib_dir, TestMilvus};

/// True (after printing why) when the tests run against an external server and `test` is only
/// meaningful for the embedded Milvus Lite child process.
fn skip_on_external(test: &str, why: &str) -> bool {
    match external_uri() {
        Some(uri) => {
            // Straight to stderr, past the test harness' output capture, so it shows.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test} against external Milvus {uri}: {why}"
            );
            true
        }
        None => false,
    }
}

async fn start(dir: &tempfile::TempDir, test: &str) -> TestMilvus {
    TestMilvus::start(test, &dir.path().join("milvus.db")).await
}

fn config(uri: String, model: &str) -> StoreConfig {
    StoreConfig {
        uri,
        model_id: model.to_owned(),
        collection: "shihua_test".to_owned(),
        ..StoreConfig::default()
    }
}

/// Deterministic xorshift so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn unit_vector(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..DIM).map(|_| self.next_f32()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }
}

fn rows(n: usize, seed: u64) -> Vec<NewRow> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let mut extra = Map::new();
            extra.insert("width".into(), json!(100 + i));
            extra.insert("height".into(), json!(200 + i));
            extra.insert("model".into(), json!("fixture"));
            extra.insert("sha256".into(), json!(format!("{i:064x}")));
            extra.insert("mtime".into(), json!(1_700_000_000i64 + i as i64));
            NewRow {
                vector: rng.unit_vector(),
                filepath: format!("photos/山水/img_{i:04}.jpg"),
                extra,
            }
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_workflow_insert_index_search_get() {
    let dir = tempfile::tempdir().unwrap();
    let lite = start(&dir, "full_workflow_insert_index_search_get").await;
    if let Some(embedded) = &lite.lite {
        assert!(embedded.pid() > 0);
        assert_eq!(
            embedded.uri(),
            format!("http://127.0.0.1:{}", embedded.port())
        );
    }

    let store = MilvusStore::connect(lite.config("fixture")).await.unwrap();
    store.ping().await.unwrap();
    assert!(!store.has_collection().await.unwrap());
    store.ensure_collection(false).await.unwrap();
    assert!(store.has_collection().await.unwrap());
    // Opening again with the same model is fine.
    store.ensure_collection(false).await.unwrap();

    let input = rows(N, 42);
    let ids = store.insert(input.clone()).await.unwrap();
    assert_eq!(ids.len(), N);
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), N, "auto ids are unique");
    // Auto ids are i64 and large (timestamp-based, ~4e17), beyond JS's exact integers.
    assert!(
        ids.iter().all(|&id| id > 1 << 53),
        "auto ids should be large: {:?}",
        &ids[..3]
    );
    store.flush().await.unwrap();

    store.build_index_and_load().await.unwrap();
    // Idempotent: a second call finds the index and only verifies + loads.
    store.build_index_and_load().await.unwrap();

    let info = store.describe().await.unwrap();
    println!("describe: {info:#?}");
    let index = info.index.expect("index present");
    assert_eq!(index.index_type, "IVF_FLAT");
    assert_eq!(index.metric_type, "COSINE");
    assert_eq!(
        index.params.get("nlist").map(|s| s.trim_matches('"')),
        Some("512")
    );
    assert_eq!(info.model.as_deref(), Some("fixture"));
    assert_eq!(info.dim, DIM);
    assert_eq!(info.rows, N as u64);
    assert_eq!(info.load_state, "Loaded");
    assert_eq!(info.description, "shihua model=fixture dim=512");

    assert_eq!(store.count().await.unwrap(), N as u64);

    // Search with a stored vector: that row comes first with cosine ≈ 1.
    for probe in [0usize, 137, 599] {
        let hits = store.search(&input[probe].vector, 10).await.unwrap();
        assert_eq!(hits.len(), 10);
        assert_eq!(hits[0].id, ids[probe]);
        assert_eq!(hits[0].filepath, input[probe].filepath);
        assert!(
            (hits[0].score - 1.0).abs() < 1e-4,
            "score {}",
            hits[0].score
        );
        for w in hits.windows(2) {
            assert!(w[0].score >= w[1].score, "sorted best first");
        }
        // Scores are cosine similarities (checked against a local dot product).
        let pos = ids.iter().position(|&id| id == hits[1].id).unwrap();
        let expected = dot(&input[probe].vector, &input[pos].vector);
        assert!((hits[1].score - expected).abs() < 1e-4);
    }
    assert!(store.search(&input[0].vector, 0).await.unwrap().is_empty());
    assert!(matches!(
        store.search(&[0.0; 3], 5).await,
        Err(StoreError::BadVector { .. })
    ));

    // get(id): file path + dynamic fields.
    let row = store.get(ids[7]).await.unwrap().expect("row 7");
    assert_eq!(row.id, ids[7]);
    assert_eq!(row.filepath, input[7].filepath);
    assert_eq!(row.extra.get("width"), Some(&json!(107)));
    assert_eq!(row.extra.get("height"), Some(&json!(207)));
    assert_eq!(row.extra.get("model"), Some(&json!("fixture")));
    assert_eq!(row.extra.get("sha256"), Some(&json!(format!("{:064x}", 7))));
    assert_eq!(row.extra.get("mtime"), Some(&json!(1_700_000_007i64)));
    assert!(store.get(12345).await.unwrap().is_none());

    // get_vector round-trips exactly (float32 storage).
    let v = store.get_vector(ids[9]).await.unwrap().expect("vector 9");
    assert_eq!(v, input[9].vector);
    assert!(store.get_vector(12345).await.unwrap().is_none());

    drop(store);
    lite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_too_long_is_rejected_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let lite = start(&dir, "path_too_long_is_rejected_not_truncated").await;
    let store = MilvusStore::connect(lite.config("fixture")).await.unwrap();
    store.ensure_collection(false).await.unwrap();

    let mut batch = rows(3, 7);
    // 67 three-byte characters = 201 bytes > 200, although only 67 characters.
    batch[1].filepath = "画".repeat(67);
    match store.insert(batch.clone()).await {
        Err(StoreError::PathTooLong { len, max, path }) => {
            assert_eq!(len, 201);
            assert_eq!(max, 200);
            assert_eq!(path, batch[1].filepath);
        }
        other => panic!("expected PathTooLong, got {other:?}"),
    }
    // Nothing of the batch was inserted.
    assert_eq!(store.count().await.unwrap(), 0);

    // Exactly at the limit is accepted and stored intact.
    let mut ok = rows(1, 8);
    ok[0].filepath = format!("{}ab", "画".repeat(66));
    assert_eq!(ok[0].filepath.len(), 200);
    let ids = store.insert(ok.clone()).await.unwrap();
    let row = store.get(ids[0]).await.unwrap().unwrap();
    assert_eq!(row.filepath, ok[0].filepath);

    // Reserved names in extra fields and wrong dimensions are refused too.
    let mut bad = rows(1, 9);
    bad[0].extra.insert("filepath".into(), Value::from("x"));
    assert!(matches!(
        store.insert(bad).await,
        Err(StoreError::InvalidRow(_))
    ));
    let mut bad = rows(1, 10);
    bad[0].vector.pop();
    assert!(matches!(
        store.insert(bad).await,
        Err(StoreError::BadVector { .. })
    ));
    lite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_mismatch_on_reopen_and_recreate_drops() {
    let dir = tempfile::tempdir().unwrap();
    let lite = start(&dir, "model_mismatch_on_reopen_and_recreate_drops").await;
    let a = MilvusStore::connect(lite.config("ViT-B-16")).await.unwrap();
    a.ensure_collection(false).await.unwrap();
    a.insert(rows(20, 1)).await.unwrap();
    a.flush().await.unwrap();
    assert_eq!(a.count().await.unwrap(), 20);

    let b = MilvusStore::connect(lite.config("fixture")).await.unwrap();
    let err = b.ensure_collection(false).await.unwrap_err();
    match &err {
        StoreError::ModelMismatch {
            collection_model,
            expected_model,
            ..
        } => {
            assert_eq!(collection_model, "ViT-B-16");
            assert_eq!(expected_model, "fixture");
        }
        other => panic!("expected ModelMismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("--recreate") && msg.contains("--model ViT-B-16"),
        "{msg}"
    );

    // Same model, other dimension.
    let mut cfg = lite.config("ViT-B-16");
    cfg.dim = 768;
    let c = MilvusStore::connect(cfg).await.unwrap();
    assert!(matches!(
        c.ensure_collection(false).await,
        Err(StoreError::DimMismatch {
            collection_dim: 512,
            expected_dim: 768,
            ..
        })
    ));

    // --recreate drops the old collection (and its rows) and stamps the new model.
    b.ensure_collection(true).await.unwrap();
    b.build_index_and_load().await.unwrap();
    assert_eq!(b.count().await.unwrap(), 0);
    let info = b.describe().await.unwrap();
    assert_eq!(info.model.as_deref(), Some("fixture"));
    assert_eq!(info.rows, 0);
    // Now the old model is the mismatch.
    assert!(matches!(
        a.ensure_collection(false).await,
        Err(StoreError::ModelMismatch { .. })
    ));

    b.drop_collection().await.unwrap();
    assert!(!b.has_collection().await.unwrap());
    assert!(matches!(
        b.describe().await,
        Err(StoreError::CollectionMissing { .. })
    ));
    lite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_persists_across_restart() {
    if skip_on_external(
        "data_persists_across_restart",
        "it restarts the embedded Milvus Lite on the same db file",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("milvus.db");
    let input = rows(50, 99);
    let ids = {
        let lite = EmbeddedMilvus::start(&db, &lib_dir()).await.unwrap();
        let store = MilvusStore::connect(config(lite.uri(), "fixture"))
            .await
            .unwrap();
        store.ensure_collection(false).await.unwrap();
        let ids = store.insert(input.clone()).await.unwrap();
        store.flush().await.unwrap();
        store.build_index_and_load().await.unwrap();
        assert_eq!(store.count().await.unwrap(), 50);
        drop(store);
        lite.stop().await.unwrap();
        ids
    };
    assert!(dir.path().join("milvus-lite.log").exists());

    // A new server (new port) on the same file.
    let lite = EmbeddedMilvus::start(&db, &lib_dir()).await.unwrap();
    let store = MilvusStore::connect(config(lite.uri(), "fixture"))
        .await
        .unwrap();
    store.ensure_collection(false).await.unwrap();
    store.load().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 50);
    let hits = store.search(&input[3].vector, 3).await.unwrap();
    assert_eq!(hits[0].id, ids[3]);
    assert_eq!(hits[0].filepath, input[3].filepath);
    let info = store.describe().await.unwrap();
    assert_eq!(
        info.index.map(|i| i.index_type).as_deref(),
        Some("IVF_FLAT")
    );
    // The index is kept; build_index_and_load only verifies it.
    store.build_index_and_load().await.unwrap();
    // A different configured index is reported, not silently used.
    let mut cfg = config(lite.uri(), "fixture");
    cfg.index = IndexKind::IvfFlat { nlist: 128 };
    let other = MilvusStore::connect(cfg).await.unwrap();
    let err = other.build_index_and_load().await.unwrap_err();
    assert!(matches!(err, StoreError::IndexMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("nlist: 512"), "{err}");
    lite.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_per_db_file_and_clear_errors() {
    if skip_on_external(
        "one_server_per_db_file_and_clear_errors",
        "it is about the embedded Milvus Lite child (db lock, binary, Lite's index types)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("milvus.db");
    let lite = EmbeddedMilvus::start(&db, &lib_dir()).await.unwrap();
    // A second server on the same file is refused.
    let err = EmbeddedMilvus::start(&db, &lib_dir()).await.unwrap_err();
    assert!(matches!(err, StoreError::LiteDbLocked { .. }), "{err:?}");
    let pid = lite.pid();
    // Dropping (not stopping) also ends the child.
    drop(lite);
    // SAFETY: probing a pid with signal 0.
    let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
    assert!(!alive, "child {pid} still running after drop");

    // Missing binary: says how to install it.
    let err = EmbeddedMilvus::start(&db, dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::LiteBinaryMissing { .. }));
    assert!(err.to_string().contains("scripts/setup.sh"), "{err}");

    // Nothing listening: a clear "is it running?" error within the retry budget. The port stays
    // bound (not listening) meanwhile, so a server another test starts cannot take it.
    let (_bound, port) = bound_port_not_listening();
    let started = std::time::Instant::now();
    let err = MilvusStore::connect(config(format!("http://127.0.0.1:{port}"), "fixture"))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("is it running?"), "{err}");
    assert!(started.elapsed().as_secs() < 20);

    // HNSW is an option for full Milvus; Milvus Lite 2.5.1 refuses it with a clear error.
    let lite = EmbeddedMilvus::start(&db, &lib_dir()).await.unwrap();
    let mut cfg = config(lite.uri(), "fixture");
    cfg.collection = "shihua_hnsw".into();
    cfg.index = IndexKind::Hnsw {
        m: 16,
        ef_construction: 200,
    };
    let store = MilvusStore::connect(cfg).await.unwrap();
    store.ensure_collection(false).await.unwrap();
    store.insert(rows(10, 5)).await.unwrap();
    let err = store.build_index_and_load().await.unwrap_err();
    assert!(
        matches!(err, StoreError::IndexUnsupported { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("IVF_FLAT"), "{err}");
    lite.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_indexed_reads_past_query_caps_and_delete_ids() {
    let dir = tempfile::tempdir().unwrap();
    let lite = start(&dir, "list_indexed_reads_past_query_caps_and_delete_ids").await;
    // 9,000 rows: more than one 8,192-row page, so id ranges must be split. Small vectors
    // keep the test fast; the store takes the dimension from its config.
    let mut cfg = lite.config("fixture");
    cfg.dim = 8;
    let store = MilvusStore::connect(cfg).await.unwrap();
    store.ensure_collection(false).await.unwrap();
    let n = 9000usize;
    let batch: Vec<NewRow> = (0..n)
        .map(|i| {
            let mut extra = Map::new();
            extra.insert("size".into(), json!(1000 + i));
            extra.insert("mtime".into(), json!(1_700_000_000u64 + i as u64));
            extra.insert(
                "mtime_ns".into(),
                json!(1_700_000_000_123_456_789u64 + i as u64),
            );
            extra.insert("sha256".into(), json!(format!("{i:064x}")));
            let mut vector = vec![0.0f32; 8];
            vector[i % 8] = 1.0;
            NewRow {
                vector,
                filepath: format!("/photos/{i}.jpg"),
                extra,
            }
        })
        .collect();
    let ids = store.insert(batch).await.unwrap();
    store.flush().await.unwrap();
    store.build_index_and_load().await.unwrap();
    assert_eq!(store.count().await.unwrap(), n as u64);

    let listed = store.list_indexed().await.unwrap();
    assert_eq!(listed.len(), n);
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_unstable();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), sorted_ids);
    let pos = ids.iter().position(|&id| id == listed[0].id).unwrap();
    assert_eq!(
        listed[0],
        IndexedFile {
            id: ids[pos],
            filepath: format!("/photos/{pos}.jpg"),
            size: Some(1000 + pos as u64),
            mtime: Some(1_700_000_000 + pos as u64),
            mtime_ns: Some(1_700_000_000_123_456_789 + pos as u64),
            sha256: Some(format!("{pos:064x}")),
        }
    );

    let doomed: Vec<i64> = ids[..1500].to_vec();
    store.delete_ids(&doomed).await.unwrap();
    store.delete_ids(&[]).await.unwrap();
    assert_eq!(store.count().await.unwrap(), (n - 1500) as u64);
    assert!(store.get(ids[0]).await.unwrap().is_none());
    assert!(store.get(ids[1500]).await.unwrap().is_some());
    assert_eq!(store.list_indexed().await.unwrap().len(), n - 1500);
    lite.stop().await;
}

// That Milvus Lite dies with a SIGKILLed parent is tested on the real `shihua serve` process
// (server/tests/serve_process.rs), for the child started at start-up and one the watchdog
// restarted.

/// A fixed port (`--lite-port`) is used as given; a port another Milvus already serves is
/// refused with a clear error, never mistaken for our server (which would be another database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_port_is_used_and_a_taken_one_is_refused() {
    if skip_on_external(
        "a_fixed_port_is_used_and_a_taken_one_is_refused",
        "it is about the embedded Milvus Lite child's port",
    ) {
        return;
    }
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (bound, port) = bound_port_not_listening();
    drop(bound);
    let a = EmbeddedMilvus::start_on(&a_dir.path().join("milvus.db"), &lib_dir(), Some(port))
        .await
        .unwrap();
    assert_eq!(a.uri(), format!("http://127.0.0.1:{port}"));
    let store = MilvusStore::connect(config(a.uri(), "fixture"))
        .await
        .unwrap();
    store.ensure_collection(false).await.unwrap();

    let err = EmbeddedMilvus::start_on(&b_dir.path().join("milvus.db"), &lib_dir(), Some(port))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LiteStart { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}"))
            && (text.contains("served by another process") || text.contains("exited")),
        "{text}"
    );
    // The first server is untouched.
    assert!(store.has_collection().await.unwrap());
    a.stop().await.unwrap();
}

/// A socket bound to a free 127.0.0.1 port without listening on it: connecting there is refused
/// for as long as the returned descriptor lives.
fn bound_port_not_listening() -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket/bind/getsockname calls on a descriptor owned from here on.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd, (&raw const addr).cast(), len);
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        let mut len = len;
        let rc = libc::getsockname(fd, (&raw mut addr).cast(), &mut len);
        assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
        (owned, u16::from_be(addr.sin_port))
    }
}

/// The `HOME` a running process was started with, from `/proc/<pid>/environ`.
fn home_of(pid: u32) -> Option<PathBuf> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"HOME="))
        .map(|v| PathBuf::from(String::from_utf8_lossy(v).into_owned()))
}

/// Milvus Lite deletes and recreates `$HOME/.cache/milvus` when it creates a collection; two
/// servers sharing a `HOME` and creating collections at the same moment failed about one time
/// in ten with "Mmap manager has not been init" (a CI failure). Each server now has its own
/// `HOME` next to its database, so simultaneous creations always succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lite_servers_create_collections_at_the_same_moment() {
    if skip_on_external(
        "two_lite_servers_create_collections_at_the_same_moment",
        "it is about the embedded Milvus Lite child's HOME",
    ) {
        return;
    }
    for round in 0..20 {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let mut lites = Vec::new();
        for d in &dirs {
            let lite = EmbeddedMilvus::start(&d.path().join("milvus.db"), &lib_dir())
                .await
                .unwrap();
            let want = d.path().canonicalize().unwrap().join(".milvus.db.home");
            assert_eq!(home_of(lite.pid()), Some(want), "round {round}");
            lites.push(lite);
        }
        let a = MilvusStore::connect(config(lites[0].uri(), "fixture"))
            .await
            .unwrap();
        let b = MilvusStore::connect(config(lites[1].uri(), "fixture"))
            .await
            .unwrap();
        let (ra, rb) = tokio::join!(a.ensure_collection(false), b.ensure_collection(false));
        ra.unwrap_or_else(|e| panic!("round {round}, first server: {e}"));
        rb.unwrap_or_else(|e| panic!("round {round}, second server: {e}"));
        for (d, lite) in dirs.iter().zip(lites) {
            assert!(
                d.path().join(".milvus.db.home/.cache/milvus").is_dir(),
                "round {round}: Milvus Lite's scratch folder is not in its own HOME"
            );
            lite.stop().await.unwrap();
        }
    }
}
