//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::oauth::TokenService;

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process runs", body = crate::openapi::schemas::Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /metrics`: every series in the Prometheus text format (404 when metrics are off).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 404, description = "metrics.enabled is off", body = crate::openapi::schemas::AdminErrorBody),
    ))]
pub async fn metrics(tokens: web::Data<TokenService>) -> HttpResponse {
    let Some(m) = crate::metrics::get() else {
        return HttpResponse::NotFound().json(json!({
            "error": {"code": 404, "status": "NOT_FOUND", "message": "metrics are disabled (metrics.enabled)"}
        }));
    };
    m.argon2_in_flight
        .set(i64::try_from(tokens.argon2_in_flight()).unwrap_or(i64::MAX));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render())
}

/// 200 only when the store answers and a signing key is loaded (it always is once the
/// server has started: it refuses to start without one).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = crate::openapi::schemas::Readiness),
        (status = 503, description = "The store does not answer (Retry-After)", body = crate::openapi::schemas::Readiness),
    ))]
pub async fn readyz(tokens: web::Data<TokenService>) -> HttpResponse {
    match tokens.readiness().await {
        Ok(ready) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "key": ready.kid,
            "argon2": {
                "max_concurrent": ready.argon2_bound,
                "peak_concurrent": ready.argon2_peak,
                "runs": ready.argon2_runs,
            },
            "verified_cache": {"entries": ready.verified_entries},
        })),
        Err(e) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({"status": "unavailable", "reason": e.to_string()})),
    }
}
