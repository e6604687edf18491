//! Watch folders (`shihua serve --watch DIR`): photos added, changed, renamed or deleted
//! under a watched folder are indexed or removed within seconds, by the same code and rules
//! as `shihua index --prune` (`crate::ingest`: skip unchanged, replace changed, one row per
//! photo, bad files reported and skipped).
//!
//! One task owns it all, so only one indexing pass runs at a time: at start a full pass of
//! every root (catching what changed while the server was down), then a pass over the paths
//! that changed ([`dirty`]) whenever some are due. A path is due once it has been quiet for
//! the settle time (the debouncer, [`events`]); a photo whose ctime is more recent than that
//! (still being copied) is left out of its pass and listed again for later. A pass that fails
//! (Milvus unavailable, e.g. while the watchdog restarts Milvus Lite) puts its paths back and
//! is tried again, waiting longer each time (up to 30 s), so the watcher catches up once
//! Milvus is back. A root that cannot be watched (the inotify limit) is rescanned every
//! `rescan_every` instead.

pub mod dirty;
pub mod events;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::dirty::Dirty;
use self::events::Heard;
use crate::clip::ClipEncoder;
use crate::ingest::{self, IndexOptions, IndexSummary, Meter, Reporter, Skipped};
use crate::store::MilvusStore;

/// Names the test knob that makes every root fail to be watched as if the inotify limit had
/// been reached (server/tests/watch.rs). Not a user setting.
pub const TEST_LIMIT_ENV: &str = "SHIHUA_TEST_WATCH_LIMIT";

/// The longest wait between two tries of a pass that failed.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How many failed photos [`WatchStatus::failed`] keeps (the newest).
const KEEP_FAILED: usize = 100;

/// How the watcher works.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// The folders watched (recursively).
    pub roots: Vec<PathBuf>,
    /// What every pass takes from `shihua index`'s options: extensions, hidden files, batch
    /// sizes, decode threads (its root, scope, prune and settle are the watcher's).
    pub index: IndexOptions,
    /// How long a path must be quiet before it is read.
    pub settle: Duration,
    /// How often a root that cannot be watched is rescanned.
    pub rescan_every: Duration,
    /// The first wait before a failed pass is tried again (doubling up to 30 s).
    pub retry_after: Duration,
    /// Behave as if the system's watch limit were reached (tests).
    pub simulate_limit: bool,
}

impl WatchOptions {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let mut index = IndexOptions::new(PathBuf::new());
        index.progress = false;
        WatchOptions {
            roots,
            index,
            settle: Duration::from_secs(2),
            rescan_every: Duration::from_secs(300),
            retry_after: Duration::from_secs(1),
            simulate_limit: std::env::var_os(TEST_LIMIT_ENV).is_some_and(|v| !v.is_empty()),
        }
    }
}

/// What the watcher has done since it started (for tests and logs).
#[derive(Clone, Debug, Default)]
pub struct WatchStatus {
    /// Passes finished (the start-up pass included).
    pub passes: u64,
    /// Passes that failed (and were tried again).
    pub failed_passes: u64,
    pub indexed: u64,
    /// Of `indexed`: photos that replaced the row of an older version.
    pub replaced: u64,
    /// Rows deleted because their photo is gone.
    pub pruned: u64,
    /// Photos that could not be indexed (the newest `KEEP_FAILED`).
    pub failed: Vec<Skipped>,
    /// Roots rescanned periodically (they could not be watched).
    pub polling: Vec<PathBuf>,
    /// Paths waiting for a pass.
    pub pending: usize,
    /// The start-up pass has finished.
    pub started: bool,
    /// The last pass failed with this.
    pub last_error: Option<String>,
}

impl WatchStatus {
    /// Nothing is waiting and the start-up pass is done.
    pub fn idle(&self) -> bool {
        self.started && self.pending == 0 && self.last_error.is_none()
    }
}

/// A running watcher; [`Watcher::stop`] ends it.
pub struct Watcher {
    task: JoinHandle<()>,
    stop: Arc<Notify>,
    status: Arc<Mutex<WatchStatus>>,
}

struct Ctx {
    encoder: Arc<ClipEncoder>,
    store: Arc<MilvusStore>,
    opts: WatchOptions,
    meter: Option<Arc<Meter>>,
    status: Arc<Mutex<WatchStatus>>,
}

impl Watcher {
    /// Checks the roots, starts watching them and spawns the task that indexes (its first
    /// pass is the full rescan). `meter` is told the progress (the site's bar).
    pub fn start(
        encoder: Arc<ClipEncoder>,
        store: Arc<MilvusStore>,
        mut opts: WatchOptions,
        meter: Option<Arc<Meter>>,
    ) -> anyhow::Result<Watcher> {
        let mut roots = Vec::new();
        for r in &opts.roots {
            let c = r
                .canonicalize()
                .with_context(|| format!("watch folder {} cannot be opened", r.display()))?;
            anyhow::ensure!(c.is_dir(), "watch folder {} is not a folder", c.display());
            roots.push(c);
        }
        // A root inside another is watched with it.
        roots.sort();
        roots.dedup();
        let inner: Vec<PathBuf> = roots
            .iter()
            .filter(|r| roots.iter().any(|o| o != *r && r.starts_with(o)))
            .cloned()
            .collect();
        roots.retain(|r| !inner.contains(r));
        opts.roots = roots;

        let (tx, rx) = mpsc::unbounded_channel();
        let (debouncer, failed) = events::start(&opts.roots, opts.settle, tx, opts.simulate_limit);
        let status = Arc::new(Mutex::new(WatchStatus::default()));
        for (root, why) in &failed {
            tracing::warn!("{}", events::limit_message(root, opts.rescan_every, why));
        }
        if let Ok(mut s) = status.lock() {
            s.polling = failed.into_iter().map(|(r, _)| r).collect();
        }
        for r in &opts.roots {
            tracing::info!(
                "watching {} for new, changed and deleted photos",
                r.display()
            );
        }
        let stop = Arc::new(Notify::new());
        let ctx = Ctx {
            encoder,
            store,
            opts,
            meter,
            status: status.clone(),
        };
        let task = tokio::spawn(run(ctx, rx, debouncer, stop.clone()));
        Ok(Watcher { task, stop, status })
    }

    /// What it has done so far.
    pub fn status(&self) -> WatchStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops watching (a pass under way is ended where it is: the next start's full pass
    /// finishes its work).
    pub async fn stop(self) {
        self.stop.notify_one();
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn run(
    ctx: Ctx,
    mut rx: mpsc::UnboundedReceiver<Heard>,
    _debouncer: Option<events::Debouncer>,
    stop: Arc<Notify>,
) {
    let opts = &ctx.opts;
    let mut dirty = Dirty::default();
    let start = Instant::now();
    for r in &opts.roots {
        dirty.add(r.clone(), start.into_std());
    }
    let mut next_poll = start + opts.rescan_every;
    let mut retry = opts.retry_after;
    let mut open = true;
    let linger = (opts.settle * 2).max(Duration::from_secs(1));
    let mut idle_since: Option<Instant> = None;
    // A pass failed and the progress says so (cleared by the next pass that works).
    let mut waiting = false;
    loop {
        while let Ok(h) = rx.try_recv() {
            heard(&ctx, &mut dirty, h);
        }
        let now = Instant::now();
        let polling = ctx
            .status
            .lock()
            .map(|s| s.polling.clone())
            .unwrap_or_default();
        if !polling.is_empty() && now >= next_poll {
            for r in polling.iter() {
                dirty.add(r.clone(), now.into_std());
            }
            next_poll = now + opts.rescan_every;
        }
        let due = dirty.take_due(now.into_std());
        if !due.is_empty() {
            idle_since = None;
            set_pending(&ctx, dirty.len() + due.len());
            match pass(&ctx, &due).await {
                Ok(deferred) => {
                    let later = Instant::now() + opts.settle;
                    for p in deferred {
                        dirty.add(p, later.into_std());
                    }
                    retry = opts.retry_after;
                    if let Some(m) = ctx.meter.as_ref().filter(|_| waiting) {
                        m.set_error(None);
                    }
                    waiting = false;
                }
                Err(e) => {
                    let msg = format!("{e:#}");
                    tracing::warn!(
                        "indexing changes in the watch folders failed ({msg}); trying again in {} s",
                        retry.as_secs_f32()
                    );
                    let at = Instant::now() + retry;
                    for p in due {
                        dirty.add(p, at.into_std());
                    }
                    retry = (retry * 2).min(MAX_RETRY);
                    waiting = true;
                    if let Some(m) = &ctx.meter {
                        m.set_error(Some(msg.clone()));
                    }
                    if let Ok(mut s) = ctx.status.lock() {
                        s.failed_passes += 1;
                        s.last_error = Some(msg);
                    }
                }
            }
            set_pending(&ctx, dirty.len());
            continue;
        }
        set_pending(&ctx, dirty.len());
        // The progress session ends once nothing has come for a while (a slow copy's next
        // photo may still be in the debouncer).
        let mut finish_at = None;
        if let Some(m) = ctx.meter.as_ref().filter(|m| m.snapshot().active) {
            if !dirty.is_empty() {
                idle_since = None;
            } else {
                let since = *idle_since.get_or_insert(now);
                if now >= since + linger {
                    m.finish();
                    idle_since = None;
                } else {
                    finish_at = Some(since + linger);
                }
            }
        }
        let wake = [
            dirty.next_due().map(Instant::from_std),
            (!polling.is_empty()).then_some(next_poll),
            finish_at,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            h = rx.recv(), if open => match h {
                Some(h) => heard(&ctx, &mut dirty, h),
                None => open = false,
            },
            _ = tokio::time::sleep_until(wake) => {}
            _ = stop.notified() => return,
        }
    }
}

fn set_pending(ctx: &Ctx, n: usize) {
    if let Ok(mut s) = ctx.status.lock() {
        s.pending = n;
    }
}

/// Lists what the debouncer reported.
fn heard(ctx: &Ctx, dirty: &mut Dirty, h: Heard) {
    let now = std::time::Instant::now();
    match h {
        Heard::Changed(paths) => {
            for p in paths {
                // Only paths under a root (events for the roots' parents are not ours).
                if ctx.opts.roots.iter().any(|r| p.starts_with(r)) {
                    dirty.add(p, now);
                }
            }
        }
        Heard::Rescan(roots) => {
            tracing::info!("change events were lost: rescanning the watch folders");
            for r in roots {
                dirty.add(r, now);
            }
        }
        Heard::Limit(root) => {
            let Ok(mut s) = ctx.status.lock() else {
                return;
            };
            if !s.polling.contains(&root) {
                tracing::warn!(
                    "{}",
                    events::limit_message(
                        &root,
                        ctx.opts.rescan_every,
                        "the system's limit on watched folders was reached"
                    )
                );
                s.polling.push(root.clone());
            }
            dirty.add(root, now);
        }
    }
}

/// One indexing pass over `due` (grouped by root), the `shihua index --prune` code scoped to
/// those paths. Returns the photos left for later (still changing).
async fn pass(ctx: &Ctx, due: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut deferred = Vec::new();
    for root in &ctx.opts.roots {
        let scope: Vec<PathBuf> = due
            .iter()
            .filter(|p| p.starts_with(root))
            .cloned()
            .collect();
        if scope.is_empty() {
            continue;
        }
        let mut opts = ctx.opts.index.clone();
        opts.root = root.clone();
        opts.scope = scope;
        opts.prune = true;
        opts.recreate = false;
        opts.shard = None;
        opts.progress = false;
        opts.settle = Some(ctx.opts.settle);
        opts.report = ctx
            .meter
            .clone()
            .map(|m| Reporter(m as Arc<dyn ingest::ProgressReport>));
        let summary = ingest::index_folder(ctx.encoder.clone(), ctx.store.clone(), opts).await?;
        note(ctx, root, &summary);
        deferred.extend(summary.deferred);
    }
    if let Ok(mut s) = ctx.status.lock() {
        s.passes += 1;
        s.started = true;
        s.last_error = None;
    }
    Ok(deferred)
}

/// Logs what a pass did and counts it.
fn note(ctx: &Ctx, root: &std::path::Path, s: &IndexSummary) {
    for (p, why) in &s.failed {
        tracing::warn!("watch: skipped {}: {why}", p.display());
    }
    if s.indexed + s.pruned + s.duplicates_removed + s.failed.len() > 0 {
        tracing::info!(
            "watch {}: {} indexed ({} replaced a changed photo), {} removed, {} failed; {} rows",
            root.display(),
            s.indexed,
            s.replaced,
            s.pruned + s.duplicates_removed,
            s.failed.len(),
            s.rows_in_collection
        );
    }
    let Ok(mut st) = ctx.status.lock() else {
        return;
    };
    st.indexed += s.indexed as u64;
    st.replaced += s.replaced as u64;
    st.pruned += s.pruned as u64;
    st.failed.extend(s.failed.iter().cloned());
    let over = st.failed.len().saturating_sub(KEEP_FAILED);
    st.failed.drain(..over);
}
