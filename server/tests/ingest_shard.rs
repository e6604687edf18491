//! `shihua index DIR --shard I/N`: several workers index one tree into one Milvus server at
//! once and end with exactly one row per photo, whether they start together, overlap by
//! mistake (two on the same shard), or are killed with SIGKILL and restarted; the last worker
//! builds the index; `--prune` with `--shard` prunes only its own shard; `shihua collection
//! index` reduces duplicates and builds the index on its own. Real Milvus Lite (one server
//! process that every `shihua` process reaches by URI), the real binary, the fixture model.
//!
//! With `SHIHUA_TEST_MILVUS_URI` set (a real Milvus standalone: `scripts/test-standalone.sh`)
//! the tests run against that server instead, each in a collection of its own; there
//! `SHIHUA_TEST_SHARD_PHOTOS` (300 in test-standalone.sh) sets the size of the tree the three
//! workers index (default 36).

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::ingest::{
    assert_one_row_per_photo, finish, index_command, index_line, indexed_paths, line_value,
    run_index as run, store, wait_while_running, IndexTest,
};
use common::{copy_demo, demo_photos, fixture_encoder, TestMilvus};
use server::ingest::shard::{shard_of, Shard};
use server::ingest::{index_folder_with_read_hook, IndexOptions, ReadHook};
use server::store::{MilvusStore, NewRow};

/// A tree of `n` photos (copies of the demo photos in subfolders of 20), returned sorted.
fn photo_tree(root: &Path, n: usize) -> Vec<PathBuf> {
    let demo = demo_photos();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let src = &demo[i % demo.len()];
        let dir = root.join(format!("roll{:02}", i / 20));
        std::fs::create_dir_all(&dir).unwrap();
        let dst = dir.join(format!(
            "{i:04}-{}",
            src.file_name().unwrap().to_string_lossy()
        ));
        std::fs::copy(src, &dst).unwrap();
        out.push(dst.canonicalize().unwrap());
    }
    out.sort();
    out
}

fn spawn(m: &TestMilvus, dir: &Path, extra: &[&str]) -> Child {
    index_command(m, dir, extra).spawn().unwrap()
}

fn shard_size(root: &Path, photos: &[PathBuf], shard: Shard) -> usize {
    photos.iter().filter(|p| shard.contains(root, p)).count()
}

fn photos_wanted() -> usize {
    std::env::var("SHIHUA_TEST_SHARD_PHOTOS")
        .ok()
        .map(|s| s.parse().expect("SHIHUA_TEST_SHARD_PHOTOS is a number"))
        .unwrap_or(36)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_one_twice_one_killed_and_rerun_end_with_one_row_per_photo() {
    let IndexTest {
        tmp: _tmp,
        photos: dir,
        milvus,
    } = IndexTest::start("three_workers").await;
    let photos = photo_tree(&dir, photos_wanted());
    let root = dir.canonicalize().unwrap();
    let m = &milvus;
    let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
    for s in &shards {
        assert!(shard_size(&root, &photos, *s) > 0, "shard {s} is empty");
    }
    // The collection exists before the workers start, as when an operator creates it first
    // (workers creating it at the same moment is Milvus' business, not shihua's).
    let s = store(m).await;
    s.ensure_collection(false).await.unwrap();

    // Four workers start together: 0/3, 1/3 twice (the mistake), and 2/3, which is killed
    // with SIGKILL once the collection holds a few rows.
    let mut victim = spawn(m, &dir, &["--shard", "2/3"]);
    let w0 = spawn(m, &dir, &["--shard", "0/3"]);
    let w1 = spawn(m, &dir, &["--shard", "1/3"]);
    let w1_again = spawn(m, &dir, &["--shard", "1/3"]);
    wait_while_running(
        &mut victim,
        "worker 2/3 could be killed with 2 rows in",
        Duration::from_secs(300),
        || async { s.count().await.unwrap_or(0) >= 2 },
    )
    .await;
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    let done: Vec<String> = [w0, w1, w1_again].into_iter().map(finish).collect();

    // Shard 2 is incomplete: none of the three could be the last worker.
    for summary in &done {
        assert!(
            index_line(summary).contains("left for the last worker"),
            "{summary}"
        );
    }
    assert_eq!(
        line_value(&done[0], "found:"),
        shard_size(&root, &photos, shards[0])
    );
    // The two 1/3 workers each saw the whole shard 1.
    let one = shard_size(&root, &photos, shards[1]);
    assert_eq!(line_value(&done[1], "found:"), one, "{}", done[1]);
    assert_eq!(line_value(&done[2], "found:"), one, "{}", done[2]);

    // The killed worker is restarted and finishes the tree: it builds the index.
    let rerun = run(m, &dir, &["--shard", "2/3"]);
    let two = shard_size(&root, &photos, shards[2]);
    assert_eq!(line_value(&rerun, "found:"), two, "{rerun}");
    assert!(
        line_value(&rerun, "indexed:") > 0,
        "the kill came too late to interrupt worker 2/3: {rerun}"
    );
    assert!(index_line(&rerun).contains("built and loaded"), "{rerun}");
    assert_eq!(
        line_value(&rerun, "rows in collection:"),
        photos.len(),
        "{rerun}"
    );
    assert_one_row_per_photo(&s, &photos).await;
    let info = s.describe().await.unwrap();
    let index = info.index.expect("the last worker built the index");
    assert_eq!(index.state, "Finished");
    assert_eq!(info.load_state, "Loaded");
    assert_eq!(info.rows, photos.len() as u64);

    // Search works over the whole tree.
    let hits = s.search(&vec![0.04; 512], 5).await.unwrap();
    assert_eq!(hits.len(), 5);
    milvus.stop().await;
}

/// Two workers on the same shard that both plan before either inserts (held at a barrier
/// just before each reads its first photo) insert every photo twice; the final dedup pass of
/// the one that finishes last leaves one row per photo.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_one_shard_insert_twice_and_converge_to_one_row() {
    let IndexTest {
        tmp: _tmp,
        photos: dir,
        milvus,
    } = IndexTest::start("same_shard").await;
    let photos = photo_tree(&dir, 16);
    let root = dir.canonicalize().unwrap();
    let shard = Shard { index: 0, count: 2 };
    let mine: Vec<PathBuf> = shard.select(&root, &photos);
    assert!(mine.len() >= 3, "shard 0/2 has {} photos", mine.len());
    let s = store(&milvus).await;
    s.ensure_collection(false).await.unwrap();

    let barrier = Arc::new(Barrier::new(2));
    let encoder = fixture_encoder();
    let worker = |id: usize| {
        let barrier = barrier.clone();
        let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let mut opts = IndexOptions::new(&dir);
        opts.progress = false;
        opts.batch_size = 2;
        opts.encode_batch = 1;
        opts.shard = Some(shard);
        let hook = ReadHook(Arc::new(move |_| {
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                barrier.wait();
            }
        }));
        let cfg = milvus.config("fixture");
        let encoder = encoder.clone();
        async move {
            let store = Arc::new(MilvusStore::connect(cfg).await.unwrap());
            let summary = index_folder_with_read_hook(encoder, store, opts, hook)
                .await
                .unwrap();
            (id, summary)
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(worker(0)), tokio::spawn(worker(1)));
    let (a, b) = (a.unwrap().1, b.unwrap().1);
    assert_eq!(a.indexed, mine.len(), "{a}");
    assert_eq!(b.indexed, mine.len(), "{b}");
    assert!(
        a.duplicates_removed + b.duplicates_removed >= mine.len(),
        "every photo was inserted twice, so at least {} duplicates go:\n{a}\n{b}",
        mine.len()
    );
    assert_one_row_per_photo(&s, &mine).await;
    milvus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_with_shard_deletes_only_its_own_shards_rows() {
    let IndexTest {
        tmp: _tmp,
        photos: dir,
        milvus,
    } = IndexTest::start("shard_prune").await;
    let mut photos = photo_tree(&dir, 12);
    let root = dir.canonicalize().unwrap();
    let m = &milvus;
    let first = run(m, &dir, &["--shard", "0/2"]);
    assert!(
        index_line(&first).contains("left for the last worker"),
        "{first}"
    );
    let second = run(m, &dir, &["--shard", "1/2"]);
    assert!(index_line(&second).contains("built and loaded"), "{second}");
    let s = store(m).await;
    assert_one_row_per_photo(&s, &photos).await;

    // Delete one photo of each shard; only shard 0's worker prunes.
    let of = |photos: &[PathBuf], i: u32| {
        photos
            .iter()
            .position(|p| shard_of(p.strip_prefix(&root).unwrap(), 2) == i)
            .unwrap()
    };
    let gone0 = photos.remove(of(&photos, 0));
    let gone1 = photos.remove(of(&photos, 1));
    std::fs::remove_file(&gone0).unwrap();
    std::fs::remove_file(&gone1).unwrap();
    let pruned = run(m, &dir, &["--shard", "0/2", "--prune"]);
    assert!(pruned.contains("1 pruned"), "{pruned}");
    let paths: HashSet<String> = indexed_paths(&s).await.into_iter().collect();
    assert!(
        !paths.contains(gone0.to_str().unwrap()),
        "shard 0's row stayed"
    );
    assert!(
        paths.contains(gone1.to_str().unwrap()),
        "shard 1's row was pruned by shard 0's worker"
    );
    let pruned = run(m, &dir, &["--shard", "1/2", "--prune"]);
    assert!(pruned.contains("1 pruned"), "{pruned}");
    assert_one_row_per_photo(&s, &photos).await;
    milvus.stop().await;
}

/// When a shard cannot finish (here: its worker never ran), `shihua collection index` builds
/// the index on its own, after reducing every path to one row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_index_dedups_and_builds_the_index_on_its_own() {
    let IndexTest {
        tmp: _tmp,
        photos: dir,
        milvus,
    } = IndexTest::start("collection_index").await;
    copy_demo(&dir, 8);
    let m = &milvus;
    let out = run(m, &dir, &["--shard", "0/2"]);
    assert!(
        index_line(&out).contains("left for the last worker"),
        "{out}"
    );
    let s = store(m).await;
    let rows = s.list_indexed().await.unwrap();
    assert!(!rows.is_empty(), "{out}");
    // A duplicate of the first row, as a killed overlapping worker would leave.
    s.insert(vec![NewRow {
        vector: vec![0.04; 512],
        filepath: rows[0].filepath.clone(),
        extra: Default::default(),
    }])
    .await
    .unwrap();

    let output = m.shihua(&[], &["collection", "index"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("duplicate rows removed: 1"), "{stdout}");
    assert!(stdout.contains("IVF_FLAT COSINE"), "{stdout}");
    assert!(stdout.contains("nlist=512"), "{stdout}");
    assert!(stdout.contains("load state: Loaded"), "{stdout}");
    let after = s.list_indexed().await.unwrap();
    assert_eq!(after.len(), rows.len());
    // The newest row (the duplicate) is the one kept.
    let kept = after
        .iter()
        .find(|r| r.filepath == rows[0].filepath)
        .unwrap();
    assert!(kept.id > rows[0].id);

    // --rebuild drops the index and builds it anew, here with another nlist.
    let output = m
        .shihua(&[], &["--nlist", "128", "collection", "index", "--rebuild"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("nlist=128"), "{stdout}");
    assert!(stdout.contains("load state: Loaded"), "{stdout}");
    assert_eq!(s.search(&vec![0.04; 512], 3).await.unwrap().len(), 3);
    milvus.stop().await;
}

#[test]
fn shard_flag_is_refused_when_malformed() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["3/3", "1/0", "x"] {
        let out = common::shihua_cmd(
            "http://127.0.0.1:9",
            &["index", tmp.path().to_str().unwrap(), "--shard", bad],
        )
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("--shard takes I/N"), "{stderr}");
    }
}
