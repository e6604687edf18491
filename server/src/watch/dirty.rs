//! The watcher's to-do list: paths that changed and must be scanned again, each with the
//! moment it may be (a photo still being copied waits until it has settled). A path under one
//! already listed is covered by it (a folder scan walks its files), and a folder listed after
//! its files replaces them, so a burst of thousands of events becomes a few scans.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Dirty {
    /// Path → not before.
    paths: BTreeMap<PathBuf, Instant>,
}

impl Dirty {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Lists `path`, to be scanned from `at` on (the later moment wins when it is listed
    /// already or covered by a listed folder).
    pub fn add(&mut self, path: PathBuf, at: Instant) {
        if let Some((_, when)) = self
            .paths
            .iter_mut()
            .find(|(listed, _)| path.starts_with(listed))
        {
            *when = (*when).max(at);
            return;
        }
        // Listed paths under the new one are covered by it.
        let under: Vec<PathBuf> = self
            .paths
            .range(path.clone()..)
            .take_while(|(p, _)| p.starts_with(&path))
            .map(|(p, _)| p.clone())
            .collect();
        let mut when = at;
        for p in under {
            if let Some(w) = self.paths.remove(&p) {
                when = when.max(w);
            }
        }
        self.paths.insert(path, when);
    }

    /// Takes the paths that are due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Vec<PathBuf> {
        let due: Vec<PathBuf> = self
            .paths
            .iter()
            .filter(|(_, when)| **when <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for p in &due {
            self.paths.remove(p);
        }
        due
    }

    /// When the next path is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.paths.values().min().copied()
    }

    /// Whether `path` is listed or covered by a listed folder.
    pub fn covers(&self, path: &Path) -> bool {
        self.paths.keys().any(|p| path.starts_with(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_folder_covers_its_files_either_way_round() {
        let t = Instant::now();
        let mut d = Dirty::default();
        d.add("/r/a/1.jpg".into(), t);
        d.add("/r/a/2.jpg".into(), t + Duration::from_secs(2));
        d.add("/r/ab/3.jpg".into(), t);
        d.add("/r/a".into(), t);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d.covers(Path::new("/r/a/sub/x.jpg")));
        assert!(!d.covers(Path::new("/r/b.jpg")));
        // The folder waits for the latest of what it replaced.
        assert_eq!(
            d.take_due(t + Duration::from_secs(1)),
            vec![PathBuf::from("/r/ab/3.jpg")]
        );
        d.add("/r/a/4.jpg".into(), t);
        assert_eq!(d.len(), 1);
        assert_eq!(d.next_due(), Some(t + Duration::from_secs(2)));
        assert_eq!(
            d.take_due(t + Duration::from_secs(2)),
            vec![PathBuf::from("/r/a")]
        );
        assert!(d.is_empty());
    }
}
