//! HTTP plumbing shared by both services: the accept loop and its limits, request bodies,
//! trailing slashes, body limits, health probes.

mod aliases;
mod body;
mod health;
mod middleware;
mod outbound;
mod pagination;
mod rate_limit;
mod rendered;
mod request_log;
mod routes;
mod server;

pub use aliases::{RouteAliases, SIMPLEJWT_PRESET};
pub use body::{AnyBody, DocumentedInput, lenient_bool, lenient_string, media_type};
pub use health::{HealthApi, HealthStatus, Readiness, probe_routes};
pub use middleware::{BodyLimit, SingleAuthorization, TrailingSlash};
pub use outbound::read_json_capped;
pub use pagination::Pagination;
pub use rate_limit::{Rate, RateLimiter, SharedLimitsOutage, client_ip};
pub use rendered::RenderedJson;
pub use request_log::RequestLog;
pub use routes::ServiceRoutes;
pub use server::{ConnectionLimits, FREE_BODY_BYTES, fit_connections_to_open_file_limit, serve};

/// Fails unless `T`'s OpenAPI example passes `T`'s own validators: an example a client copies
/// from the document must be accepted.
#[cfg(test)]
pub(crate) fn example_is_valid<T>()
where
    T: poem_openapi::types::Example
        + poem_openapi::types::ParseFromJSON
        + poem_openapi::types::ToJSON,
{
    if let Err(err) = T::parse_from_json(T::example().to_json()) {
        panic!(
            "{}'s example: {}",
            std::any::type_name::<T>(),
            err.into_message()
        );
    }
}
