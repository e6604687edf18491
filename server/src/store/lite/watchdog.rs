//! Keeps an embedded Milvus Lite alive while `shihua serve` runs: if the child process dies,
//! it is restarted on the same port and database, and the collection is loaded again, so the
//! site answers 503 for a moment and then recovers by itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::EmbeddedMilvus;
use crate::store::MilvusStore;

/// Checks every `every`; restarts the child when it is gone.
pub fn spawn_watchdog(
    embedded: Arc<Mutex<EmbeddedMilvus>>,
    store: Arc<MilvusStore>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let revived = embedded.lock().await.revive().await;
            match revived {
                Ok(false) => {}
                Ok(true) => {
                    if let Err(e) = store.load().await {
                        tracing::warn!("reloading the collection after a Milvus restart: {e}");
                    }
                }
                Err(e) => tracing::error!("Milvus Lite is down and could not be restarted: {e}"),
            }
        }
    })
}
