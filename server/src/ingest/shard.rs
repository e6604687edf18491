//! Sharded indexing: `shihua index DIR --shard I/N` lets N processes (on one machine or many)
//! index one shared photo tree into one Milvus server at the same time, each taking the
//! photos of its own shard. Owns the shard of a path, the dedup pass, and the end of a
//! `--shard` run (`finish`).
//!
//! **Which shard a photo belongs to** is a pure function of its path relative to DIR, so it
//! is the same on every machine and in every run: the first 8 bytes of the SHA-256 of the
//! relative path's bytes (UTF-8 for UTF-8 names; `/` separators, no leading `./`), read as a
//! big-endian `u64`, modulo N. Shards are numbered from 0 (`0/3`, `1/3`, `2/3`). Every
//! machine must see the tree under the same absolute path, because rows store absolute paths.
//!
//! **Why the end state is one row per photo**, whatever the workers do (start together, run
//! the same shard twice by mistake, get killed with SIGKILL and restarted):
//! - a worker inserts a photo's new row before it deletes the row it replaces, so a photo
//!   never has zero rows;
//! - a path's duplicate rows are reduced to the one with the largest id ([`dedup`]): the
//!   largest id is never deleted by anyone (no worker can see a larger one that does not
//!   exist), so concurrent dedup passes converge instead of deleting each other's rows;
//! - every worker runs that pass over its own shard's paths before it plans (cleaning up
//!   after a killed run) and again after its last insert (cleaning up after a worker that
//!   overlapped it), and the index build runs it over the whole collection. The last worker
//!   of an overlapping pair to finish therefore leaves one row per path; a worker killed
//!   after inserting leaves duplicates only until it (or `shihua collection index`) runs again.
//!
//! **`--prune` with `--shard`** deletes only rows of the worker's own shard whose file is
//! gone. That is safe: no other worker writes rows of that shard (unless it is the same
//! shard, whose file is gone for it too), and a path's shard never changes.
//!
//! **The index is built once**: a worker builds it (with the dedup pass over every path) only
//! when every photo of the tree has a row when it finishes, i.e. when it is the last worker;
//! the others say how many photos of other shards are still missing. `shihua collection
//! index` builds it on its own, e.g. when a shard has photos that cannot be read.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::{IndexOptions, IndexSummary, ShardOutcome};
use crate::store::{IndexedFile, MilvusStore, StoreError};

/// One shard of N: `index` in `0..count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N` with `0 <= I < N`, e.g. `0/3`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("--shard takes I/N with 0 <= I < N (e.g. 0/3), not '{s}'");
        let (i, n) = s.trim().split_once('/').ok_or_else(usage)?;
        let index: u32 = i.trim().parse().map_err(|_| usage())?;
        let count: u32 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

/// The shard (of `count`) of a path relative to the photo root: SHA-256 of its bytes, first 8
/// bytes big-endian, modulo `count`.
pub fn shard_of(relative: &Path, count: u32) -> u32 {
    let digest = Sha256::digest(relative.as_os_str().as_bytes());
    let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (head % u64::from(count.max(1))) as u32
}

impl Shard {
    /// True when `path` (absolute, under the canonical `root`) belongs to this shard. Paths
    /// outside `root` belong to no shard.
    pub fn contains(&self, root: &Path, path: &Path) -> bool {
        path.strip_prefix(root)
            .is_ok_and(|rel| shard_of(rel, self.count) == self.index)
    }

    /// The files of this shard, in their order.
    pub fn select(&self, root: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
        files
            .iter()
            .filter(|p| self.contains(root, p))
            .cloned()
            .collect()
    }
}

/// The ids to delete so that every path accepted by `keep_path` has one row, the one with the
/// largest id (the newest: Milvus allocates auto ids in increasing order).
pub fn duplicate_ids(rows: &[IndexedFile], keep_path: impl Fn(&str) -> bool) -> Vec<i64> {
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for r in rows.iter().filter(|r| keep_path(&r.filepath)) {
        let e = newest.entry(r.filepath.as_str()).or_insert(r.id);
        *e = (*e).max(r.id);
    }
    rows.iter()
        .filter(|r| {
            newest
                .get(r.filepath.as_str())
                .is_some_and(|&max| max != r.id)
        })
        .map(|r| r.id)
        .collect()
}

/// Reduces every path accepted by `keep_path` to its newest row; returns how many rows it
/// deleted.
pub async fn dedup(
    store: &MilvusStore,
    keep_path: impl Fn(&str) -> bool,
) -> Result<usize, StoreError> {
    let rows = store.list_indexed().await?;
    let ids = duplicate_ids(&rows, keep_path);
    if !ids.is_empty() {
        store.delete_ids(&ids).await?;
    }
    Ok(ids.len())
}

/// How many of `files` have no row in the collection, not counting `failed` (the photos this
/// worker could not read: they will never have one).
pub async fn missing_rows(
    store: &MilvusStore,
    files: &[PathBuf],
    failed: &HashSet<String>,
) -> Result<usize, StoreError> {
    let rows = store.list_indexed().await?;
    let have: HashSet<&str> = rows.iter().map(|r| r.filepath.as_str()).collect();
    Ok(files
        .iter()
        .map(|p| p.to_string_lossy())
        .filter(|p| !have.contains(p.as_ref()) && !failed.contains(p.as_ref()))
        .count())
}

/// The end of a `--shard` run: reduce this shard's paths to one row each (a worker on the same
/// shard may have inserted them too), then, if every photo of the tree has a row, this was the
/// last worker: reduce every path under the root to one row and build + load the index.
pub(super) async fn finish(
    store: &MilvusStore,
    opts: &IndexOptions,
    shard: Shard,
    tree: &[PathBuf],
    summary: &mut IndexSummary,
) -> anyhow::Result<()> {
    let root = opts.root.canonicalize()?;
    summary.duplicates_removed += dedup(store, |p| shard.contains(&root, Path::new(p)))
        .await
        .context("removing duplicate rows of this shard")?;
    let failed: HashSet<String> = summary
        .failed
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    let missing = missing_rows(store, tree, &failed).await?;
    if missing == 0 {
        summary.duplicates_removed += dedup(store, |p| Path::new(p).starts_with(&root))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_i_of_n_and_refuses_the_rest() {
        assert_eq!("0/3".parse(), Ok(Shard { index: 0, count: 3 }));
        assert_eq!(" 2 / 3 ".parse(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "1/0", "-1/3", "1", "a/b", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_hash_is_sha256_of_the_relative_path_and_never_changes() {
        // sha256("a/b.jpg") starts with these 8 bytes; pinned so that a change of the function
        // (which would move photos between shards of a running job) fails here.
        let digest = Sha256::digest(b"a/b.jpg");
        let head = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(shard_of(Path::new("a/b.jpg"), 1000), (head % 1000) as u32);
        assert_eq!(
            shard_of(Path::new("a/b.jpg"), 7),
            shard_of(Path::new("a/b.jpg"), 7)
        );
        assert_eq!(
            format!("{:016x}", head),
            hex::encode(&digest[..8]),
            "big-endian reading of the first 8 bytes"
        );
        assert_eq!(shard_of(Path::new("anything"), 1), 0);
    }

    #[test]
    fn shards_split_a_tree_evenly_and_without_overlap() {
        let root = Path::new("/photos");
        let files: Vec<PathBuf> = (0..3000)
            .map(|i| root.join(format!("d{}/IMG_{i:05}.jpg", i % 7)))
            .collect();
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let picked: Vec<Vec<PathBuf>> = shards.iter().map(|s| s.select(root, &files)).collect();
        let total: usize = picked.iter().map(Vec::len).sum();
        assert_eq!(total, files.len(), "every photo in exactly one shard");
        let all: HashSet<&PathBuf> = picked.iter().flatten().collect();
        assert_eq!(all.len(), files.len());
        for p in &picked {
            assert!((850..=1150).contains(&p.len()), "uneven: {}", p.len());
        }
        assert!(!shards[0].contains(root, Path::new("/elsewhere/x.jpg")));
    }

    fn row(id: i64, path: &str) -> IndexedFile {
        IndexedFile {
            id,
            filepath: path.into(),
            size: None,
            mtime: None,
            mtime_ns: None,
            sha256: None,
        }
    }

    #[test]
    fn duplicates_keep_the_largest_id_of_accepted_paths_only() {
        let rows = [
            row(5, "/p/a"),
            row(9, "/p/a"),
            row(7, "/p/a"),
            row(3, "/p/b"),
            row(4, "/q/c"),
            row(8, "/q/c"),
        ];
        let mut ids = duplicate_ids(&rows, |p| p.starts_with("/p/"));
        ids.sort();
        assert_eq!(ids, vec![5, 7]);
        let mut all = duplicate_ids(&rows, |_| true);
        all.sort();
        assert_eq!(all, vec![4, 5, 7]);
    }
}
