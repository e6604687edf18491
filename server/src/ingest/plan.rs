//! Change planning: compares the folder with the collection and decides what a run does.
//! An unchanged photo (same size and mtime, to the nanosecond where the row has `mtime_ns`, or
//! same content) is skipped; a changed one is re-encoded and its old row replaced; rows left
//! twice for one path by an interrupted run are reduced to the newest; with `--prune`, rows
//! whose file is gone are deleted (a watcher's pass: only under its changed paths). A
//! `--shard` worker touches only its own shard's rows.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::prepare::Mtime;
use super::read::read_stable;
use super::{IndexOptions, IndexSummary};
use crate::store::{IndexedFile, MilvusStore};

/// What a run has to do, after comparing the folder with the collection.
pub(super) struct Plan {
    pub todo: Vec<PathBuf>,
    /// Path → ids of the rows a new row for it replaces.
    pub replaces: HashMap<String, Vec<i64>>,
}

pub(super) async fn plan(
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
    summary.duplicates_removed = delete(store, &dupes, "deleting duplicate rows").await?;

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
        // A watcher's pass prunes only under the paths it was given.
        let in_paths = |p: &str| {
            opts.scope.is_empty() || opts.scope.iter().any(|s| Path::new(p).starts_with(s))
        };
        let gone: Vec<i64> = by_path
            .iter()
            .filter(|(p, _)| {
                !seen.contains(*p)
                    && Path::new(p).starts_with(&root)
                    && in_scope(p)
                    && in_paths(p)
                    && !Path::new(p).exists()
            })
            .flat_map(|(_, rows)| rows.iter().map(|r| r.id))
            .collect();
        summary.pruned = delete(store, &gone, "pruning rows of deleted photos").await?;
    }
    Ok(Plan { todo, replaces })
}

/// Deletes the rows `ids` (no call when there are none) and returns how many; `doing` says
/// what for, in the error.
async fn delete(store: &MilvusStore, ids: &[i64], doing: &'static str) -> anyhow::Result<usize> {
    if !ids.is_empty() {
        store.delete_ids(ids).await.context(doing)?;
    }
    Ok(ids.len())
}
