//! What an indexing run shows: its progress bar while it runs ([`progress_bar`], also used by
//! `shihua poems index`), and what it did ([`IndexSummary`]: found, indexed, unchanged,
//! replaced, pruned, duplicates removed, failed, what a `--shard` worker did about the index,
//! where the time went) and how `shihua index` prints it.

use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::shard::Shard;

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
    /// Photos left out because they changed too recently ([`IndexOptions::settle`]).
    ///
    /// [`IndexOptions::settle`]: super::IndexOptions::settle
    pub deferred: Vec<PathBuf>,
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

/// A progress bar over `len` items in the `indicatif` `template`, drawn when `shown` (else
/// hidden: tests, or stderr not a terminal).
pub fn progress_bar(len: usize, shown: bool, template: &str) -> ProgressBar {
    let bar = if shown {
        ProgressBar::new(len as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid progress template"));
    bar
}

/// A file that was skipped, and why.
pub type Skipped = (PathBuf, String);
