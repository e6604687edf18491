//! `GET /healthz`: 200 when the model is loaded and Milvus answers, 503 with the reason
//! otherwise. Used by the e2e harness and by load balancers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let encoder = state.engine.encoder();
    let spec = encoder.spec();
    match state.engine.store().count().await {
        Ok(rows) => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "model": spec.id,
                "variant": encoder.variant(),
                "variant_why": encoder.variant_why(),
                "kernel": encoder.kernel(),
                "fixture": spec.fixture,
                "rows": rows,
            })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "model": spec.id, "error": e.to_string()})),
        ),
    }
}
