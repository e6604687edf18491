//! The bounded queue for picture searches. Each picture costs a decode and an image-tower run
//! (hundreds of milliseconds on a CPU), so only `running` are worked on at once and at most
//! `waiting` more may wait; past that the request is refused at once with
//! `SearchError::Busy` (HTTP 429 + `Retry-After`) instead of waiting without bound. The
//! suggested wait comes from how long recent pictures took.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use app::search::SearchError;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Pictures that may wait for a slot when none is given.
pub const DEFAULT_WAITING: usize = 8;

pub struct PictureQueue {
    slots: Semaphore,
    running: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Moving average of one picture's time in a slot, in milliseconds.
    avg_ms: AtomicU64,
}

/// A slot: held while the picture is decoded and encoded.
pub struct Ticket<'a> {
    _permit: SemaphorePermit<'a>,
    queue: &'a PictureQueue,
    start: Instant,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let ms = self.start.elapsed().as_millis() as u64;
        let old = self.queue.avg_ms.load(Ordering::Relaxed);
        self.queue
            .avg_ms
            .store((old * 7 + ms) / 8, Ordering::Relaxed);
    }
}

/// Counts a waiter while it waits (also when its request is dropped mid-wait).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PictureQueue {
    pub fn new(running: usize, max_waiting: usize) -> Self {
        let running = running.max(1);
        PictureQueue {
            slots: Semaphore::new(running),
            running,
            waiting: AtomicUsize::new(0),
            max_waiting,
            avg_ms: AtomicU64::new(500),
        }
    }

    /// A slot now, a place in the queue, or `Busy` when the queue is full.
    pub async fn enter(&self) -> Result<Ticket<'_>, SearchError> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(self.ticket(permit));
        }
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if before >= self.max_waiting {
            return Err(SearchError::busy(self.retry_after_s()));
        }
        let permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| SearchError::Unavailable("shutting down".into()))?;
        Ok(self.ticket(permit))
    }

    fn ticket<'a>(&'a self, permit: SemaphorePermit<'a>) -> Ticket<'a> {
        Ticket {
            _permit: permit,
            queue: self,
            start: Instant::now(),
        }
    }

    /// Roughly how long until the queue has drained enough to take one more, in seconds.
    pub fn retry_after_s(&self) -> u64 {
        let queued = (self.max_waiting + self.running) as u64;
        let ms = self.avg_ms.load(Ordering::Relaxed) * queued / self.running as u64;
        (ms / 1000).clamp(1, 60)
    }

    /// Pictures waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queue_refuses_with_a_wait() {
        let q = std::sync::Arc::new(PictureQueue::new(1, 1));
        let first = q.enter().await.unwrap();
        // One may wait...
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.enter().await.map(|_| ()) });
        while q.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        // ...the next is refused.
        let refused = q.enter().await.err().expect("queue is full");
        assert_eq!(refused.status_code(), 429);
        assert!(refused.retry_after().unwrap() >= 1);
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(q.waiting(), 0);
        assert!(q.enter().await.is_ok());
    }
}
