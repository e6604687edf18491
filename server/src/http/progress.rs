//! `GET /api/v1/progress`: the indexing progress as server-sent events (`text/event-stream`,
//! events named `progress` whose data is an `IndexProgress` as JSON, or `null`).
//!
//! Cheap when idle: while nothing is being indexed the answer is the last snapshot and the
//! stream ends at once, with `retry: 2000` so that the browser's `EventSource` asks again two
//! seconds later; an idle page holds no connection and no state on the server. While a run is
//! going the stream stays open and carries every snapshot (at most four a second: the meter
//! throttles, and a slow reader only gets the latest, from its one `watch` receiver), then the
//! final one (`active: false`), and ends. Open streams are limited per client (IP address, as
//! `fairness.rs` tells it) and in all; past the limit a client gets the idle answer, so its
//! page polls instead of failing. Compression leaves `text/event-stream` alone
//! (tower-http's default predicate), so no event waits in an encoder's buffer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::search::IndexProgress;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::stream;

use super::fairness::client_address;
use super::AppState;

/// How long an idle page waits before asking again.
pub const IDLE_RETRY: Duration = Duration::from_secs(2);
/// Open streams one client may hold (one per open tab).
pub const MAX_STREAMS_PER_CLIENT: usize = 8;
/// Open streams in all.
pub const MAX_STREAMS: usize = 512;

pub fn routes() -> Router<AppState> {
    Router::new().route(app::url::PROGRESS_ROUTE, get(progress))
}

/// The open streams, per client.
pub struct StreamSlots {
    trust_forwarded_for: bool,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

impl StreamSlots {
    pub fn new(trust_forwarded_for: bool) -> Self {
        StreamSlots {
            trust_forwarded_for,
            open: Mutex::new((0, HashMap::new())),
        }
    }

    fn take(self: &Arc<Self>, client: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().ok()?;
        let mine = open.1.get(&client).copied().unwrap_or(0);
        if open.0 >= MAX_STREAMS || mine >= MAX_STREAMS_PER_CLIENT {
            return None;
        }
        open.0 += 1;
        open.1.insert(client, mine + 1);
        Some(Slot {
            slots: self.clone(),
            client,
        })
    }

    /// Streams open now (tests).
    pub fn open(&self) -> usize {
        self.open.lock().map(|o| o.0).unwrap_or(0)
    }
}

/// One open stream; given back when the stream ends or its client goes away.
struct Slot {
    slots: Arc<StreamSlots>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.open.lock() {
            open.0 = open.0.saturating_sub(1);
            if let Some(n) = open.1.get_mut(&self.client) {
                *n -= 1;
                if *n == 0 {
                    open.1.remove(&self.client);
                }
            }
        }
    }
}

fn event(p: Option<&IndexProgress>) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event("progress")
        .retry(IDLE_RETRY)
        .data(serde_json::to_string(&p).unwrap_or_else(|_| "null".into())))
}

/// Tells proxies (nginx) not to buffer the stream.
fn unbuffered(mut res: Response) -> Response {
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

async fn progress(
    State(st): State<AppState>,
    Extension(slots): Extension<Arc<StreamSlots>>,
    req: Request,
) -> Response {
    let hub = st.engine.progress().cloned();
    let mut rx = hub.as_ref().map(|h| h.subscribe());
    let now = rx.as_mut().and_then(|rx| rx.borrow_and_update().clone());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = client_address(peer, req.headers(), slots.trust_forwarded_for);
    let slot = match (&rx, &now) {
        (Some(_), Some(p)) if p.active => slots.take(client),
        _ => None,
    };
    let (Some(rx), Some(slot)) = (rx, slot) else {
        // Idle (or over the limit): the snapshot, and the browser asks again later.
        let once = stream::iter([event(now.as_ref())]);
        return unbuffered(Sse::new(once).into_response());
    };
    struct Open {
        rx: tokio::sync::watch::Receiver<Option<IndexProgress>>,
        first: Option<IndexProgress>,
        ended: bool,
        _slot: Slot,
    }
    let open = Open {
        rx,
        first: now,
        ended: false,
        _slot: slot,
    };
    let events = stream::unfold(open, |mut s| async move {
        if s.ended {
            return None;
        }
        if let Some(p) = s.first.take() {
            return Some((event(Some(&p)), s));
        }
        s.rx.changed().await.ok()?;
        let p = s.rx.borrow_and_update().clone()?;
        s.ended = !p.active;
        Some((event(Some(&p)), s))
    });
    unbuffered(
        Sse::new(events)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
    )
}
