//! Re-running `shihua index` is safe: unchanged photos are skipped, a changed photo replaces
//! its row, `--prune` removes rows of deleted photos, and a run killed with SIGKILL at any
//! point followed by a full run leaves exactly one row per photo. Real Milvus Lite, the real
//! `shihua` binary, the fixture model. The kills hit a running index (checked: killed by the
//! signal, with fewer rows written than photos), including one held between the insert of a
//! replacing row and the delete of the row it replaces.
//!
//! With `SHIHUA_TEST_MILVUS_URI` set (e.g. `http://127.0.0.1:19530`, a real Milvus standalone:
//! `scripts/test-standalone.sh`), both tests use that server instead of an embedded Milvus
//! Lite, each in its own collection `t_<test>_<pid>` (passed to `shihua` as
//! `SHIHUA_COLLECTION`), dropped at the end.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{copy_demo, demo_photos, repo, TestMilvus};
use server::store::MilvusStore;
use sha2::{Digest, Sha256};

/// `shihua index DIR` in small batches (many inserts per run), then `extra`.
fn index_args<'a>(dir: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "index",
        dir.to_str().unwrap(),
        "--batch-size",
        "4",
        "--encode-batch",
        "2",
    ];
    args.extend_from_slice(extra);
    args
}

fn run_index(m: &TestMilvus, dir: &Path, extra: &[&str]) -> String {
    let args = index_args(dir, extra);
    let out = m.shihua(&[], &args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "index failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn line_value(summary: &str, key: &str) -> usize {
    summary
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key:?} in:\n{summary}"))
}

async fn store(m: &TestMilvus) -> Arc<MilvusStore> {
    Arc::new(MilvusStore::connect(m.config("fixture")).await.unwrap())
}

/// Rows per path: asserts there is exactly one row for each expected photo and nothing else.
async fn assert_one_row_per_photo(store: &MilvusStore, photos: &[PathBuf]) {
    let rows = store.list_indexed().await.unwrap();
    let paths: Vec<&str> = rows.iter().map(|r| r.filepath.as_str()).collect();
    let unique: HashSet<&str> = paths.iter().copied().collect();
    assert_eq!(paths.len(), unique.len(), "duplicate rows: {paths:?}");
    let want: HashSet<String> = photos
        .iter()
        .map(|p| p.canonicalize().unwrap().to_string_lossy().into_owned())
        .collect();
    let got: HashSet<String> = unique.into_iter().map(str::to_string).collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_skips_unchanged_replaces_changed_and_prunes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    let mut photos = copy_demo(&dir, 6);
    let milvus = TestMilvus::start(
        "rerun_skips_unchanged_replaces_changed_and_prunes",
        &tmp.path().join("db/m.db"),
    )
    .await;
    let m = &milvus;

    let first = run_index(m, &dir, &[]);
    assert_eq!(line_value(&first, "indexed:"), 6, "{first}");
    let second = run_index(m, &dir, &[]);
    assert_eq!(line_value(&second, "indexed:"), 0, "{second}");
    assert_eq!(line_value(&second, "unchanged (skipped):"), 6, "{second}");

    // Edit a photo in place within the same second, keeping its size (one byte of the JFIF
    // header's pixel density): whole-second mtimes would call it unchanged; nanoseconds do not.
    let before = std::fs::metadata(&photos[2]).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&photos[2]).unwrap();
    assert_eq!(
        &bytes[6..11],
        b"JFIF\0",
        "demo photos start with a JFIF header"
    );
    bytes[14] ^= 1;
    std::fs::write(&photos[2], &bytes).unwrap();
    let since = before.duration_since(std::time::UNIX_EPOCH).unwrap();
    let same_second = std::time::UNIX_EPOCH
        + std::time::Duration::new(since.as_secs(), (since.subsec_nanos() + 1) % 1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&photos[2])
        .unwrap()
        .set_modified(same_second)
        .unwrap();
    let edited = run_index(m, &dir, &[]);
    assert_eq!(line_value(&edited, "indexed:"), 1, "{edited}");
    assert!(edited.contains("(1 replaced"), "{edited}");

    // Change one photo's content (and so its size): it is re-encoded, its old row replaced.
    let spare = repo()
        .join("demo/photos")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    std::fs::copy(&spare, &photos[0]).unwrap();
    let third = run_index(m, &dir, &[]);
    assert_eq!(line_value(&third, "indexed:"), 1, "{third}");
    assert!(third.contains("(1 replaced"), "{third}");
    let s = store(m).await;
    assert_one_row_per_photo(&s, &photos).await;

    // Delete a photo: without --prune its row stays; with --prune it goes.
    std::fs::remove_file(&photos[1]).unwrap();
    let gone = photos.remove(1);
    run_index(m, &dir, &[]);
    assert_eq!(s.list_indexed().await.unwrap().len(), 6);
    let pruned = run_index(m, &dir, &["--prune"]);
    assert!(pruned.contains("1 pruned"), "{pruned}");
    assert_one_row_per_photo(&s, &photos).await;
    assert!(!s
        .list_indexed()
        .await
        .unwrap()
        .iter()
        .any(|r| Path::new(&r.filepath).ends_with(gone.file_name().unwrap())));
    milvus.stop().await;
}

/// SIGKILLs `child` and asserts it was still running (killed by the signal, not exited).
fn kill_running(child: &mut std::process::Child, what: &str) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "{what}: the run had already ended; it must be killed while running"
    );
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "{what}: the run ended by itself ({status}) instead of being killed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_point_then_rerun_gives_one_row_per_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    let photos = copy_demo(&dir, 24);
    let milvus = TestMilvus::start(
        "sigkill_at_any_point_then_rerun_gives_one_row_per_photo",
        &tmp.path().join("db/m.db"),
    )
    .await;
    let m = &milvus;
    let s = store(m).await;

    // Kill points: after the first rows land, and after more than half have landed. Each
    // kill must hit a running index that has written some rows but not all of them.
    for threshold in [1u64, 13] {
        let mut child = m.shihua(&[], &index_args(&dir, &[])).spawn().unwrap();
        let start = Instant::now();
        loop {
            let n = s.count().await.unwrap_or(0);
            if n >= threshold {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before {threshold} rows were visible ({n})"
            );
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "fewer than {threshold} rows after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        kill_running(&mut child, &format!("kill after {threshold} rows"));
        let rows = s.count().await.unwrap();
        assert!(
            rows >= threshold && rows < photos.len() as u64,
            "killed with {rows} of {} rows written",
            photos.len()
        );
    }
    let summary = run_index(m, &dir, &[]);
    assert_eq!(line_value(&summary, "found:"), 24, "{summary}");
    assert_eq!(line_value(&summary, "rows in collection:"), 24, "{summary}");
    assert_one_row_per_photo(&s, &photos).await;
    milvus.stop().await;
}

/// Killed in the middle of a replace: the new rows of changed photos are inserted, the rows
/// they replace not yet deleted (the run is held there by the test-only pause
/// `SHIHUA_TEST_PAUSE_BEFORE_DELETE`). The next run keeps the new rows and removes the old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_a_replace_insert_and_its_delete_then_rerun_gives_one_row_per_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    let photos = copy_demo(&dir, 6);
    let milvus = TestMilvus::start(
        "sigkill_between_a_replace_insert_and_its_delete",
        &tmp.path().join("db/m.db"),
    )
    .await;
    let m = &milvus;
    let s = store(m).await;
    run_index(m, &dir, &[]);
    assert_one_row_per_photo(&s, &photos).await;

    // Two photos get other content.
    let demo = demo_photos();
    let changed = [&photos[0], &photos[3]];
    let mut new_sha = HashMap::new();
    for (photo, src) in changed
        .iter()
        .zip([&demo[demo.len() - 1], &demo[demo.len() - 2]])
    {
        std::fs::copy(src, photo).unwrap();
        let key = photo.canonicalize().unwrap().to_string_lossy().into_owned();
        new_sha.insert(
            key,
            hex::encode(Sha256::digest(std::fs::read(photo).unwrap())),
        );
    }

    let paused = tmp.path().join("paused");
    let mut child = m
        .shihua(&[], &index_args(&dir, &[]))
        .env(server::ingest::TEST_PAUSE_ENV, &paused)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !paused.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended without reaching the replace"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no replace within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_to_string(&paused).unwrap().trim(), "2 2");
    // Both rows of each changed photo are there: the new one in, the old one not yet deleted.
    let rows = s.list_indexed().await.unwrap();
    assert_eq!(rows.len(), photos.len() + 2);
    for (path, sha) in &new_sha {
        let mut shas: Vec<&str> = rows
            .iter()
            .filter(|r| &r.filepath == path)
            .filter_map(|r| r.sha256.as_deref())
            .collect();
        shas.sort();
        assert_eq!(shas.len(), 2, "{path}: {shas:?}");
        assert!(shas.contains(&sha.as_str()), "{path}: new row present");
    }
    kill_running(&mut child, "kill between insert and delete");

    let summary = run_index(m, &dir, &[]);
    assert!(summary.contains("0 pruned, 2 duplicates"), "{summary}");
    assert_eq!(line_value(&summary, "indexed:"), 0, "{summary}");
    assert_eq!(line_value(&summary, "rows in collection:"), 6, "{summary}");
    assert_one_row_per_photo(&s, &photos).await;
    // The rows kept are the new ones.
    for r in s.list_indexed().await.unwrap() {
        if let Some(sha) = new_sha.get(&r.filepath) {
            assert_eq!(r.sha256.as_deref(), Some(sha.as_str()), "{}", r.filepath);
        }
    }
    milvus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_longer_than_200_bytes_are_stored_whole() {
    let tmp = tempfile::tempdir().unwrap();
    // 古道西风瘦马 is 18 bytes in UTF-8: twelve levels make a path of well over 200 bytes.
    let mut dir = tmp.path().join("photos");
    for i in 0..12 {
        dir = dir.join(format!("古道西风瘦马{i}"));
    }
    let photos = copy_demo(&dir, 2);
    let longest = photos
        .iter()
        .map(|p| p.canonicalize().unwrap().as_os_str().len())
        .max()
        .unwrap();
    assert!(longest > 200, "test path is only {longest} bytes");
    let milvus = TestMilvus::start(
        "paths_longer_than_200_bytes_are_stored_whole",
        &tmp.path().join("db/m.db"),
    )
    .await;
    let summary = run_index(&milvus, &tmp.path().join("photos"), &[]);
    assert_eq!(line_value(&summary, "indexed:"), 2, "{summary}");
    assert_eq!(line_value(&summary, "failed:"), 0, "{summary}");
    let s = store(&milvus).await;
    assert_one_row_per_photo(&s, &photos).await;
    assert!(s.describe().await.unwrap().path_max_len as usize >= longest);
    // Re-running reads the raised limit back from the schema and skips both photos.
    let again = run_index(&milvus, &tmp.path().join("photos"), &[]);
    assert_eq!(line_value(&again, "unchanged (skipped):"), 2, "{again}");
    milvus.stop().await;
}
