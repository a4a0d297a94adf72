use std::sync::LazyLock;

use bytes::Bytes;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json, types::Example};
use sea_orm::DatabaseConnection;

use super::RenderedJson;
use crate::{jwks::JwksVerifier, refresh::RefreshStore, telemetry::OutageLog};

/// Liveness and readiness, for load balancers and orchestrators.
#[derive(Default)]
pub struct HealthApi;

/// What must answer for a service to be ready: its database, and its refresh store (token
/// service) or the issuer's keys (customer service).
#[derive(Clone)]
pub struct Readiness {
    pub db: DatabaseConnection,
    pub refresh_store: Option<std::sync::Arc<dyn RefreshStore>>,
    pub jwks: Option<std::sync::Arc<JwksVerifier>>,
}

impl Readiness {
    /// Whether every part answers; what does not is logged once per outage.
    pub async fn check(&self) -> bool {
        static NOT_READY: OutageLog = OutageLog::new();
        let mut failures = Vec::new();
        if let Some(store) = &self.refresh_store
            && let Err(err) = store.ping().await
        {
            failures.push(format!("refresh store: {err}"));
        }
        if self.jwks.as_ref().is_some_and(|jwks| !jwks.has_keys()) {
            failures.push("no keys from the issuer's JWKS yet".to_owned());
        }
        match self.db.ping().await {
            Ok(()) => crate::db::report_available(),
            Err(err) => failures.push(format!("database: {err}")),
        }
        if failures.is_empty() {
            NOT_READY.recovered();
            return true;
        }
        if NOT_READY.should_log() {
            tracing::warn!(reasons = failures.join("; "), "not ready");
        }
        false
    }
}

#[derive(Tags)]
enum HealthTags {
    /// Liveness and readiness probes.
    Health,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct HealthStatus {
    /// `ok` or `unavailable`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Serving.
    #[oai(status = 200)]
    Ok(Json<HealthStatus>),
    /// A backing store is unreachable.
    #[oai(status = 503)]
    Unavailable(Json<HealthStatus>),
}

#[derive(ApiResponse)]
pub enum LiveResponse {
    /// Serving.
    #[oai(status = 200)]
    Ok(RenderedJson<HealthStatus>),
}

/// Liveness answers the same bytes every time, many times a second under a load balancer:
/// rendered once, not per probe.
fn live() -> LiveResponse {
    static OK: LazyLock<Bytes> =
        LazyLock::new(|| RenderedJson::render(&HealthStatus::ok()).bytes().clone());
    LiveResponse::Ok(RenderedJson::from_bytes(OK.clone()))
}

impl HealthStatus {
    fn ok() -> Self {
        Self {
            status: "ok".into(),
        }
    }

    pub fn unavailable() -> Self {
        Self {
            status: "unavailable".into(),
        }
    }
}

fn status(ok: bool) -> HealthResponse {
    if ok {
        HealthResponse::Ok(Json(HealthStatus::ok()))
    } else {
        HealthResponse::Unavailable(Json(HealthStatus::unavailable()))
    }
}

/// `/healthz` and `/readyz` as the admin listener serves them: the same answers as the API's.
pub fn probe_routes(readiness: Readiness) -> poem::Route {
    poem::Route::new()
        .at("/healthz", poem::get(poem::endpoint::make_sync(|_| live())))
        .at(
            "/readyz",
            poem::get(poem::endpoint::make(move |_| {
                let readiness = readiness.clone();
                async move { status(readiness.check().await) }
            })),
        )
}

#[OpenApi(tag = "HealthTags::Health")]
impl HealthApi {
    /// Liveness: the process answers.
    #[oai(path = "/healthz/", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> LiveResponse {
        live()
    }

    /// Readiness: the database answers, and the refresh store or the issuer's keys are there.
    #[oai(path = "/readyz/", method = "get", operation_id = "readyz")]
    async fn readyz(&self, readiness: Data<&Readiness>) -> HealthResponse {
        status(readiness.check().await)
    }
}

impl Example for HealthStatus {
    fn example() -> Self {
        Self::ok()
    }
}
