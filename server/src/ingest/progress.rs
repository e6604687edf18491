//! What an indexing run tells the outside while it runs, for the site's progress bar: photos
//! planned, done and failed ([`ProgressReport`], called by the pipeline), and the
//! [`Meter`] that turns those counts into an [`IndexProgress`] snapshot (done/total, rate,
//! ETA, the last error) and hands it to whoever shows it: the watcher's progress hub inside
//! `shihua serve`, or the progress file a separate `shihua index` run writes
//! (`crate::progress::file`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use app::search::IndexProgress;

/// Told by the pipeline what it does (each call is cheap; the observer throttles).
pub trait ProgressReport: Send + Sync {
    /// `n` more photos are to be encoded (a run planned them).
    fn planned(&self, n: usize);
    /// `n` photos were indexed (their rows inserted).
    fn indexed(&self, n: usize);
    /// A photo could not be indexed: it counts as done, and is the last error.
    fn failed(&self, path: &Path, why: &str);
}

/// A shared [`ProgressReport`] in [`IndexOptions`](super::IndexOptions).
#[derive(Clone)]
pub struct Reporter(pub Arc<dyn ProgressReport>);

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

/// Snapshots are handed on at most this often while counts change (a start, an end or an
/// error always goes at once).
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

type Publish = Box<dyn Fn(&IndexProgress) + Send + Sync>;

/// Counts one indexing session (a `shihua index` run, or the watcher's passes from the first
/// change until it is idle again) and publishes snapshots of it.
pub struct Meter {
    source: &'static str,
    state: Mutex<MeterState>,
    publish: Publish,
}

struct MeterState {
    started: Instant,
    last_published: Option<Instant>,
    snapshot: IndexProgress,
}

impl Meter {
    /// A meter for `source` ("watch" or "index") that hands each snapshot to `publish`.
    pub fn new(
        source: &'static str,
        publish: impl Fn(&IndexProgress) + Send + Sync + 'static,
    ) -> Self {
        Meter {
            source,
            state: Mutex::new(MeterState {
                started: Instant::now(),
                last_published: None,
                snapshot: idle(source),
            }),
            publish: Box::new(publish),
        }
    }

    /// Starts a new session if none is running (counts from zero).
    pub fn begin(&self) {
        self.update(true, |s, _| {
            if !s.snapshot.active {
                s.started = Instant::now();
                s.snapshot = IndexProgress {
                    active: true,
                    ..idle(self.source)
                };
            }
        });
    }

    /// Ends the session: the last snapshot says `active: false`.
    pub fn finish(&self) {
        self.update(true, |s, _| s.snapshot.active = false);
    }

    /// Notes an error that is not one photo's (e.g. Milvus unavailable), or clears it.
    pub fn set_error(&self, error: Option<String>) {
        self.update(true, |s, _| s.snapshot.last_error = error);
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> IndexProgress {
        self.state
            .lock()
            .map(|s| s.snapshot.clone())
            .unwrap_or_else(|_| idle(self.source))
    }

    fn update(&self, force: bool, change: impl FnOnce(&mut MeterState, Instant)) {
        let now = Instant::now();
        let out = {
            let Ok(mut s) = self.state.lock() else {
                return;
            };
            change(&mut s, now);
            let elapsed = now.duration_since(s.started);
            s.snapshot.elapsed_s = elapsed.as_secs();
            let secs = elapsed.as_secs_f64();
            let rate = if secs > 0.5 {
                s.snapshot.done as f64 / secs
            } else {
                0.0
            };
            s.snapshot.rate = (rate * 10.0).round() as f32 / 10.0;
            let left = s.snapshot.total.saturating_sub(s.snapshot.done);
            s.snapshot.eta_s =
                (rate > 0.0 && s.snapshot.active).then(|| (left as f64 / rate).ceil() as u64);
            let due = s
                .last_published
                .is_none_or(|t| now.duration_since(t) >= PUBLISH_EVERY);
            if !(force || due) {
                return;
            }
            s.last_published = Some(now);
            s.snapshot.clone()
        };
        (self.publish)(&out);
    }
}

impl ProgressReport for Meter {
    fn planned(&self, n: usize) {
        if n > 0 {
            self.begin();
            self.update(true, |s, _| s.snapshot.total += n as u64);
        }
    }

    fn indexed(&self, n: usize) {
        self.update(false, |s, _| s.snapshot.done += n as u64);
    }

    fn failed(&self, path: &Path, why: &str) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.update(true, |s, _| {
            s.snapshot.done += 1;
            s.snapshot.failed += 1;
            s.snapshot.last_error = Some(format!("{name}: {why}"));
        });
    }
}

/// The snapshot of nothing running.
fn idle(source: &str) -> IndexProgress {
    IndexProgress {
        source: source.to_owned(),
        active: false,
        done: 0,
        total: 0,
        failed: 0,
        rate: 0.0,
        eta_s: None,
        elapsed_s: 0,
        last_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_session_and_ends_it() {
        let seen = Arc::new(Mutex::new(Vec::<IndexProgress>::new()));
        let sink = seen.clone();
        let meter = Meter::new("watch", move |p| sink.lock().unwrap().push(p.clone()));
        meter.planned(3);
        meter.indexed(1);
        meter.failed(Path::new("/x/bad.jpg"), "not a picture");
        meter.planned(2);
        meter.finish();
        let seen = seen.lock().unwrap().clone();
        let last = seen.last().unwrap();
        assert!(!last.active);
        assert_eq!((last.done, last.total, last.failed), (2, 5, 1));
        assert_eq!(last.last_error.as_deref(), Some("bad.jpg: not a picture"));
        assert!(
            seen.first().unwrap().active,
            "the first snapshot starts the session"
        );
        // A new session counts from zero.
        meter.planned(1);
        let now = meter.snapshot();
        assert!(now.active);
        assert_eq!((now.done, now.total), (0, 1));
    }
}
