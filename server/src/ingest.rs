//! `shihua index DIR`: walk a photo folder, decode + preprocess on a thread pool while the
//! model encodes the previous batch, insert into Milvus in batches (300 by default, as in the
//! reference), build the index, load, and summarise. A photo that cannot be read is reported
//! and skipped; it never aborts the run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::clip::preprocess::{self, PreprocessSpec, DEFAULT_MAX_PIXELS};
use crate::clip::ClipEncoder;
use crate::store::{MilvusStore, NewRow};

/// Extensions indexed by default (case-insensitive).
pub const DEFAULT_EXTS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub root: PathBuf,
    pub exts: Vec<String>,
    /// Rows per Milvus insert.
    pub batch_size: usize,
    /// Images per model call.
    pub encode_batch: usize,
    pub recreate: bool,
    pub include_hidden: bool,
    /// Show the progress bar (off in tests and when stderr is not a terminal).
    pub progress: bool,
}

impl IndexOptions {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            exts: DEFAULT_EXTS.iter().map(|s| s.to_string()).collect(),
            batch_size: 300,
            encode_batch: 16,
            recreate: false,
            include_hidden: false,
            progress: true,
        }
    }
}

/// What one run did.
#[derive(Debug, Default)]
pub struct IndexSummary {
    pub found: usize,
    pub indexed: usize,
    pub failed: Vec<(PathBuf, String)>,
    pub rows_in_collection: u64,
    pub wall: Duration,
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
        writeln!(f, "found:    {}", self.found)?;
        writeln!(f, "indexed:  {}", self.indexed)?;
        writeln!(f, "failed:   {}", self.failed.len())?;
        for (p, why) in &self.failed {
            writeln!(f, "  - {}: {why}", p.display())?;
        }
        writeln!(f, "rows in collection: {}", self.rows_in_collection)?;
        write!(
            f,
            "wall time: {:.1} s, {:.1} images/s",
            self.wall.as_secs_f64(),
            self.images_per_second()
        )
    }
}

/// Photo files under `opts.root`, sorted. Symlink loops and unreadable entries are skipped.
pub fn walk(opts: &IndexOptions) -> anyhow::Result<(Vec<PathBuf>, Vec<(PathBuf, String)>)> {
    let root = opts
        .root
        .canonicalize()
        .with_context(|| format!("photo folder {} cannot be opened", opts.root.display()))?;
    anyhow::ensure!(root.is_dir(), "{} is not a folder", root.display());
    let exts: Vec<String> = opts.exts.iter().map(|e| e.trim_start_matches('.').to_ascii_lowercase()).collect();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let walker = walkdir::WalkDir::new(&root).follow_links(true).into_iter().filter_entry(|e| {
        opts.include_hidden || e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
    });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let ok = e
                    .path()
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| exts.contains(&x.to_ascii_lowercase()));
                if ok {
                    files.push(e.into_path());
                }
            }
            Ok(_) => {}
            Err(err) => {
                let p = err.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                problems.push((p, err.to_string()));
            }
        }
    }
    files.sort();
    Ok((files, problems))
}

/// A photo ready for the model.
struct Prepared {
    path: PathBuf,
    tensor: Vec<f32>,
    extra: Map<String, Value>,
}

fn prepare(path: &Path, spec: &PreprocessSpec, model: &str, max_path: usize) -> Result<Prepared, String> {
    let shown = path.to_string_lossy();
    if shown.len() > max_path {
        return Err(format!(
            "path is {} bytes, longer than the collection's {max_path}-byte filepath field",
            shown.len()
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let (tensor, decoded) =
        preprocess::preprocess_bytes(&bytes, spec, DEFAULT_MAX_PIXELS).map_err(|e| e.to_string())?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut extra = Map::new();
    extra.insert("sha256".into(), json!(hex::encode(Sha256::digest(&bytes))));
    extra.insert("mtime".into(), json!(mtime));
    extra.insert("size".into(), json!(bytes.len()));
    extra.insert("width".into(), json!(decoded.width));
    extra.insert("height".into(), json!(decoded.height));
    extra.insert("model".into(), json!(model));
    Ok(Prepared { path: path.to_path_buf(), tensor, extra })
}

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
    store.ensure_collection(opts.recreate).await?;
    let (files, problems) = walk(&opts)?;
    let mut summary = IndexSummary { found: files.len(), failed: problems, ..Default::default() };

    let bar = if opts.progress { ProgressBar::new(files.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .expect("valid progress template"),
    );

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(opts.batch_size.max(1) * 2);
    let max_path = store.config().path_max_len as usize;
    let worker = {
        let encoder = encoder.clone();
        let encode_batch = opts.encode_batch.max(1);
        tokio::task::spawn_blocking(move || encode_all(encoder, files, encode_batch, max_path, tx))
    };

    let mut pending: Vec<NewRow> = Vec::with_capacity(opts.batch_size);
    let mut batch_start = Instant::now();
    while let Some(item) = rx.recv().await {
        match item {
            Item::Row(row) => pending.push(row),
            Item::Failed(p, why) => {
                bar.println(format!("skipped {}: {why}", p.display()));
                summary.failed.push((p, why));
                bar.inc(1);
            }
        }
        if pending.len() >= opts.batch_size {
            summary.indexed += insert_batch(&store, &mut pending, &bar, batch_start).await?;
            batch_start = Instant::now();
        }
    }
    if !pending.is_empty() {
        summary.indexed += insert_batch(&store, &mut pending, &bar, batch_start).await?;
    }
    worker.await.context("encoder thread")??;
    bar.finish_and_clear();

    store.flush().await?;
    store.build_index_and_load().await?;
    summary.rows_in_collection = store.count().await?;
    summary.wall = start.elapsed();
    Ok(summary)
}

async fn insert_batch(
    store: &MilvusStore,
    pending: &mut Vec<NewRow>,
    bar: &ProgressBar,
    batch_start: Instant,
) -> anyhow::Result<usize> {
    let rows = std::mem::take(pending);
    let n = rows.len();
    store.insert(rows).await.context("inserting a batch into Milvus")?;
    bar.inc(n as u64);
    bar.set_message(format!("batch {:.1}s", batch_start.elapsed().as_secs_f64()));
    Ok(n)
}

/// Runs on a blocking thread: a scoped preparer thread decodes batch i+1 (in parallel, on
/// rayon's pool) while this thread runs the model on batch i.
fn encode_all(
    encoder: Arc<ClipEncoder>,
    files: Vec<PathBuf>,
    encode_batch: usize,
    max_path: usize,
    tx: tokio::sync::mpsc::Sender<Item>,
) -> anyhow::Result<()> {
    let spec = encoder.preprocess_spec().clone();
    let model = encoder.spec().id.clone();
    let (ptx, prx) = std::sync::mpsc::sync_channel::<Vec<Result<Prepared, (PathBuf, String)>>>(2);
    std::thread::scope(|s| {
        s.spawn(move || {
            for chunk in files.chunks(encode_batch) {
                let prepared: Vec<_> = chunk
                    .par_iter()
                    .map(|p| prepare(p, &spec, &model, max_path).map_err(|e| (p.clone(), e)))
                    .collect();
                if ptx.send(prepared).is_err() {
                    break;
                }
            }
        });
        for batch in prx {
            let mut ok = Vec::new();
            for item in batch {
                match item {
                    Ok(p) => ok.push(p),
                    Err((p, why)) => {
                        if tx.blocking_send(Item::Failed(p, why)).is_err() {
                            return Ok(());
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
            match encoder.embed_pixels(pixels, n) {
                Ok(vectors) => {
                    for (p, vector) in ok.into_iter().zip(vectors) {
                        let row = NewRow {
                            vector,
                            filepath: p.path.to_string_lossy().into_owned(),
                            extra: p.extra,
                        };
                        if tx.blocking_send(Item::Row(row)).is_err() {
                            return Ok(());
                        }
                    }
                }
                Err(e) => {
                    for p in ok {
                        if tx.blocking_send(Item::Failed(p.path, format!("model: {e}"))).is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    })
}
