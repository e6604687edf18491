//! A hostile photo folder: files the indexer may not read (permissions), a FIFO named like a
//! photo, and files changed, replaced, deleted or swapped for a FIFO between the walk and the
//! read. Each is reported and skipped (or, for a completed change, indexed with its new
//! content), the other photos are indexed, nothing hangs, and a re-run leaves no stale row.
//! Real Milvus Lite, the fixture model.
//!
//! Permissions: the tests run as root here, and root reads a mode-000 file anyway, so as root
//! the permission test runs the real `shihua index` as the unprivileged user `nobody` (uid
//! 65534) with util-linux `setpriv`; as any other user it runs it directly. The changes during
//! indexing are made deterministically by the test-only read hook
//! (`ingest::index_folder_with_read_hook`), which runs after a photo is opened and before it is
//! read.

mod common;

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use app::search::SearchService;
use common::ingest::indexed_paths;
use common::{
    copy_demo, demo_photos, fixture_encoder, index_options, portable_shihua, start_lite, TestMilvus,
};
use server::ingest::{index_folder, index_folder_with_read_hook, ReadHook};
use server::search::SearchEngine;
use server::store::MilvusStore;
use sha2::{Digest, Sha256};

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `failed:` entries of a printed summary: (file name, reason).
fn failed_lines(summary: &str) -> HashMap<String, String> {
    summary
        .lines()
        .filter_map(|l| l.strip_prefix("  - "))
        .map(|l| {
            let (path, why) = l.split_once(": ").unwrap();
            let name = Path::new(path).file_name().unwrap().to_string_lossy();
            (name.into_owned(), why.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_and_folders_and_a_fifo_are_reported_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    // `nobody` must reach the photos: the temporary folder is 0700.
    chmod(tmp.path(), 0o755);
    let dir = tmp.path().join("photos");
    let good = copy_demo(&dir, 3);
    let spare = demo_photos();
    std::fs::copy(&spare[3], dir.join("locked.jpg")).unwrap();
    chmod(&dir.join("locked.jpg"), 0o000);
    copy_demo(&dir.join("private"), 2);
    chmod(&dir.join("private"), 0o000);
    // A FIFO named like a photo: opening it for reading would wait for a writer forever.
    mkfifo(&dir.join("pipe.jpg"));

    let milvus = TestMilvus::start(
        "unreadable_files_and_folders_and_a_fifo_are_reported_and_skipped",
        &tmp.path().join("db/m.db"),
    )
    .await;
    let args = ["index", dir.to_str().unwrap(), "--encode-batch", "2"];
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let as_nobody: &[&str] = if root {
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ]
    } else {
        &[]
    };
    // `nobody` cannot be expected to reach the checkout (a clone in a 0700 home folder):
    // the binary, ONNX Runtime and the fixture model are copied where it can read them.
    let portable = portable_shihua(&tmp.path().join("shihua"));
    let out = portable
        .command(&milvus, as_nobody, &args)
        .env("HOME", tmp.path())
        .output()
        .expect("setpriv (util-linux) runs shihua as nobody: install util-linux");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    // The run really could not read them (not merely skipped by name).
    let failed = failed_lines(&stdout);
    assert_eq!(failed.len(), 3, "{stdout}");
    assert!(
        failed["locked.jpg"].contains("Permission denied"),
        "{stdout}"
    );
    assert!(failed["private"].contains("Permission denied"), "{stdout}");
    assert!(
        failed["pipe.jpg"].contains("not a regular file (a FIFO)"),
        "{stdout}"
    );
    assert!(stdout.contains("indexed:  3 "), "{stdout}");

    let store = MilvusStore::connect(milvus.config("fixture"))
        .await
        .unwrap();
    let got = indexed_paths(&store).await;
    let want: Vec<String> = good
        .iter()
        .map(|p| p.canonicalize().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(got, want);

    // Readable again: the next run picks them up.
    chmod(&dir.join("locked.jpg"), 0o644);
    chmod(&dir.join("private"), 0o755);
    std::fs::remove_file(dir.join("pipe.jpg")).unwrap();
    let out = milvus.shihua(&[], &args).output().unwrap();
    let again = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{again}\n{err}");
    assert!(again.contains("indexed:  3 "), "{again}");
    assert!(again.contains("unchanged (skipped): 3"), "{again}");
    assert!(again.contains("rows in collection: 6"), "{again}");
    milvus.stop().await;
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_changed_replaced_or_deleted_during_indexing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    let untouched = copy_demo(&dir, 3);
    let demo = demo_photos();
    let last = demo.len() - 1;
    for (name, src) in [
        ("deleted.jpg", &demo[3]),
        ("rewritten.jpg", &demo[4]),
        ("renamed.jpg", &demo[5]),
        ("growing.jpg", &demo[6]),
        ("became-fifo.jpg", &demo[7]),
    ] {
        std::fs::copy(src, dir.join(name)).unwrap();
    }
    // New contents come from photos that are not indexed under their own names.
    let rewritten_new = std::fs::read(&demo[last]).unwrap();
    let renamed_new = std::fs::read(&demo[last - 1]).unwrap();

    // After the walk and the plan, as each photo is opened: change it. Every call is one read
    // attempt; `calls` counts them per file name.
    let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let hook = {
        let calls = calls.clone();
        let (rewritten_new, renamed_new) = (rewritten_new.clone(), renamed_new.clone());
        let spare_path = tmp.path().join("incoming.tmp");
        ReadHook(Arc::new(move |path: &Path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let n = {
                let mut calls = calls.lock().unwrap();
                let n = calls.entry(name.clone()).or_default();
                *n += 1;
                *n
            };
            match (name.as_str(), n) {
                ("deleted.jpg", 1) => std::fs::remove_file(path).unwrap(),
                // Rewritten in place (same inode) while open.
                ("rewritten.jpg", 1) => std::fs::write(path, &rewritten_new).unwrap(),
                // Replaced the way editors and sync tools do: a new file renamed over it.
                ("renamed.jpg", 1) => {
                    std::fs::write(&spare_path, &renamed_new).unwrap();
                    std::fs::rename(&spare_path, path).unwrap();
                }
                // Still being written: grows on every attempt.
                ("growing.jpg", _) => {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
                    f.write_all(b"more").unwrap();
                }
                // Swapped for a FIFO: reading it must not wait for a writer.
                ("became-fifo.jpg", 1) => {
                    std::fs::remove_file(path).unwrap();
                    mkfifo(path);
                }
                _ => {}
            }
        }))
    };
    let mut opts = index_options(&dir);
    opts.encode_batch = 2;
    let (milvus, store) = start_lite(tmp.path()).await;
    let encoder = fixture_encoder();
    let summary = &index_folder_with_read_hook(encoder.clone(), store.clone(), opts, hook)
        .await
        .unwrap();

    assert_eq!(summary.found, 8);
    let failed: HashMap<String, String> = summary
        .failed
        .iter()
        .map(|(p, why)| (p.file_name().unwrap().to_string_lossy().into(), why.clone()))
        .collect();
    assert_eq!(failed.len(), 3, "{summary}");
    assert_eq!(failed["deleted.jpg"], "deleted during indexing");
    assert!(failed["growing.jpg"].starts_with("kept changing while it was read"));
    assert!(failed["became-fifo.jpg"].contains("not a regular file (a FIFO)"));
    assert_eq!(summary.indexed, 5, "{summary}");
    // A changed file was read again, until it stood still (the growing one three times).
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls["rewritten.jpg"], 2);
    assert_eq!(calls["renamed.jpg"], 2);
    assert_eq!(calls["growing.jpg"], 3);
    assert_eq!(calls["deleted.jpg"], 1);

    // The rows hold the new content with the stat that belongs to it.
    let rows: HashMap<String, _> = store
        .list_indexed()
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let name = Path::new(&r.filepath)
                .file_name()
                .unwrap()
                .to_string_lossy();
            (name.into_owned(), r)
        })
        .collect();
    let mut names: Vec<&str> = rows.keys().map(String::as_str).collect();
    names.sort();
    let mut want: Vec<String> = untouched
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .chain(["rewritten.jpg".into(), "renamed.jpg".into()])
        .collect();
    want.sort();
    assert_eq!(names, want);
    for (name, bytes) in [
        ("rewritten.jpg", &rewritten_new),
        ("renamed.jpg", &renamed_new),
    ] {
        let row = &rows[name];
        assert_eq!(
            row.sha256.as_deref(),
            Some(sha_hex(bytes).as_str()),
            "{name}"
        );
        assert_eq!(row.size, Some(bytes.len() as u64), "{name}");
        // Its vector is the new picture's: searching by the new picture finds it first.
        let shihua = SearchEngine::new(encoder.clone(), store.clone(), 20 << 20);
        let hits = shihua.search_image(bytes.to_vec(), 1).await.unwrap().hits;
        assert_eq!(Path::new(&hits[0].filepath).file_name().unwrap(), name);
        assert!(hits[0].score > 0.999, "{name}: {}", hits[0].score);
    }

    // The next run, with nothing changing: the file that was still being written is indexed,
    // the changed ones are not re-read (their rows are not stale), the FIFO is reported.
    let again = index_folder(encoder.clone(), store.clone(), index_options(&dir))
        .await
        .unwrap();
    assert_eq!(again.found, 6, "{again}");
    assert_eq!(again.indexed, 1, "{again}");
    assert_eq!(again.unchanged, 5, "{again}");
    assert_eq!(again.failed.len(), 1, "{again}");
    assert!(again.failed[0].1.contains("a FIFO"), "{again}");
    assert_eq!(again.rows_in_collection, 6);
    milvus.stop().await.unwrap();
}
