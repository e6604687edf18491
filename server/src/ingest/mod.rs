//! `shihua index DIR`: walk a photo folder, decode + preprocess on a thread pool while the
//! model encodes the previous batch, insert into Milvus in batches (300 by default, as in the
//! reference), build the index, load, and summarise. A photo that cannot be read is reported
//! and skipped; it never aborts the run.
//!
//! This module owns the options and the run from start to end ([`index_folder`]); the steps
//! are the files beside it: `scan` (the folder's photo files), `plan` (what changed since the
//! last run), `read` (one photo read whole and stable), `prepare` (a photo made into a tensor
//! and its row's fields), `pipeline` (decode beside the model, insert in batches), `summary`
//! (what the run did) and `shard` (`--shard I/N`: several workers on one tree).
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
//! several workers can index one tree into one Milvus server at once; `shard` owns the shard
//! selection and the rules that make their end state one row per photo.

mod pipeline;
mod plan;
mod prepare;
pub mod progress;
mod read;
mod scan;
pub mod shard;
mod summary;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::clip::ClipEncoder;
use crate::store::MilvusStore;

pub use self::pipeline::TEST_PAUSE_ENV;
pub use self::progress::{IndexProgress, Meter, ProgressReport, Reporter};
#[doc(hidden)]
pub use self::read::ReadHook;
pub use self::scan::walk;
pub use self::shard::Shard;
pub use self::summary::{progress_bar, IndexSummary, ShardOutcome, Skipped, TimeSpent};

/// Extensions indexed by default (case-insensitive).
pub const DEFAULT_EXTS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "gif"];

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
    /// Index only this shard of the tree (`--shard I/N`, see `shard`); `None`: all.
    pub shard: Option<Shard>,
    /// Only these paths under the root (the watcher's changed files and folders): each is
    /// walked if a folder, taken if a photo, and `prune` deletes only rows under them. Empty:
    /// the whole root.
    pub scope: Vec<PathBuf>,
    /// Photos changed less than this long ago (its ctime: still being copied?) are left
    /// out of the run and listed in [`IndexSummary::deferred`]; `None`: take every photo.
    pub settle: Option<Duration>,
    /// Told how far the run has got (the site's progress bar).
    pub report: Option<Reporter>,
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
            scope: Vec::new(),
            settle: None,
            report: None,
        }
    }
}

/// Index every photo under `opts.root` into the collection.
pub async fn index_folder(
    encoder: Arc<ClipEncoder>,
    store: Arc<MilvusStore>,
    opts: IndexOptions,
) -> anyhow::Result<IndexSummary> {
    run(encoder, store, opts, None).await
}

/// Test-only: [`index_folder`] with `hook` run before each read attempt of a photo (after it
/// is opened), so a test can change, replace or delete the file at exactly that moment.
#[doc(hidden)]
pub async fn index_folder_with_read_hook(
    encoder: Arc<ClipEncoder>,
    store: Arc<MilvusStore>,
    opts: IndexOptions,
    hook: ReadHook,
) -> anyhow::Result<IndexSummary> {
    run(encoder, store, opts, Some(hook)).await
}

async fn run(
    encoder: Arc<ClipEncoder>,
    store: Arc<MilvusStore>,
    opts: IndexOptions,
    hook: Option<ReadHook>,
) -> anyhow::Result<IndexSummary> {
    let start = Instant::now();
    let (files, problems) = walk(&opts)?;
    let (files, deferred) = match opts.settle {
        Some(settle) => files.into_iter().partition(|p| settled(p, settle)),
        None => (files, Vec::new()),
    };
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
        deferred,
        ..Default::default()
    };
    let plan = plan::plan(&store, &opts, files, &mut summary).await?;
    pipeline::encode_and_insert(encoder, &store, &opts, plan, hook, &mut summary).await?;

    // A watcher's pass that changed nothing leaves the collection as it is.
    let changed = summary.indexed + summary.pruned + summary.duplicates_removed > 0;
    if opts.scope.is_empty() || changed {
        let start_store = Instant::now();
        store.flush().await?;
        match opts.shard {
            None => store.build_index_and_load().await?,
            Some(s) => shard::finish(&store, &opts, s, &tree, &mut summary).await?,
        }
        summary.time.store += start_store.elapsed();
    }
    summary.rows_in_collection = store.count().await?;
    summary.wall = start.elapsed();
    Ok(summary)
}

/// How long an empty photo file may wait for its bytes before it is read (and reported).
const EMPTY_GRACE: Duration = Duration::from_secs(60);

/// Whether `path` has not changed for `settle`: its ctime (which every write, rename or
/// `touch` sets to the kernel's clock, unlike the mtime a copy may preserve or a user may set
/// in the future) is that old. A photo still being copied changes all the time; an empty one
/// (created, its bytes not written yet: a copy held up on a busy machine) waits up to
/// `EMPTY_GRACE`. One that cannot be read counts as settled (the run reports it).
fn settled(path: &std::path::Path, settle: Duration) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return true;
    };
    let ctime = Duration::new(
        m.ctime().max(0) as u64,
        m.ctime_nsec().clamp(0, 999_999_999) as u32,
    );
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let age = now.saturating_sub(ctime);
    age >= settle && (m.len() > 0 || age >= EMPTY_GRACE)
}
