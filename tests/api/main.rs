//! The token service over HTTP, on real storage. One binary; each file is one endpoint group.

mod helpers;

mod account_admin;
mod accounts;
mod admin_listener;
mod aliases;
mod captcha;
mod cli;
mod customers;
mod database_outage;
mod django_import;
mod drf_errors;
mod field_errors;
mod forgery;
mod forward_auth;
mod http_edges;
mod introspection;
mod jwks;
mod metrics;
mod oauth;
mod oauth2_crate;
mod openapi_drift;
mod operations;
mod rate_limits;
mod redis_outage;
mod refresh;
mod refresh_store;
mod register;
mod secrets;
mod service_clients;
mod sessions;
mod token;
