//! The two-stage pipeline that turns the planned photos into rows: on a blocking thread, a
//! scoped preparer thread reads and decodes encode batch i+1 (in parallel, on rayon's pool)
//! while the model encodes batch i; on the async side, rows are collected into insert batches
//! of `batch_size` and inserted, each followed by the delete of the rows it replaces. A photo
//! that fails is reported and skipped. Also the progress bar and where the time went.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::plan::Plan;
use super::prepare::{prepare, Prepared, RowModel};
use super::progress::Reporter;
use super::read::ReadHook;
use super::summary::progress_bar;
use super::{IndexOptions, IndexSummary, Skipped, TimeSpent};
use crate::clip::ClipEncoder;
use crate::store::{MilvusStore, NewRow};

/// Encodes the planned photos and inserts their rows (replacing the rows they replace),
/// counting into `summary`; the progress bar shows while it runs when `opts.progress`.
pub(super) async fn encode_and_insert(
    encoder: Arc<ClipEncoder>,
    store: &MilvusStore,
    opts: &IndexOptions,
    plan: Plan,
    hook: Option<ReadHook>,
    summary: &mut IndexSummary,
) -> anyhow::Result<()> {
    let files = plan.todo;
    let replaces = plan.replaces;
    let report = opts.report.clone();
    if let Some(r) = &report {
        r.0.planned(files.len());
    }
    let bar = progress_bar(
        files.len(),
        opts.progress,
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}",
    );

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(opts.batch_size.max(1) * 2);
    let max_path = store.path_limit() as usize;
    let worker = {
        let encode_batch = opts.encode_batch.max(1);
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
        store,
        pending: Vec::with_capacity(opts.batch_size),
        batch_size: opts.batch_size.max(1),
        replaces,
        bar: &bar,
        report: report.clone(),
        batch_start: Instant::now(),
        spent: Duration::ZERO,
    };
    while let Some(item) = rx.recv().await {
        match item {
            Item::Row(row) => inserter.push(row, summary).await?,
            Item::Failed(p, why) => {
                bar.println(format!("skipped {}: {why}", p.display()));
                if let Some(r) = &report {
                    r.0.failed(&p, &why);
                }
                summary.failed.push((p, why));
                bar.inc(1);
            }
        }
    }
    inserter.flush(summary).await?;
    summary.time = worker.await.context("encoder thread")?;
    summary.time.store = inserter.spent;
    bar.finish_and_clear();
    Ok(())
}

/// One encode batch from the preparer thread: prepared photos, or why a photo failed.
type PreparedBatch = Vec<Result<Prepared, Skipped>>;

enum Item {
    Row(NewRow),
    Failed(PathBuf, String),
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
    report: Option<Reporter>,
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
        if let Some(r) = &self.report {
            r.0.indexed(n);
        }
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
