use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};
use sea_orm::DatabaseConnection;

use crate::{jwks::JwksVerifier, refresh::RefreshStore};

/// Liveness and readiness, for load balancers and orchestrators.
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
    pub async fn check(&self) -> bool {
        let store_ok = match &self.refresh_store {
            Some(store) => store.ping().await.is_ok(),
            None => true,
        };
        let keys_ok = self.jwks.as_ref().is_none_or(|jwks| jwks.has_keys());
        store_ok && keys_ok && self.db.ping().await.is_ok()
    }
}

#[derive(Tags)]
enum HealthTags {
    /// Liveness and readiness probes.
    Health,
}

#[derive(Debug, Object)]
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

fn status(ok: bool) -> HealthResponse {
    if ok {
        HealthResponse::Ok(Json(HealthStatus {
            status: "ok".into(),
        }))
    } else {
        HealthResponse::Unavailable(Json(HealthStatus {
            status: "unavailable".into(),
        }))
    }
}

#[OpenApi(tag = "HealthTags::Health")]
impl HealthApi {
    /// Liveness: the process answers.
    #[oai(path = "/healthz/", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> HealthResponse {
        status(true)
    }

    /// Readiness: the database answers, and the refresh store or the issuer's keys are there.
    #[oai(path = "/readyz/", method = "get", operation_id = "readyz")]
    async fn readyz(&self, readiness: Data<&Readiness>) -> HealthResponse {
        status(readiness.check().await)
    }
}
