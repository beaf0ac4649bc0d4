//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 only when the store answers and a signing key is loaded (it always is once the
/// server has started: it refuses to start without one).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => {
            let (bound, peak) = state.hasher.concurrency();
            HttpResponse::Ok().json(json!({
                "status": "ready",
                "key": state.keys.active().kid,
                "argon2": {
                    "max_concurrent": bound,
                    "peak_concurrent": peak,
                    "runs": state.hasher.runs(),
                },
                "verified_cache": {"entries": state.verified.held()},
            }))
        }
        Err(e) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({"status": "unavailable", "reason": e.to_string()})),
    }
}
