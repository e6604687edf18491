//! Where the watcher hears of changes: `notify` (inotify on Linux) behind
//! `notify-debouncer-full`, which waits until a path has been quiet for the settle time and
//! merges a rename's two halves. Every event becomes the paths to scan again (a created,
//! changed, renamed or deleted file or folder; reads are ignored); a queue overflow means
//! "rescan the root". When the system's watch limit is reached (inotify's
//! `fs.inotify.max_user_watches`, or no inotify instance to be had), the root is marked for
//! periodic rescans instead, with one clear log line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_full::notify::{self, EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, DebouncedEvent};
use tokio::sync::mpsc::UnboundedSender;

/// What the watcher is told.
#[derive(Debug)]
pub enum Heard {
    /// These paths changed (scan them again).
    Changed(Vec<PathBuf>),
    /// Events were lost (queue overflow): rescan these roots.
    Rescan(Vec<PathBuf>),
    /// The watch limit was reached for this root: rescan it periodically.
    Limit(PathBuf),
}

/// The live debouncer (dropping it stops the watching).
pub type Debouncer = notify_debouncer_full::Debouncer<
    notify::RecommendedWatcher,
    notify_debouncer_full::RecommendedCache,
>;

/// The log line for a root that cannot be watched (the test of the fallback reads it).
pub fn limit_message(root: &Path, every: Duration, why: &str) -> String {
    format!(
        "cannot watch {} for changes ({why}): rescanning it every {} s instead. Raise the \
         limit (e.g. `sysctl fs.inotify.max_user_watches=524288`, and \
         fs.inotify.max_user_instances) and restart to get changes within seconds",
        root.display(),
        every.as_secs()
    )
}

/// Whether `e` is the system's limit on watches (or on inotify instances).
pub fn is_limit(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(libc::EMFILE),
        _ => false,
    }
}

/// Starts watching `roots` (canonical folders). Changes go to `tx` once each path has been
/// quiet for `settle`. Returns the debouncer (if one could be made) and the roots that could
/// not be watched, with why (`simulate_limit`: every root, as if the limit had been hit).
pub fn start(
    roots: &[PathBuf],
    settle: Duration,
    tx: UnboundedSender<Heard>,
    simulate_limit: bool,
) -> (Option<Debouncer>, Vec<(PathBuf, String)>) {
    if simulate_limit {
        let why = notify::Error::new(notify::ErrorKind::MaxFilesWatch).to_string();
        return (
            None,
            roots.iter().map(|r| (r.clone(), why.clone())).collect(),
        );
    }
    let handler_roots = roots.to_vec();
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            let (changed, rescan) = paths_of(&events, &handler_roots);
            if !rescan.is_empty() {
                let _ = tx.send(Heard::Rescan(rescan));
            }
            if !changed.is_empty() {
                let _ = tx.send(Heard::Changed(changed));
            }
        }
        Err(errors) => {
            for e in errors {
                if is_limit(&e) {
                    // A folder created later could not be watched: its root is rescanned.
                    let root = e
                        .paths
                        .first()
                        .and_then(|p| handler_roots.iter().find(|r| p.starts_with(r)))
                        .or(handler_roots.first());
                    if let Some(root) = root {
                        let _ = tx.send(Heard::Limit(root.clone()));
                    }
                } else {
                    tracing::warn!("watching for changes: {e}");
                }
            }
        }
    };
    let mut debouncer = match new_debouncer(settle, None, handler) {
        Ok(d) => d,
        Err(e) => {
            let why = e.to_string();
            return (
                None,
                roots.iter().map(|r| (r.clone(), why.clone())).collect(),
            );
        }
    };
    let mut failed = Vec::new();
    for root in roots {
        if let Err(e) = debouncer.watch(root, RecursiveMode::Recursive) {
            if !is_limit(&e) {
                tracing::warn!("watching {}: {e}", root.display());
            }
            failed.push((root.clone(), e.to_string()));
        }
    }
    (Some(debouncer), failed)
}

/// The paths to scan again for `events`, and the roots to rescan whole (lost events).
fn paths_of(events: &[DebouncedEvent], roots: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut changed = Vec::new();
    let mut rescan = Vec::new();
    for e in events {
        if e.need_rescan() {
            rescan.extend(roots.iter().cloned());
            continue;
        }
        match e.kind {
            // Reads (our own included) change nothing; `Other` carries no path of interest.
            EventKind::Access(_) | EventKind::Other => {}
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any => {
                changed.extend(e.paths.iter().cloned());
            }
        }
    }
    (changed, rescan)
}
