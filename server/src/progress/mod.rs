//! Indexing progress for the site: the [`ProgressHub`] holds the latest snapshot of the
//! server's own watcher and of a separate `shihua index` run against the same collection
//! (read from its progress file, [`file`]), and hands the one to show to the page
//! (`ServerStatus::indexing`), `/api/v1/stats` and the `GET /api/v1/progress` event stream
//! through a `tokio::sync::watch` channel: a subscriber holds one receiver and nothing else,
//! and only the latest snapshot is kept, however slow a reader is.

pub mod file;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ingest::{IndexProgress, Meter};

/// Who indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The server's watch folders.
    Watch,
    /// A `shihua index` run (its progress file).
    Index,
}

/// How often the progress file of a `shihua index` run is looked at.
pub const FILE_POLL: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Slots {
    watch: Option<IndexProgress>,
    index: Option<IndexProgress>,
    /// Which was updated last.
    last: Option<Source>,
}

/// The snapshots of the two sources, and the channel subscribers read.
pub struct ProgressHub {
    slots: Mutex<Slots>,
    tx: watch::Sender<Option<IndexProgress>>,
}

impl ProgressHub {
    pub fn new() -> Arc<Self> {
        Arc::new(ProgressHub {
            slots: Mutex::new(Slots::default()),
            tx: watch::Sender::new(None),
        })
    }

    /// A meter whose snapshots are this hub's watcher slot.
    pub fn watch_meter(self: &Arc<Self>) -> Arc<Meter> {
        let hub = self.clone();
        Arc::new(Meter::new("watch", move |p| {
            hub.set(Source::Watch, p.clone())
        }))
    }

    /// A new snapshot from `source`.
    pub fn set(&self, source: Source, p: IndexProgress) {
        let shown = {
            let Ok(mut s) = self.slots.lock() else {
                return;
            };
            match source {
                Source::Watch => s.watch = Some(p),
                Source::Index => s.index = Some(p),
            }
            s.last = Some(source);
            shown(&s)
        };
        self.tx.send_replace(shown);
    }

    /// What to show: a run in progress (the watcher's first), else the last one to finish.
    pub fn current(&self) -> Option<IndexProgress> {
        self.tx.borrow().clone()
    }

    /// The run in progress, if any.
    pub fn active(&self) -> Option<IndexProgress> {
        self.current().filter(|p| p.active)
    }

    /// A receiver of every new snapshot to show.
    pub fn subscribe(&self) -> watch::Receiver<Option<IndexProgress>> {
        self.tx.subscribe()
    }

    /// Follows the progress file of `shihua index` runs at `path` (one `stat` a second while
    /// nothing changes).
    pub fn follow_file(self: &Arc<Self>, path: PathBuf) -> JoinHandle<()> {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut seen = None;
            let mut tick = tokio::time::interval(FILE_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let stamp = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                let running = hub
                    .slots
                    .lock()
                    .map(|s| s.index.as_ref().is_some_and(|p| p.active))
                    .unwrap_or(false);
                // Read when the file changed, and while a run is shown as going (to notice one
                // that died without a last word).
                if stamp.is_none() || (stamp == seen && !running) {
                    continue;
                }
                seen = stamp;
                if let Some(p) = file::read(&path) {
                    let same = hub
                        .slots
                        .lock()
                        .map(|s| s.index.as_ref() == Some(&p))
                        .unwrap_or(false);
                    if !same {
                        hub.set(Source::Index, p);
                    }
                }
            }
        })
    }
}

fn shown(s: &Slots) -> Option<IndexProgress> {
    let active = |p: &Option<IndexProgress>| p.clone().filter(|p| p.active);
    active(&s.watch)
        .or_else(|| active(&s.index))
        .or_else(|| match s.last {
            Some(Source::Watch) => s.watch.clone(),
            Some(Source::Index) => s.index.clone(),
            None => None,
        })
}
