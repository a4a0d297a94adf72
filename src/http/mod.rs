//! HTTP plumbing shared by both services: the accept loop and its limits, request bodies,
//! trailing slashes, body limits, health probes.

mod body;
mod health;
mod middleware;
mod outbound;
mod pagination;
mod rate_limit;
mod request_log;
mod server;

pub use body::{AnyBody, DocumentedInput, lenient_bool, lenient_string};
pub use health::{HealthApi, Readiness};
pub use middleware::{BodyLimit, SingleAuthorization, TrailingSlash};
pub use outbound::read_json_capped;
pub use pagination::Pagination;
pub use rate_limit::{Rate, RateLimiter, client_ip};
pub use request_log::RequestLog;
pub use server::{ConnectionLimits, FREE_BODY_BYTES, fit_connections_to_open_file_limit, serve};
