//! HTTP plumbing shared by both services: request bodies, trailing slashes, body limits,
//! health probes.

mod body;
mod health;
mod middleware;

pub use body::{AnyBody, DocumentedInput, lenient_bool};
pub use health::{HealthApi, Readiness};
pub use middleware::{BodyLimit, TrailingSlash};
