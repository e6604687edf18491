//! `shihua index DIR`: walk a photo folder, decode + preprocess on a thread pool while the
//! model encodes the previous batch, insert into Milvus in batches (300 by default, as in the
//! reference), build the index, load, and summarise. A photo that cannot be read is reported
//! and skipped; it never aborts the run.
//!
//! A photo is read through one open file handle with `O_NONBLOCK` (a FIFO or device named
//! `x.jpg` is refused, never waited on), and its identity (device, inode, size, mtime, ctime)
//! is compared before and after the read: a photo that changes while it is read is read again,
//! so the row always holds the bytes and the stat that belong together; one that keeps
//! changing (still being written) is reported and left for the next run, and one deleted
//! meanwhile is reported and skipped.
//!
//! Every row records the photo's `sha256`, `mtime`/`mtime_ns`, `size`, `width`, `height`, and
//! the `model` and `variant` (fp32, int8, …) that made its vector.
//!
//! Re-running is cheap and safe: a photo whose size and mtime (to the nanosecond, where the
//! row has `mtime_ns`; rows from older versions have whole seconds) match its row is skipped, a
//! changed photo gets a new row and its old row is deleted after the insert, rows left twice
//! for one path by an interrupted run are reduced to the newest, and `--prune` deletes rows
//! whose file is gone. Killing the process at any point and re-running converges on exactly
//! one row per photo.
//!
//! With `--shard I/N` ([`IndexOptions::shard`]) the run takes only its shard's photos, so
//! several workers can index one tree into one Milvus server at once; `ingest_shard` owns the
//! shard selection and the rules that make their end state one row per photo.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::clip::preprocess::{self, PreprocessSpec, DEFAULT_MAX_PIXELS};
use crate::clip::ClipEncoder;
use crate::ingest_shard::{self, Shard};
use crate::store::{IndexedFile, MilvusStore, NewRow};

/// Extensions indexed by default (case-insensitive).
pub const DEFAULT_EXTS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// Images per model call on the CPU. On the 2-core benchmark machine 1, 2 and 16 index at
/// the same speed within run-to-run noise (`shihua index` int8, 200 photos, three interleaved
/// runs each: 43.1/44.9/42.4 s at 16, 43.7/45.3/42.6 s at 2, 48.4/45.3/43.5 s at 1); raw ORT
/// is a few per cent faster at 1–2 (bench/results/2026-11-27-60fd764.md). 16 keeps the
/// decoders busy in parallel between model calls.
pub const CPU_ENCODE_BATCH: usize = 16;
/// Images per model call on a GPU, which needs batches to be busy.
pub const GPU_ENCODE_BATCH: usize = 32;

/// The encode batch for where the model runs.
pub fn default_encode_batch(on_gpu: bool) -> usize {
    if on_gpu {
        GPU_ENCODE_BATCH
    } else {
        CPU_ENCODE_BATCH
    }
}

#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub root: PathBuf,
    pub exts: Vec<String>,
    /// Rows per Milvus insert.
    pub batch_size: usize,
    /// Images per model call ([`default_encode_batch`]).
    pub encode_batch: usize,
    pub recreate: bool,
    pub include_hidden: bool,
    /// Delete rows under the root whose file no longer exists.
    pub prune: bool,
    /// Threads decoding photos beside the model (0: rayon's default, one per core).
    pub decode_threads: usize,
    /// Show the progress bar (off in tests and when stderr is not a terminal).
    pub progress: bool,
    /// Index only this shard of the tree (`--shard I/N`, see `ingest_shard`); `None`: all.
    pub shard: Option<Shard>,
    /// Test-only: called with a photo's path after it is opened and before it is read, on
    /// every read attempt, so tests can change or delete the file at exactly that moment.
    #[doc(hidden)]
    pub before_read: Option<ReadHook>,
}

/// A callback run just before each read attempt of a photo ([`IndexOptions::before_read`]).
#[derive(Clone)]
pub struct ReadHook(pub Arc<dyn Fn(&Path) + Send + Sync>);

impl std::fmt::Debug for ReadHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadHook")
    }
}

impl IndexOptions {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            exts: DEFAULT_EXTS.iter().map(|s| s.to_string()).collect(),
            batch_size: 300,
            encode_batch: CPU_ENCODE_BATCH,
            recreate: false,
            include_hidden: false,
            prune: false,
            decode_threads: 0,
            progress: true,
            shard: None,
            before_read: None,
        }
    }
}

/// What one run did.
#[derive(Debug, Default)]
pub struct IndexSummary {
    pub found: usize,
    pub indexed: usize,
    /// Already indexed and unchanged.
    pub unchanged: usize,
    /// Changed since the last run: re-encoded, old row replaced.
    pub replaced: usize,
    /// Rows deleted because their file is gone (`--prune`).
    pub pruned: usize,
    /// Extra rows for one path (left by an interrupted run) that were deleted.
    pub duplicates_removed: usize,
    pub failed: Vec<Skipped>,
    pub rows_in_collection: u64,
    /// What a `--shard` worker did about the index; `None` without `--shard`.
    pub shard: Option<ShardOutcome>,
    pub wall: Duration,
    /// Where the time went.
    pub time: TimeSpent,
}

/// A `--shard` worker's share of the tree and what it did about the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOutcome {
    pub shard: Shard,
    /// Photos in the whole tree (all shards).
    pub photos_in_tree: usize,
    /// Photos of the tree (of any shard) still without a row when this worker finished,
    /// not counting the ones it could not read. 0: it was the last worker and built the index.
    pub missing: usize,
}

/// Where an indexing run's time went: the model's time is what a faster device shortens;
/// `model_waited` > 0 means decoding could not keep up with the model (the pipeline is
/// decode-bound, as on a GPU).
#[derive(Debug, Default, Clone)]
pub struct TimeSpent {
    /// Reading, hashing, decoding and resizing, summed over the threads that did it (it runs
    /// beside the model, so it overlaps the other figures).
    pub prepare_cpu: Duration,
    /// Inside the image tower.
    pub model: Duration,
    /// The model thread waiting for the next prepared batch.
    pub model_waited: Duration,
    /// Milvus: inserts, deletes of replaced rows, flush, index build and load.
    pub store: Duration,
}

impl IndexSummary {
    pub fn images_per_second(&self) -> f64 {
        let s = self.wall.as_secs_f64();
        if s > 0.0 {
            self.indexed as f64 / s
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for IndexSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(s) = &self.shard {
            writeln!(
                f,
                "shard:    {} ({} of the tree's {} photos)",
                s.shard, self.found, s.photos_in_tree
            )?;
        }
        writeln!(f, "found:    {}", self.found)?;
        writeln!(
            f,
            "indexed:  {} ({} replaced a changed photo)",
            self.indexed, self.replaced
        )?;
        writeln!(f, "unchanged (skipped): {}", self.unchanged)?;
        if self.pruned > 0 || self.duplicates_removed > 0 {
            writeln!(
                f,
                "rows removed: {} pruned, {} duplicates",
                self.pruned, self.duplicates_removed
            )?;
        }
        writeln!(f, "failed:   {}", self.failed.len())?;
        for (p, why) in &self.failed {
            writeln!(f, "  - {}: {why}", p.display())?;
        }
        writeln!(f, "rows in collection: {}", self.rows_in_collection)?;
        match &self.shard {
            Some(s) if s.missing == 0 => writeln!(
                f,
                "index:    built and loaded (every photo of the tree has a row: this was the last worker)"
            )?,
            Some(s) => writeln!(
                f,
                "index:    left for the last worker: {} photos of the tree have no row yet \
                 (or run `shihua collection index` once every worker is done)",
                s.missing
            )?,
            None => {}
        }
        if self.indexed > 0 {
            let t = &self.time;
            writeln!(
                f,
                "time spent: model {:.1} s, waiting for photos {:.1} s, Milvus {:.1} s; \
                 reading + decoding + resizing {:.1} s of CPU (beside the model)",
                t.model.as_secs_f64(),
                t.model_waited.as_secs_f64(),
                t.store.as_secs_f64(),
                t.prepare_cpu.as_secs_f64()
            )?;
        }
        write!(
            f,
            "wall time: {:.1} s, {:.1} images/s",
            self.wall.as_secs_f64(),
            self.images_per_second()
        )
    }
}

/// A file that was skipped, and why.
pub type Skipped = (PathBuf, String);

/// Photo files under `opts.root`, sorted, and the entries that could not be read (symlink
/// loops, permission errors, dangling links, and FIFOs, sockets or devices with a photo's
/// extension), which are reported and skipped.
pub fn walk(opts: &IndexOptions) -> anyhow::Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let root = opts
        .root
        .canonicalize()
        .with_context(|| format!("photo folder {} cannot be opened", opts.root.display()))?;
    anyhow::ensure!(root.is_dir(), "{} is not a folder", root.display());
    let exts: Vec<String> = opts
        .exts
        .iter()
        .map(|e| e.trim_start_matches('.').to_ascii_lowercase())
        .collect();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let walker = walkdir::WalkDir::new(&root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            opts.include_hidden
                || e.depth() == 0
                || !e.file_name().to_string_lossy().starts_with('.')
        });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) => {
                let ok = e
                    .path()
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| exts.contains(&x.to_ascii_lowercase()));
                if ok && e.file_type().is_file() {
                    files.push(e.into_path());
                } else if ok {
                    let why = format!("not a regular file ({})", kind_of(&e.file_type()));
                    problems.push((e.into_path(), why));
                }
            }
            Err(err) => {
                let p = err
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.clone());
                problems.push((p, err.to_string()));
            }
        }
    }
    files.sort();
    Ok((files, problems))
}

/// What a non-regular directory entry is, in words.
fn kind_of(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// How often a photo that changes while it is read is read again before it is left for the
/// next run.
const READ_ATTEMPTS: usize = 3;

/// What identifies one version of a file: if any of these differ, it changed.
#[derive(PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Reads a photo whole, with the metadata that belongs to exactly these bytes. A file that
/// is changed, replaced or deleted while it is read is detected (its stamp before and after
/// the read differ, or the path no longer leads to the file read) and read again; a FIFO or
/// device is refused without waiting on it.
fn read_stable(
    path: &Path,
    hook: Option<&ReadHook>,
) -> Result<(Vec<u8>, std::fs::Metadata), String> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    for _ in 0..READ_ATTEMPTS {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| {
                if gone(&e) {
                    "deleted during indexing".to_owned()
                } else {
                    format!("cannot open: {e}")
                }
            })?;
        let before = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
        if !before.is_file() {
            return Err(format!(
                "not a regular file ({})",
                kind_of(&before.file_type())
            ));
        }
        if let Some(hook) = hook {
            (hook.0)(path);
        }
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(before.len() as usize)
            .map_err(|_| format!("too large to read ({} bytes)", before.len()))?;
        file.read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read: {e}"))?;
        let after = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
        let now = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if gone(&e) => return Err("deleted during indexing".to_owned()),
            Err(e) => return Err(format!("cannot stat: {e}")),
        };
        let stamp = Stamp::of(&before);
        if stamp == Stamp::of(&after)
            && stamp == Stamp::of(&now)
            && bytes.len() as u64 == before.len()
        {
            return Ok((bytes, after));
        }
    }
    Err(format!(
        "kept changing while it was read ({READ_ATTEMPTS} tries; still being written?): \
         skipped, the next run indexes it"
    ))
}

/// A photo ready for the model.
struct Prepared {
    path: PathBuf,
    tensor: Vec<f32>,
    extra: Map<String, Value>,
}

/// Which model made a row: its dynamic fields `model` and `variant`.
struct RowModel {
    id: String,
    variant: String,
}

fn prepare(
    path: &Path,
    spec: &PreprocessSpec,
    model: &RowModel,
    max_path: usize,
    hook: Option<&ReadHook>,
) -> Result<Prepared, String> {
    let shown = path.to_string_lossy();
    if shown.len() > max_path {
        return Err(format!(
            "path is {} bytes, longer than the collection's {max_path}-byte filepath field",
            shown.len()
        ));
    }
    let (bytes, meta) = read_stable(path, hook)?;
    let (tensor, decoded) = preprocess::preprocess_bytes(&bytes, spec, DEFAULT_MAX_PIXELS)
        .map_err(|e| e.to_string())?;
    let mtime = Mtime::of(&meta);
    let mut extra = Map::new();
    extra.insert("sha256".into(), json!(hex::encode(Sha256::digest(&bytes))));
    extra.insert("mtime".into(), json!(mtime.secs));
    extra.insert("mtime_ns".into(), json!(mtime.nanos));
    extra.insert("size".into(), json!(bytes.len()));
    extra.insert("width".into(), json!(decoded.width));
    extra.insert("height".into(), json!(decoded.height));
    extra.insert("model".into(), json!(model.id));
    extra.insert("variant".into(), json!(model.variant));
    Ok(Prepared {
        path: path.to_path_buf(),
        tensor,
        extra,
    })
}

/// One encode batch from the preparer thread: prepared photos, or why a photo failed.
type PreparedBatch = Vec<Result<Prepared, Skipped>>;

enum Item {
    Row(NewRow),
    Failed(PathBuf, String),
}

/// Index every photo under `opts.root` into the collection.
pub async fn index_folder(
    encoder: Arc<ClipEncoder>,
    store: Arc<MilvusStore>,
    opts: IndexOptions,
) -> anyhow::Result<IndexSummary> {
    let start = Instant::now();
    let (files, problems) = walk(&opts)?;
    // A shard worker keeps the whole tree to tell, at the end, whether it was the last one.
    let (files, tree) = match opts.shard {
        Some(shard) => (shard.select(&opts.root.canonicalize()?, &files), files),
        None => (files, Vec::new()),
    };
    // A new collection gets a path field long enough for every path (never truncated).
    if opts.recreate || !store.has_collection().await? {
        let longest = files
            .iter()
            .chain(&tree)
            .map(|p| p.as_os_str().len())
            .max()
            .unwrap_or(0);
        if let Some(limit) = store.fit_paths(longest) {
            tracing::info!("the longest path is {longest} bytes: the filepath field holds {limit}");
        }
    }
    store.ensure_collection(opts.recreate).await?;
    let mut summary = IndexSummary {
        found: files.len(),
        failed: problems,
        ..Default::default()
    };
    let plan = plan(&store, &opts, files, &mut summary).await?;
    let files = plan.todo;
    let replaces = plan.replaces;

    let bar = if opts.progress {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .expect("valid progress template"),
    );

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(opts.batch_size.max(1) * 2);
    let max_path = store.path_limit() as usize;
    let worker = {
        let encoder = encoder.clone();
        let encode_batch = opts.encode_batch.max(1);
        let hook = opts.before_read.clone();
        let decode_threads = opts.decode_threads;
        tokio::task::spawn_blocking(move || {
            encode_all(
                encoder,
                files,
                (encode_batch, decode_threads),
                max_path,
                hook,
                tx,
            )
        })
    };

    let mut inserter = Inserter {
        store: &store,
        pending: Vec::with_capacity(opts.batch_size),
        batch_size: opts.batch_size.max(1),
        replaces,
        bar: &bar,
        batch_start: Instant::now(),
        spent: Duration::ZERO,
    };
    while let Some(item) = rx.recv().await {
        match item {
            Item::Row(row) => inserter.push(row, &mut summary).await?,
            Item::Failed(p, why) => {
                bar.println(format!("skipped {}: {why}", p.display()));
                summary.failed.push((p, why));
                bar.inc(1);
            }
        }
    }
    inserter.flush(&mut summary).await?;
    summary.time = worker.await.context("encoder thread")?;
    summary.time.store = inserter.spent;
    bar.finish_and_clear();

    let start_store = Instant::now();
    store.flush().await?;
    match opts.shard {
        None => store.build_index_and_load().await?,
        Some(shard) => finish_shard(&store, &opts, shard, &tree, &mut summary).await?,
    }
    summary.time.store += start_store.elapsed();
    summary.rows_in_collection = store.count().await?;
    summary.wall = start.elapsed();
    Ok(summary)
}

/// The end of a `--shard` run: reduce this shard's paths to one row each (a worker on the same
/// shard may have inserted them too), then, if every photo of the tree has a row, this was the
/// last worker: reduce every path under the root to one row and build + load the index.
async fn finish_shard(
    store: &MilvusStore,
    opts: &IndexOptions,
    shard: Shard,
    tree: &[PathBuf],
    summary: &mut IndexSummary,
) -> anyhow::Result<()> {
    let root = opts.root.canonicalize()?;
    summary.duplicates_removed +=
        ingest_shard::dedup(store, |p| shard.contains(&root, Path::new(p)))
            .await
            .context("removing duplicate rows of this shard")?;
    let failed: HashSet<String> = summary
        .failed
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    let missing = ingest_shard::missing_rows(store, tree, &failed).await?;
    if missing == 0 {
        summary.duplicates_removed +=
            ingest_shard::dedup(store, |p| Path::new(p).starts_with(&root))
                .await
                .context("removing duplicate rows before building the index")?;
        store.build_index_and_load().await?;
    } else {
        tracing::info!("{missing} photos of other shards have no row yet: not building the index");
    }
    summary.shard = Some(ShardOutcome {
        shard,
        photos_in_tree: tree.len(),
        missing,
    });
    Ok(())
}

/// Collects rows into batches of `batch_size` and inserts them. After each insert it deletes
/// the rows the batch replaces (in that order: a crash in between leaves a duplicate that the
/// next run removes, never a lost photo).
struct Inserter<'a> {
    store: &'a MilvusStore,
    pending: Vec<NewRow>,
    batch_size: usize,
    /// Path → ids of the rows a new row for it replaces.
    replaces: HashMap<String, Vec<i64>>,
    bar: &'a ProgressBar,
    batch_start: Instant,
    /// Time spent in Milvus calls.
    spent: Duration,
}

impl Inserter<'_> {
    async fn push(&mut self, row: NewRow, summary: &mut IndexSummary) -> anyhow::Result<()> {
        self.pending.push(row);
        if self.pending.len() >= self.batch_size {
            self.flush(summary).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, summary: &mut IndexSummary) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let n = rows.len();
        let old: Vec<i64> = rows
            .iter()
            .filter_map(|r| self.replaces.remove(&r.filepath))
            .flatten()
            .collect();
        let start = Instant::now();
        self.store
            .insert(rows)
            .await
            .context("inserting a batch into Milvus")?;
        if !old.is_empty() {
            summary.replaced += old.len();
            pause_before_delete_for_tests(n, old.len()).await;
            self.store
                .delete_ids(&old)
                .await
                .context("deleting replaced rows")?;
        }
        self.spent += start.elapsed();
        summary.indexed += n;
        self.bar.inc(n as u64);
        self.bar.set_message(format!(
            "batch {:.1}s",
            self.batch_start.elapsed().as_secs_f64()
        ));
        self.batch_start = Instant::now();
        Ok(())
    }
}

/// Names a file for the tests of a run killed in the middle of a replace
/// (server/tests/ingest_resume.rs). Not a user setting: when set, a batch that replaces rows
/// stops after its insert and before deleting the rows it replaces, writes
/// `<inserted> <to delete>` to that file, and waits there until the process is killed.
pub const TEST_PAUSE_ENV: &str = "SHIHUA_TEST_PAUSE_BEFORE_DELETE";

async fn pause_before_delete_for_tests(inserted: usize, to_delete: usize) {
    let Some(path) = std::env::var_os(TEST_PAUSE_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    if let Err(e) = std::fs::write(&path, format!("{inserted} {to_delete}\n")) {
        tracing::error!(
            "{TEST_PAUSE_ENV}: writing {}: {e}",
            Path::new(&path).display()
        );
    }
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// What a run has to do, after comparing the folder with the collection.
struct Plan {
    todo: Vec<PathBuf>,
    /// Path → ids of the rows a new row for it replaces.
    replaces: HashMap<String, Vec<i64>>,
}

/// A file's modification time since the epoch, as stored in a row: `mtime` (seconds, for
/// people and older rows) and `mtime_ns` (nanoseconds, what change detection compares).
struct Mtime {
    secs: u64,
    nanos: u64,
}

impl Mtime {
    fn of(meta: &std::fs::Metadata) -> Mtime {
        let d = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        Mtime {
            secs: d.as_secs(),
            nanos: u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// True when `row` was made from a file with this mtime: to the nanosecond when the row
    /// has `mtime_ns`, else (a row from an older version) to the second.
    fn matches(&self, row: &IndexedFile) -> bool {
        match row.mtime_ns {
            Some(ns) => ns == self.nanos,
            None => row.mtime == Some(self.secs),
        }
    }
}

async fn plan(
    store: &MilvusStore,
    opts: &IndexOptions,
    files: Vec<PathBuf>,
    summary: &mut IndexSummary,
) -> anyhow::Result<Plan> {
    let rows = store
        .list_indexed()
        .await
        .context("listing what is already indexed")?;
    let mut by_path: HashMap<String, Vec<IndexedFile>> = HashMap::new();
    for r in rows {
        by_path.entry(r.filepath.clone()).or_default().push(r);
    }
    let root = opts.root.canonicalize()?;
    // A `--shard` worker touches only its own shard's rows (dedup and prune).
    let in_scope = |p: &str| opts.shard.is_none_or(|s| s.contains(&root, Path::new(p)));
    // An interrupted run can leave two rows for one path: keep the newest (ids grow).
    let mut dupes = Vec::new();
    for (path, rows) in by_path.iter_mut() {
        rows.sort_by_key(|r| std::cmp::Reverse(r.id));
        if in_scope(path) {
            dupes.extend(rows.drain(1..).map(|r| r.id));
        }
    }
    if !dupes.is_empty() {
        store
            .delete_ids(&dupes)
            .await
            .context("deleting duplicate rows")?;
        summary.duplicates_removed = dupes.len();
    }

    let mut todo = Vec::new();
    let mut replaces = HashMap::new();
    let mut seen = HashSet::new();
    for path in files {
        let key = path.to_string_lossy().into_owned();
        seen.insert(key.clone());
        let Some(row) = by_path.get(&key).and_then(|v| v.first()) else {
            todo.push(path);
            continue;
        };
        let meta = std::fs::metadata(&path).ok();
        let same_stat = meta
            .as_ref()
            .is_some_and(|m| row.size == Some(m.len()) && Mtime::of(m).matches(row));
        if same_stat {
            summary.unchanged += 1;
            continue;
        }
        // Touched but identical content still counts as unchanged.
        let same_content = row.sha256.as_deref().is_some_and(|h| {
            read_stable(&path, None).is_ok_and(|(b, _)| hex::encode(Sha256::digest(&b)) == h)
        });
        if same_content {
            summary.unchanged += 1;
        } else {
            replaces.insert(key, vec![row.id]);
            todo.push(path);
        }
    }

    if opts.prune {
        let gone: Vec<i64> = by_path
            .iter()
            .filter(|(p, _)| {
                !seen.contains(*p)
                    && Path::new(p).starts_with(&root)
                    && in_scope(p)
                    && !Path::new(p).exists()
            })
            .flat_map(|(_, rows)| rows.iter().map(|r| r.id))
            .collect();
        if !gone.is_empty() {
            store
                .delete_ids(&gone)
                .await
                .context("pruning rows of deleted photos")?;
            summary.pruned = gone.len();
        }
    }
    Ok(Plan { todo, replaces })
}

/// Runs on a blocking thread: a scoped preparer thread decodes batch i+1 (in parallel, on
/// rayon's pool) while this thread runs the model on batch i.
fn encode_all(
    encoder: Arc<ClipEncoder>,
    files: Vec<PathBuf>,
    (encode_batch, decode_threads): (usize, usize),
    max_path: usize,
    hook: Option<ReadHook>,
    tx: tokio::sync::mpsc::Sender<Item>,
) -> TimeSpent {
    let spec = encoder.preprocess_spec().clone();
    let model = RowModel {
        id: encoder.spec().id.clone(),
        variant: encoder.variant().to_owned(),
    };
    let (ptx, prx) = std::sync::mpsc::sync_channel::<PreparedBatch>(2);
    let prepare_ns = AtomicU64::new(0);
    let mut time = TimeSpent::default();
    std::thread::scope(|s| {
        let prepare_ns = &prepare_ns;
        s.spawn(move || {
            // Its own pool when the decode threads are set (else rayon's global one).
            let pool = (decode_threads > 0)
                .then(|| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(decode_threads)
                        .thread_name(|i| format!("shihua-decode-{i}"))
                        .build()
                        .ok()
                })
                .flatten();
            for chunk in files.chunks(encode_batch) {
                let work = || -> Vec<_> {
                    chunk
                        .par_iter()
                        .map(|p| {
                            let start = Instant::now();
                            let prepared = prepare(p, &spec, &model, max_path, hook.as_ref())
                                .map_err(|e| (p.clone(), e));
                            prepare_ns
                                .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
                            prepared
                        })
                        .collect()
                };
                let prepared = match &pool {
                    Some(pool) => pool.install(work),
                    None => work(),
                };
                if ptx.send(prepared).is_err() {
                    break;
                }
            }
        });
        loop {
            let waiting = Instant::now();
            let Ok(batch) = prx.recv() else { break };
            time.model_waited += waiting.elapsed();
            let mut ok = Vec::new();
            for item in batch {
                match item {
                    Ok(p) => ok.push(p),
                    Err((p, why)) => {
                        if tx.blocking_send(Item::Failed(p, why)).is_err() {
                            return;
                        }
                    }
                }
            }
            if ok.is_empty() {
                continue;
            }
            let n = ok.len();
            let mut pixels = Vec::with_capacity(n * ok[0].tensor.len());
            for p in &mut ok {
                pixels.append(&mut p.tensor);
            }
            let start = Instant::now();
            let encoded = encoder.embed_pixels(pixels, n);
            time.model += start.elapsed();
            match encoded {
                Ok(vectors) => {
                    for (p, vector) in ok.into_iter().zip(vectors) {
                        let row = NewRow {
                            vector,
                            filepath: p.path.to_string_lossy().into_owned(),
                            extra: p.extra,
                        };
                        if tx.blocking_send(Item::Row(row)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    for p in ok {
                        if tx
                            .blocking_send(Item::Failed(p.path, format!("model: {e}")))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        }
    });
    time.prepare_cpu = Duration::from_nanos(prepare_ns.load(Ordering::Relaxed));
    time
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mtime: Option<u64>, mtime_ns: Option<u64>) -> IndexedFile {
        IndexedFile {
            id: 1,
            filepath: "/p/a.jpg".into(),
            size: Some(10),
            mtime,
            mtime_ns,
            sha256: None,
        }
    }

    #[test]
    fn mtimes_compare_to_the_nanosecond_and_old_rows_to_the_second() {
        let t = Mtime {
            secs: 1_700_000_000,
            nanos: 1_700_000_000_250_000_000,
        };
        assert!(t.matches(&row(Some(1_700_000_000), Some(1_700_000_000_250_000_000))));
        // Same second, another nanosecond: changed.
        assert!(!t.matches(&row(Some(1_700_000_000), Some(1_700_000_000_250_000_001))));
        // A row written before mtime_ns existed: seconds decide.
        assert!(t.matches(&row(Some(1_700_000_000), None)));
        assert!(!t.matches(&row(Some(1_699_999_999), None)));
        assert!(!t.matches(&row(None, None)));
    }
}
