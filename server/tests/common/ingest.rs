//! Helpers of the tests that run `shihua index` against a Milvus and look at the rows it
//! leaves (ingest_resume.rs, ingest_shard.rs, ingest_hostile.rs): a test's folders and
//! Milvus, the index command in small batches, its printed summary, the rows per photo, and
//! waiting on a running index.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use server::store::MilvusStore;

use super::TestMilvus;

/// A test's temporary folder, its photo folder `<tmp>/photos` (not created yet) and the Milvus
/// it runs against (its own Milvus Lite on `<tmp>/db/m.db`, or the external server).
pub struct IndexTest {
    pub tmp: tempfile::TempDir,
    pub photos: PathBuf,
    pub milvus: TestMilvus,
}

impl IndexTest {
    pub async fn start(test: &str) -> IndexTest {
        let tmp = tempfile::tempdir().unwrap();
        let photos = tmp.path().join("photos");
        let milvus = TestMilvus::start(test, &tmp.path().join("db/m.db")).await;
        IndexTest {
            tmp,
            photos,
            milvus,
        }
    }
}

/// `shihua index DIR` in small batches (many inserts per run), then `extra`, output captured.
pub fn index_command(m: &TestMilvus, dir: &Path, extra: &[&str]) -> Command {
    let mut args = vec![
        "index",
        dir.to_str().unwrap(),
        "--batch-size",
        "4",
        "--encode-batch",
        "2",
    ];
    args.extend_from_slice(extra);
    m.shihua(&[], &args)
}

/// Waits for a run of `shihua index` and returns its summary; panics with its output if it
/// failed.
pub fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "index failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// [`index_command`] run to its end: its summary.
pub fn run_index(m: &TestMilvus, dir: &Path, extra: &[&str]) -> String {
    finish(index_command(m, dir, extra).spawn().unwrap())
}

/// The number after `key` in a printed summary.
pub fn line_value(summary: &str, key: &str) -> usize {
    summary
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key:?} in:\n{summary}"))
}

/// The `index:` line of a printed summary.
pub fn index_line(summary: &str) -> &str {
    summary
        .lines()
        .find(|l| l.starts_with("index:"))
        .unwrap_or_else(|| panic!("no index line in:\n{summary}"))
}

/// A store on the test's server and collection, for the fixture model.
pub async fn store(m: &TestMilvus) -> Arc<MilvusStore> {
    Arc::new(MilvusStore::connect(m.config("fixture")).await.unwrap())
}

/// The file path of every stored row, sorted.
pub async fn indexed_paths(store: &MilvusStore) -> Vec<String> {
    let mut paths: Vec<String> = store
        .list_indexed()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.filepath)
        .collect();
    paths.sort();
    paths
}

/// Exactly one row for each photo and nothing else.
pub async fn assert_one_row_per_photo(store: &MilvusStore, photos: &[PathBuf]) {
    let paths = indexed_paths(store).await;
    let mut per_path: HashMap<&str, usize> = HashMap::new();
    for p in &paths {
        *per_path.entry(p.as_str()).or_default() += 1;
    }
    let dupes: Vec<_> = per_path.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "duplicate rows: {dupes:?}");
    let want: HashSet<String> = photos
        .iter()
        .map(|p| p.canonicalize().unwrap().to_string_lossy().into_owned())
        .collect();
    let got: HashSet<String> = per_path.keys().map(|s| s.to_string()).collect();
    assert_eq!(got.len(), want.len(), "rows for {} paths", got.len());
    assert_eq!(got, want);
}

/// Polls `reached` every 20 ms until it is true, while `child` (a running index) runs; panics
/// if the child ends first or `reached` is still false after `limit`. `what` names the moment
/// waited for, in the panic messages.
pub async fn wait_while_running<F, Fut>(child: &mut Child, what: &str, limit: Duration, reached: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !reached().await {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {what}"
        );
        assert!(
            start.elapsed() < limit,
            "not {what} after {} s",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
