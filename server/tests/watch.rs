//! Watch folders (`shihua serve --watch`, `server::watch`) with real files, the fixture model
//! and a real Milvus Lite: created, changed, renamed and deleted photos and folders, a burst
//! (200 copies, then a folder renamed and one deleted while they are still being indexed), a
//! photo written slowly in chunks, a bad file, changes made while the watcher was stopped
//! (the start-up rescan), Milvus killed and restarted by the watchdog, and the inotify limit
//! (simulated by the watcher's test knob: the log line, then periodic rescans). Every test
//! ends with exactly one row per photo on disk, read from the collection; waits poll with a
//! deadline.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{demo_photos, fixture_encoder, start_lite};
use server::clip::ClipEncoder;
use server::store::{spawn_watchdog, EmbeddedMilvus, MilvusStore};
use server::watch::{WatchOptions, WatchStatus, Watcher};

/// How long a test waits for the collection to match the folder.
const DEADLINE: Duration = Duration::from_secs(90);

/// The photo folder of a test (canonical: rows hold canonical paths).
fn photo_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("photos");
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

/// Demo photo `i` (wrapping around) copied to `to`.
fn put(i: usize, to: &Path) {
    let demo = demo_photos();
    let jpgs: Vec<&PathBuf> = demo
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(jpgs[i % jpgs.len()], to).unwrap();
}

fn options(root: &Path) -> WatchOptions {
    let mut opts = WatchOptions::new(vec![root.to_path_buf()]);
    opts.settle = Duration::from_millis(300);
    opts.retry_after = Duration::from_millis(200);
    opts.simulate_limit = false;
    opts.index.encode_batch = 4;
    opts
}

fn watch(encoder: &Arc<ClipEncoder>, store: &Arc<MilvusStore>, opts: WatchOptions) -> Watcher {
    Watcher::start(encoder.clone(), store.clone(), opts, None).unwrap()
}

/// Photo files under `root` (what the collection must hold), sorted.
fn on_disk(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jpg"))
        .filter(|e| !e.file_name().to_string_lossy().starts_with("bad"))
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// The collection's paths, one entry per row, sorted (an empty list while Milvus is away).
async fn rows(store: &MilvusStore) -> Vec<String> {
    let mut paths: Vec<String> = match store.list_indexed().await {
        Ok(rows) => rows.into_iter().map(|r| r.filepath).collect(),
        Err(_) => vec!["<milvus unavailable>".into()],
    };
    paths.sort();
    paths
}

/// Waits until the collection holds exactly one row per photo under `root` and the watcher
/// is idle; returns its status then. Fails with both lists at the deadline.
async fn converged(store: &MilvusStore, w: &Watcher, root: &Path) -> WatchStatus {
    let start = Instant::now();
    loop {
        let want = on_disk(root);
        let status = w.status();
        let got = rows(store).await;
        if status.idle() && got == want && on_disk(root) == want {
            return status;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "after {} s the rows are not one per photo:\nrows  {got:?}\nfiles {want:?}\n{status:?}",
            DEADLINE.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One test's photo folder (deleted with it), its Milvus Lite and the fixture model.
struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    milvus: EmbeddedMilvus,
    store: Arc<MilvusStore>,
    encoder: Arc<ClipEncoder>,
}

/// A photo folder holding demo photo `i` at each relative path of `photos`, and a Milvus Lite.
async fn setup(photos: &[(usize, &str)]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = photo_dir(tmp.path());
    for (i, rel) in photos {
        put(*i, &root.join(rel));
    }
    let (milvus, store) = start_lite(tmp.path()).await;
    Setup {
        _tmp: tmp,
        root,
        milvus,
        store,
        encoder: fixture_encoder(),
    }
}

/// The sha256 of each path's row.
async fn hashes(store: &MilvusStore) -> BTreeMap<String, String> {
    store
        .list_indexed()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.filepath, r.sha256.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_changed_renamed_and_deleted_photos_and_folders_follow_the_disk() {
    let t = setup(&[(0, "a.jpg"), (1, "trip/b.jpg")]).await;
    let w = watch(&t.encoder, &t.store, options(&t.root));
    // The start-up pass indexes what is there.
    let s = converged(&t.store, &w, &t.root).await;
    assert_eq!(s.indexed, 2, "{s:?}");

    // Create a file and a folder with photos.
    put(2, &t.root.join("new.jpg"));
    put(3, &t.root.join("trip2/c.jpg"));
    put(4, &t.root.join("trip2/deep/d.jpg"));
    let s = converged(&t.store, &w, &t.root).await;
    assert_eq!(s.indexed, 5, "{s:?}");

    // Change a photo's content: its row is replaced (one row, the new hash).
    let before = hashes(&t.store).await;
    let a = t.root.join("a.jpg").to_string_lossy().into_owned();
    put(5, &t.root.join("a.jpg"));
    let start = Instant::now();
    loop {
        let s = converged(&t.store, &w, &t.root).await;
        if s.replaced == 1 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the change was not indexed: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = hashes(&t.store).await;
    assert_ne!(before[&a], after[&a], "the row holds the new content");

    // Rename a file, rename a folder.
    std::fs::rename(t.root.join("new.jpg"), t.root.join("renamed.jpg")).unwrap();
    std::fs::rename(t.root.join("trip2"), t.root.join("trip-renamed")).unwrap();
    converged(&t.store, &w, &t.root).await;
    assert!(rows(&t.store)
        .await
        .iter()
        .any(|p| p.ends_with("trip-renamed/deep/d.jpg")));

    // Delete a file, delete a folder.
    std::fs::remove_file(t.root.join("renamed.jpg")).unwrap();
    std::fs::remove_dir_all(t.root.join("trip")).unwrap();
    let s = converged(&t.store, &w, &t.root).await;
    assert_eq!(on_disk(&t.root).len(), 3);
    assert_eq!(
        s.pruned, 5,
        "renamed-away and deleted rows were removed: {s:?}"
    );
    assert!(s.failed.is_empty(), "{s:?}");
    w.stop().await;
    t.milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_a_folder_renamed_and_one_deleted_ends_with_one_row_per_photo() {
    // 200 copies: ~1 minute on 2 cores with the fixture model (the 1,000 is the same
    // code path, five times longer).
    const COPIES: usize = 200;
    let t = setup(&[]).await;
    let w = watch(&t.encoder, &t.store, options(&t.root));
    converged(&t.store, &w, &t.root).await;

    for i in 0..COPIES {
        put(i, &t.root.join(format!("burst/part{}/{i:04}.jpg", i % 4)));
    }
    // While they are being indexed: a folder renamed, one deleted.
    std::fs::rename(t.root.join("burst/part1"), t.root.join("moved")).unwrap();
    std::fs::remove_dir_all(t.root.join("burst/part2")).unwrap();
    let s = converged(&t.store, &w, &t.root).await;
    assert_eq!(on_disk(&t.root).len(), COPIES * 3 / 4);
    // A photo may vanish (its folder renamed or deleted) between the listing and the read of a
    // pass: that one is reported. No photo that is still there may be.
    assert!(
        s.failed
            .iter()
            .all(|(p, _)| !std::path::Path::new(p).exists()),
        "{s:?}"
    );
    w.stop().await;
    t.milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_written_slowly_is_indexed_once_when_it_is_complete() {
    let t = setup(&[]).await;
    let mut opts = options(&t.root);
    opts.settle = Duration::from_millis(800);
    let w = watch(&t.encoder, &t.store, opts);
    converged(&t.store, &w, &t.root).await;

    let src = demo_photos()
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "jpg"))
        .unwrap();
    let bytes = std::fs::read(src).unwrap();
    let target = t.root.join("slow.jpg");
    let mut f = std::fs::File::create(&target).unwrap();
    // Eight chunks, 300 ms apart: the photo is incomplete for over 2 s, each pause shorter
    // than the settle time.
    for chunk in bytes.chunks(bytes.len().div_ceil(8)) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(f);
    let s = converged(&t.store, &w, &t.root).await;
    assert_eq!(
        (s.indexed, s.replaced),
        (1, 0),
        "indexed once, complete: {s:?}"
    );
    assert!(s.failed.is_empty(), "never read half-written: {s:?}");
    let row = hashes(&t.store).await;
    let sha = row[&target.to_string_lossy().into_owned()].clone();
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&bytes)));
    w.stop().await;
    t.milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_is_reported_and_skipped() {
    let t = setup(&[]).await;
    let w = watch(&t.encoder, &t.store, options(&t.root));
    converged(&t.store, &w, &t.root).await;

    std::fs::write(t.root.join("bad.jpg"), b"this is not a JPEG at all").unwrap();
    put(0, &t.root.join("good.jpg"));
    let start = Instant::now();
    let s = loop {
        let s = converged(&t.store, &w, &t.root).await;
        if !s.failed.is_empty() {
            break s;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the bad file was not reported: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(s.failed.len(), 1, "{s:?}");
    assert!(s.failed[0].0.ends_with("bad.jpg"), "{s:?}");
    assert_eq!(
        rows(&t.store).await,
        on_disk(&t.root),
        "no row for the bad file"
    );
    w.stop().await;
    t.milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_stopped_are_caught_by_the_startup_rescan() {
    let t = setup(&[(0, "0.jpg"), (1, "1.jpg"), (2, "2.jpg"), (3, "3.jpg")]).await;
    let w = watch(&t.encoder, &t.store, options(&t.root));
    converged(&t.store, &w, &t.root).await;
    w.stop().await;

    // While nobody watches: one added, one deleted, one changed, a folder added.
    put(10, &t.root.join("added.jpg"));
    std::fs::remove_file(t.root.join("1.jpg")).unwrap();
    put(11, &t.root.join("2.jpg"));
    put(12, &t.root.join("later/x.jpg"));
    let before = hashes(&t.store).await;
    let w = watch(&t.encoder, &t.store, options(&t.root));
    let s = converged(&t.store, &w, &t.root).await;
    assert_eq!((s.indexed, s.replaced, s.pruned), (3, 1, 1), "{s:?}");
    let two = t.root.join("2.jpg").to_string_lossy().into_owned();
    assert_ne!(before[&two], hashes(&t.store).await[&two]);
    w.stop().await;
    t.milvus.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_waits_for_milvus_and_catches_up_after_a_restart() {
    let t = setup(&[(0, "0.jpg"), (1, "1.jpg"), (2, "2.jpg")]).await;
    let w = watch(&t.encoder, &t.store, options(&t.root));
    converged(&t.store, &w, &t.root).await;

    // Milvus dies; photos come and go meanwhile.
    // SAFETY: SIGKILL to the Milvus Lite child this test started.
    unsafe {
        libc::kill(t.milvus.pid() as libc::pid_t, libc::SIGKILL);
    }
    put(5, &t.root.join("while-down.jpg"));
    std::fs::remove_file(t.root.join("0.jpg")).unwrap();
    // The watcher tries, fails and keeps the changes.
    let start = Instant::now();
    while w.status().failed_passes == 0 {
        assert!(
            start.elapsed() < DEADLINE,
            "no pass was tried: {:?}",
            w.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The watchdog (as in `shihua serve`) brings Milvus back; the watcher catches up.
    let embedded = Arc::new(tokio::sync::Mutex::new(t.milvus));
    let dog = spawn_watchdog(
        embedded.clone(),
        t.store.clone(),
        Duration::from_millis(200),
    );
    let s = converged(&t.store, &w, &t.root).await;
    assert!(s.failed_passes >= 1 && s.last_error.is_none(), "{s:?}");
    w.stop().await;
    dog.abort();
    let _ = dog.await;
    let milvus = Arc::into_inner(embedded)
        .expect("the watchdog let go")
        .into_inner();
    milvus.stop().await.unwrap();
}

/// Every log line of this test binary (a global subscriber: the watcher logs from tokio's
/// worker threads).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let make = move || Sink(sink.clone());
        let _ = tracing_subscriber::fmt()
            .with_writer(make)
            .with_ansi(false)
            .with_env_filter("warn")
            .try_init();
        buf
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_inotify_limit_it_says_so_and_rescans_periodically() {
    let logs = logs();
    let t = setup(&[(0, "0.jpg")]).await;
    let mut opts = options(&t.root);
    opts.simulate_limit = true;
    opts.rescan_every = Duration::from_secs(1);
    let w = watch(&t.encoder, &t.store, opts);
    converged(&t.store, &w, &t.root).await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains(&*t.root.to_string_lossy()))
        .unwrap_or_else(|| panic!("no log line names {}:\n{text}", t.root.display()));
    assert!(
        line.contains("rescanning it every 1 s") && line.contains("max_user_watches"),
        "{line}"
    );
    assert_eq!(w.status().polling, vec![t.root.clone()]);

    // No events arrive: the periodic rescans find additions and deletions.
    let passes = w.status().passes;
    put(1, &t.root.join("1.jpg"));
    put(2, &t.root.join("sub/2.jpg"));
    std::fs::remove_file(t.root.join("0.jpg")).unwrap();
    let s = converged(&t.store, &w, &t.root).await;
    assert!(s.passes > passes, "{s:?}");
    assert_eq!(on_disk(&t.root).len(), 2);
    w.stop().await;
    t.milvus.stop().await.unwrap();
}

/// `shihua serve` itself, with its folders from `SHIHUA_WATCH` and the watch limit simulated
/// (`SHIHUA_TEST_WATCH_LIMIT`): the start-up pass indexes the folder, the log says it is
/// rescanned instead of watched, and a photo added later is found by a rescan.
#[test]
fn shihua_serve_watches_the_folders_in_shihua_watch() {
    use common::http::http;
    let tmp = tempfile::tempdir().unwrap();
    let root = photo_dir(tmp.path());
    put(0, &root.join("0.jpg"));
    put(1, &root.join("1.jpg"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = tmp.path().join("serve.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = common::shihua_cmd(
        tmp.path().join("db/milvus.db").to_str().unwrap(),
        &["serve", "--addr", &addr.to_string()],
    )
    .env("SHIHUA_WATCH", &root)
    .env("SHIHUA_WATCH_SETTLE_MS", "300")
    .env("SHIHUA_WATCH_RESCAN_S", "1")
    .env(server::watch::TEST_LIMIT_ENV, "1")
    .env("SHIHUA_DATA_DIR", tmp.path().join("data"))
    .env("LEPTOS_SITE_ROOT", tmp.path().join("site"))
    .env("SHIHUA_THREADS", "1")
    .stdout(std::process::Stdio::from(out.try_clone().unwrap()))
    .stderr(std::process::Stdio::from(out))
    .spawn()
    .unwrap();
    let rows_are = |n: u64, child: &mut std::process::Child| {
        let start = Instant::now();
        loop {
            assert!(
                child.try_wait().unwrap().is_none(),
                "serve exited:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
            let (code, body) = http(addr, "GET", "/api/v1/stats", None);
            let rows = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["rows"].as_u64());
            if code == 200 && rows == Some(n) {
                return;
            }
            assert!(start.elapsed() < DEADLINE, "rows never {n}: {code} {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    rows_are(2, &mut child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("cannot watch {}", root.display()))
            && text.contains("rescanning it every 1 s"),
        "{text}"
    );
    put(2, &root.join("sub/2.jpg"));
    rows_are(3, &mut child);
    let (_, stats) = http(addr, "GET", "/api/v1/stats", None);
    assert!(stats.contains("\"source\":\"watch\""), "{stats}");
    // SAFETY: SIGTERM to the server this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
}
