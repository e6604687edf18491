//! Uploaded query pictures, kept so that `/?img=<id>` can be shared: the picture's embedding
//! and a small JPEG preview, keyed by a content hash (the same upload gets the same id and is
//! not encoded twice). Recent ones live in memory; with a folder they are also written to disk
//! and survive restarts for `TTL` (a week), after which they are pruned.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lru::LruCache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a shared query picture stays available.
pub const TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Hex digits of the content hash used as id.
const ID_LEN: usize = 20;
/// Query pictures kept in memory.
const IN_MEMORY: usize = 256;
/// Prune expired files every this many new pictures.
const PRUNE_EVERY: u64 = 100;

#[derive(Clone)]
struct Entry {
    vector: Arc<Vec<f32>>,
    preview: Arc<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct VectorFile {
    model: String,
    vector: Vec<f32>,
}

pub struct QueryImages {
    /// Model id the vectors belong to: a vector from another model is never used.
    model: String,
    dir: Option<PathBuf>,
    recent: Mutex<LruCache<String, Entry>>,
    added: std::sync::atomic::AtomicU64,
}

impl QueryImages {
    /// Memory only (tests, the CLI).
    pub fn in_memory(model: &str) -> Self {
        QueryImages {
            model: model.to_string(),
            dir: None,
            recent: Mutex::new(LruCache::new(NonZeroUsize::new(IN_MEMORY).unwrap())),
            added: Default::default(),
        }
    }

    /// Memory plus `dir` (created), pruning expired files now.
    pub fn on_disk(model: &str, dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let store = QueryImages {
            dir: Some(dir),
            ..Self::in_memory(model)
        };
        store.prune();
        Ok(store)
    }

    /// The id of an upload: a prefix of its SHA-256.
    pub fn id_for(bytes: &[u8]) -> String {
        let digest = hex::encode(Sha256::digest(bytes));
        digest[..ID_LEN].to_string()
    }

    /// Ids are lowercase hex of a fixed length; anything else (paths, dots) is refused here.
    pub fn valid_id(id: &str) -> bool {
        id.len() == ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    pub fn put(&self, id: &str, vector: Vec<f32>, preview: Vec<u8>) {
        if !Self::valid_id(id) {
            return;
        }
        if let Some(dir) = &self.dir {
            let file = VectorFile {
                model: self.model.clone(),
                vector: vector.clone(),
            };
            // Best effort: a full disk costs only the sharing after a restart.
            if let Err(e) = write_atomic(
                &dir.join(format!("{id}.json")),
                &serde_json::to_vec(&file).unwrap_or_default(),
            )
            .and_then(|_| write_atomic(&dir.join(format!("{id}.jpg")), &preview))
            {
                tracing::warn!("could not keep query picture {id} on disk: {e}");
            }
        }
        self.recent.lock().unwrap().put(
            id.to_string(),
            Entry {
                vector: Arc::new(vector),
                preview: Arc::new(preview),
            },
        );
        let n = self
            .added
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if n.is_multiple_of(PRUNE_EVERY) {
            self.prune();
        }
    }

    /// The embedding of query picture `id`, if it is still kept.
    pub fn vector(&self, id: &str) -> Option<Arc<Vec<f32>>> {
        self.entry(id).map(|e| e.vector)
    }

    /// The JPEG preview of query picture `id`, if it is still kept.
    pub fn preview(&self, id: &str) -> Option<Arc<Vec<u8>>> {
        self.entry(id).map(|e| e.preview)
    }

    fn entry(&self, id: &str) -> Option<Entry> {
        if !Self::valid_id(id) {
            return None;
        }
        if let Some(e) = self.recent.lock().unwrap().get(id) {
            return Some(e.clone());
        }
        let dir = self.dir.as_ref()?;
        let json = dir.join(format!("{id}.json"));
        if expired(&json) {
            return None;
        }
        let file: VectorFile = serde_json::from_slice(&std::fs::read(&json).ok()?).ok()?;
        if file.model != self.model {
            return None;
        }
        let preview = std::fs::read(dir.join(format!("{id}.jpg"))).ok()?;
        let entry = Entry {
            vector: Arc::new(file.vector),
            preview: Arc::new(preview),
        };
        self.recent
            .lock()
            .unwrap()
            .put(id.to_string(), entry.clone());
        Some(entry)
    }

    /// Deletes files older than `TTL`.
    pub fn prune(&self) {
        let Some(dir) = &self.dir else { return };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if expired(&path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

fn expired(path: &Path) -> bool {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    age.is_none_or(|a| a > TTL)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_content_hashes_and_nothing_else_is_accepted() {
        let id = QueryImages::id_for(b"picture");
        assert!(QueryImages::valid_id(&id));
        assert_eq!(id, QueryImages::id_for(b"picture"));
        assert_ne!(id, QueryImages::id_for(b"other"));
        for bad in [
            "../../etc/passwd",
            "",
            "ABCDEF0123456789ABCD",
            "0123456789abcdef012.",
            &id[..10],
        ] {
            assert!(!QueryImages::valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn pictures_survive_a_restart_but_not_a_model_change() {
        let tmp = tempfile::tempdir().unwrap();
        let id = QueryImages::id_for(b"x");
        let a = QueryImages::on_disk("m1", tmp.path().to_path_buf()).unwrap();
        a.put(&id, vec![0.6, 0.8], vec![1, 2, 3]);
        assert_eq!(*a.vector(&id).unwrap(), vec![0.6, 0.8]);

        let b = QueryImages::on_disk("m1", tmp.path().to_path_buf()).unwrap();
        assert_eq!(*b.vector(&id).unwrap(), vec![0.6, 0.8]);
        assert_eq!(*b.preview(&id).unwrap(), vec![1, 2, 3]);

        let other = QueryImages::on_disk("m2", tmp.path().to_path_buf()).unwrap();
        assert!(other.vector(&id).is_none());
    }

    #[test]
    fn expired_files_are_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        let id = QueryImages::id_for(b"old");
        let a = QueryImages::on_disk("m", tmp.path().to_path_buf()).unwrap();
        a.put(&id, vec![1.0], vec![9]);
        let old = SystemTime::now() - TTL - Duration::from_secs(60);
        for ext in ["json", "jpg"] {
            let f = std::fs::File::options()
                .write(true)
                .open(tmp.path().join(format!("{id}.{ext}")))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        let b = QueryImages::on_disk("m", tmp.path().to_path_buf()).unwrap();
        assert!(b.vector(&id).is_none());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
