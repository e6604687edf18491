//! Per-client limits on picture searches (the expensive requests: a decode and an image-tower
//! run each): every client (IP address) gets a burst of `burst` pictures, then one every
//! `60 / per_minute` seconds (GCRA, the `governor` crate). Over the limit the answer is
//! `429 Too Many Requests` with `Retry-After`, in the shape the caller reads: JSON for the
//! API, the server function's error encoding for the page, a short page for the plain form.
//! CSP violation reports (`POST /csp-report`, which anyone can send and which the server
//! logs) get a limiter of their own (`REPORT_LIMITS`), answered with a bare 429.
//!
//! The client is the peer address of the connection; behind a reverse proxy every request
//! comes from the proxy, so `--trust-forwarded-for` takes the last `X-Forwarded-For` entry
//! (the address your proxy saw) instead. Never turn it on without a proxy in front: clients
//! could then pick any address they like.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use app::search::SearchError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The limits, from `shihua serve` flags.
#[derive(Clone, Copy, Debug)]
pub struct FairnessConfig {
    /// Picture searches a client may make per minute, sustained.
    pub per_minute: u32,
    /// How many it may make at once before the rate applies.
    pub burst: u32,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_forwarded_for: bool,
}

impl Default for FairnessConfig {
    fn default() -> Self {
        FairnessConfig {
            per_minute: 30,
            burst: 5,
            trust_forwarded_for: false,
        }
    }
}

/// Reports a client may send: a page that breaks its policy reports a few violations at once,
/// and a browser does not send hundreds a minute.
pub const REPORT_LIMITS: FairnessConfig = FairnessConfig {
    per_minute: 60,
    burst: 20,
    trust_forwarded_for: false,
};

/// The shared limiter.
pub struct ClientLimits {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    trust_forwarded_for: bool,
    /// A refused request's body is read up to this many bytes before the answer (see
    /// `limit_pictures`); 0 reads nothing.
    drain_limit: usize,
}

impl ClientLimits {
    pub fn new(cfg: FairnessConfig) -> Self {
        let per_minute = NonZeroU32::new(cfg.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        ClientLimits {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            trust_forwarded_for: cfg.trust_forwarded_for,
            drain_limit: 0,
        }
    }

    /// Read a refused request's body (up to `bytes`, the router's body limit) before answering.
    pub fn draining_bodies_up_to(mut self, bytes: usize) -> Self {
        self.drain_limit = bytes;
        self
    }

    /// Ok, or the whole seconds until this client may post another picture.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        // Forget clients that have been quiet long enough to be back at a full burst.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// `check` for the client that sent `req`: Ok, or who it is and how long it must wait.
    pub fn check_request(&self, req: &Request) -> Result<(), (IpAddr, u64)> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let client = self.client(peer, req.headers());
        self.check(client).map_err(|seconds| (client, seconds))
    }

    /// Who is asking: the peer address, or the last `X-Forwarded-For` entry when trusted.
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        client_address(peer, headers, self.trust_forwarded_for)
    }
}

/// Who is asking: the peer address, or with `trust_forwarded_for` the last `X-Forwarded-For`
/// entry (also used for the per-client limit on progress streams, `progress.rs`).
pub fn client_address(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
) -> IpAddr {
    if trust_forwarded_for {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.map(|p| p.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The routes that take a picture to search with.
pub fn is_picture_post(method: &Method, path: &str) -> bool {
    method == Method::POST
        && (path == app::url::UPLOAD_ROUTE
            || path == "/api/v1/search/image"
            || path == <app::api::UploadQuery as server_fn::ServerFn>::PATH)
}

/// Middleware: picture posts over the client's limit are answered 429 here.
pub async fn limit_pictures(
    State(limits): State<Arc<ClientLimits>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if !is_picture_post(req.method(), &path) {
        return next.run(req).await;
    }
    match limits.check_request(&req) {
        Ok(()) => next.run(req).await,
        Err((client, seconds)) => {
            tracing::info!("picture search limit: {client} must wait {seconds} s");
            let (parts, body) = req.into_parts();
            let base = parts
                .extensions
                .get::<app::assets::SiteAssets>()
                .map(|a| a.base.clone())
                .unwrap_or_default();
            // Read the picture the client is still sending before answering: a connection
            // closed with its request body unread is reset, so the client may never see the
            // 429, and a kept-alive connection would fail its next request. Past the body
            // limit the connection is closed instead.
            let drained = axum::body::to_bytes(body, limits.drain_limit).await.is_ok();
            let mut res = super::busy::respond(&path, SearchError::busy(seconds.max(1)), &base);
            if !drained {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            res
        }
    }
}

/// Middleware for `POST /csp-report`: a client over `REPORT_LIMITS` gets a bare 429 with
/// `Retry-After`, and its report is neither read nor logged.
pub async fn limit_reports(
    State(limits): State<Arc<ClientLimits>>,
    req: Request,
    next: Next,
) -> Response {
    match limits.check_request(&req) {
        Ok(()) => next.run(req).await,
        Err((client, seconds)) => {
            tracing::debug!("CSP report limit: {client} must wait {seconds} s");
            let mut res = StatusCode::TOO_MANY_REQUESTS.into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limits = ClientLimits::new(FairnessConfig {
            per_minute: 6,
            burst: 2,
            trust_forwarded_for: false,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limits.check(a).is_ok());
        assert!(limits.check(a).is_ok());
        let wait = limits.check(a).unwrap_err();
        assert!((1..=10).contains(&wait), "{wait}");
        // Another client is not held up by the first.
        assert!(limits.check(b).is_ok());
    }

    #[test]
    fn forwarded_for_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 5.6.7.8".parse().unwrap());
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let plain = ClientLimits::new(FairnessConfig::default());
        assert_eq!(plain.client(Some(peer), &headers), peer.ip());
        let trusting = ClientLimits::new(FairnessConfig {
            trust_forwarded_for: true,
            ..FairnessConfig::default()
        });
        assert_eq!(
            trusting.client(Some(peer), &headers),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(trusting.client(Some(peer), &HeaderMap::new()), peer.ip());
    }
}
