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

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use common::ingest::{
    assert_one_row_per_photo, index_command, line_value, run_index, store, wait_while_running,
    IndexTest,
};
use common::{copy_demo, demo_photos, repo};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_skips_unchanged_replaces_changed_and_prunes() {
    let IndexTest {
        photos: dir,
        milvus,
        tmp: _tmp,
    } = IndexTest::start("rerun_skips_unchanged_replaces_changed_and_prunes").await;
    let mut photos = copy_demo(&dir, 6);
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
    let IndexTest {
        photos: dir,
        milvus,
        tmp: _tmp,
    } = IndexTest::start("sigkill_at_any_point_then_rerun_gives_one_row_per_photo").await;
    let photos = copy_demo(&dir, 24);
    let m = &milvus;
    let s = store(m).await;

    // Kill points: after the first rows land, and after more than half have landed. Each
    // kill must hit a running index that has written some rows but not all of them.
    for threshold in [1u64, 13] {
        let mut child = index_command(m, &dir, &[]).spawn().unwrap();
        let what = format!("{threshold} rows were visible");
        wait_while_running(&mut child, &what, Duration::from_secs(120), || async {
            s.count().await.unwrap_or(0) >= threshold
        })
        .await;
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
    let IndexTest {
        tmp,
        photos: dir,
        milvus,
    } = IndexTest::start("sigkill_between_a_replace_insert_and_its_delete").await;
    let photos = copy_demo(&dir, 6);
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
    let mut child = index_command(m, &dir, &[])
        .env(server::ingest::TEST_PAUSE_ENV, &paused)
        .spawn()
        .unwrap();
    wait_while_running(
        &mut child,
        "reaching the replace",
        Duration::from_secs(120),
        || async { paused.exists() },
    )
    .await;
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
    let IndexTest {
        tmp: _tmp,
        photos: top,
        milvus,
    } = IndexTest::start("paths_longer_than_200_bytes_are_stored_whole").await;
    // 古道西风瘦马 is 18 bytes in UTF-8: twelve levels make a path of well over 200 bytes.
    let mut dir = top.clone();
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
    let summary = run_index(&milvus, &top, &[]);
    assert_eq!(line_value(&summary, "indexed:"), 2, "{summary}");
    assert_eq!(line_value(&summary, "failed:"), 0, "{summary}");
    let s = store(&milvus).await;
    assert_one_row_per_photo(&s, &photos).await;
    assert!(s.describe().await.unwrap().path_max_len as usize >= longest);
    // Re-running reads the raised limit back from the schema and skips both photos.
    let again = run_index(&milvus, &top, &[]);
    assert_eq!(line_value(&again, "unchanged (skipped):"), 2, "{again}");
    milvus.stop().await;
}
