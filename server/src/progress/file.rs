//! The progress file of a `shihua index` run, so that a server on the same data folder shows
//! its progress: `<data dir>/indexing/<collection>.json`, one JSON object (the
//! `IndexProgress` fields plus the run's `pid`), replaced atomically (written beside, then
//! renamed) at most four times a second and once at the end. A run that died without its last
//! word (its pid is gone) is shown as stopped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ingest::IndexProgress;

/// Where runs on `collection` write their progress.
pub fn path(data_dir: &Path, collection: &str) -> PathBuf {
    let name: String = collection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir.join("indexing").join(format!("{name}.json"))
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    pid: u32,
    #[serde(flatten)]
    progress: IndexProgress,
}

/// Writes `p` to `path` for this process (errors are logged once per kind, never fatal: the
/// progress file is a courtesy).
pub fn write(path: &Path, p: &IndexProgress) {
    let body = OnDisk {
        pid: std::process::id(),
        progress: p.clone(),
    };
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("json.{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec(&body).unwrap_or_default())?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        tracing::debug!("progress file {}: {e}", path.display());
    }
}

/// The progress in `path`, if it can be read; a run shown as going whose process is gone
/// is shown as stopped.
pub fn read(path: &Path) -> Option<IndexProgress> {
    let bytes = std::fs::read(path).ok()?;
    let OnDisk { pid, mut progress } = serde_json::from_slice(&bytes).ok()?;
    if progress.active && !alive(pid) {
        progress.active = false;
        progress.eta_s = None;
        progress.last_error = Some("the indexing run stopped before the end".into());
    }
    Some(progress)
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(active: bool) -> IndexProgress {
        IndexProgress {
            source: "index".into(),
            active,
            done: 3,
            total: 10,
            failed: 0,
            rate: 1.5,
            eta_s: Some(5),
            elapsed_s: 2,
            last_error: None,
        }
    }

    #[test]
    fn round_trip_and_a_dead_run() {
        let tmp = tempfile::tempdir().unwrap();
        let p = path(tmp.path(), "multimodal_chinese_clip");
        write(&p, &progress(true));
        assert_eq!(read(&p), Some(progress(true)), "this process is alive");
        // The same file from a process that is gone (pid far above pid_max).
        let stale = serde_json::json!({"pid": 999_999_999u32, "source": "index", "active": true,
            "done": 3, "total": 10, "failed": 0, "rate": 1.5, "eta_s": 5, "elapsed_s": 2,
            "last_error": null});
        std::fs::write(&p, stale.to_string()).unwrap();
        let got = read(&p).unwrap();
        assert!(!got.active);
        assert!(got.last_error.unwrap().contains("stopped"));
    }
}
