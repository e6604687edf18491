//! Reaching the server: [`MilvusStore::connect`] (retrying with backoff while nothing
//! answers), the one-shot readiness probe used when an embedded Milvus Lite starts, and the
//! health check ([`MilvusStore::ping`]).

use std::time::{Duration, Instant};

use ::milvus::v2::prelude::{ClientV2, ConnectConfig, RetryConfig, TelemetryConfig};

use super::{MilvusStore, StoreConfig};
use crate::store::error::StoreError;

/// How long `connect` keeps trying.
const CONNECT_BUDGET: Duration = Duration::from_secs(10);
/// Deadline of one RPC attempt.
const RPC_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline of the health check.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

impl MilvusStore {
    /// Connects (retrying with backoff for about 10 s while nothing answers) and checks the
    /// server answers (`ping`).
    pub async fn connect(cfg: StoreConfig) -> Result<Self, StoreError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let remaining = CONNECT_BUDGET
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(500));
            let err = match Self::connect_once(&cfg, remaining).await {
                Ok(client) => {
                    let store = MilvusStore::new(client, cfg.clone());
                    match store.ping().await {
                        Ok(()) => return Ok(store),
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            if !err.is_unavailable() || started.elapsed() + backoff >= CONNECT_BUDGET {
                return Err(err);
            }
            tracing::debug!(error = %err, "Milvus not answering yet; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn connect_once(cfg: &StoreConfig, timeout: Duration) -> Result<ClientV2, StoreError> {
        let mut conn = ConnectConfig::new()
            .uri(cfg.uri.clone())
            .connect_timeout(timeout)
            .rpc_timeout(RPC_TIMEOUT)
            .retry(
                RetryConfig::new()
                    .max_attempts(5)
                    .max_retry_timeout(Duration::from_secs(10))
                    .initial_backoff(Duration::from_millis(50))
                    .max_backoff(Duration::from_secs(2)),
            )
            .telemetry(TelemetryConfig::new().enabled(false));
        if let Some(token) = &cfg.token {
            conn = conn.token(token.clone());
        }
        // The SDK itself waits for the server up to `connect_timeout`.
        match tokio::time::timeout(timeout + Duration::from_secs(1), ClientV2::new(&conn)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(StoreError::from_sdk("connect", &cfg.uri, e)),
            Err(_) => Err(StoreError::Unavailable {
                uri: cfg.uri.clone(),
                detail: format!("no answer within {} s", timeout.as_secs()),
            }),
        }
    }

    /// One connection attempt plus `ping`, both bounded by `timeout`; used to
    /// tell when a freshly started server is ready.
    pub(crate) async fn probe(uri: &str, timeout: Duration) -> Result<(), StoreError> {
        let cfg = StoreConfig {
            uri: uri.to_owned(),
            ..StoreConfig::default()
        };
        let client = Self::connect_once(&cfg, timeout).await?;
        MilvusStore::new(client, cfg).ping().await
    }

    /// Cheap health check used by `/healthz`: `has_collection` with a 3 s deadline.
    /// (`list_collections` is not used: against Milvus Lite 2.5.1 the SDK rejects its answer
    /// as soon as one collection exists, because Lite sends names without ids.)
    pub async fn ping(&self) -> Result<(), StoreError> {
        match tokio::time::timeout(PING_TIMEOUT, self.has_collection()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Unavailable {
                uri: self.cfg.uri.clone(),
                detail: format!("no answer within {} s", PING_TIMEOUT.as_secs()),
            }),
        }
    }
}
