//! Tessera: an RS256 token service for djangorestframework-simplejwt clients, and a customer
//! service that trusts its tokens through the JWKS alone.
//!
//! - [`auth`]: the token service's HTTP API (register, token, me, accounts, JWKS).
//! - [`cli`], [`commands`]: the `tessera` command line and what each subcommand does.
//! - [`config`]: settings from defaults, a TOML file, `TESSERA_*` and flags.
//! - [`customers`]: the customer resource service, trusting tokens through the JWKS only.
//! - [`db`]: connecting to SQLite or PostgreSQL and migrating.
//! - [`django_import`]: moving a Django project's users over, password hashes included.
//! - [`domain`]: usernames, emails, passwords, roles: valid by construction.
//! - [`entity`]: sea-orm entities, one per table.
//! - [`error`]: the JSON error every endpoint answers with.
//! - [`http`]: multi-format bodies, trailing slashes, body limits, health probes.
//! - [`jwks`]: verifying access tokens anywhere from the issuer's JWKS (a reusable client).
//! - [`keys`]: signing keys, encrypted at rest, published as a JWKS.
//! - [`metrics`]: Prometheus counters and latency histograms.
//! - [`refresh`]: where refresh-token state lives.
//! - [`startup`]: binding and running the services.
//! - [`telemetry`]: the tracing setup.
//! - [`token`]: minting and verifying access and refresh tokens.
//! - [`users`]: creating accounts.

pub mod auth;
pub mod cli;
pub mod clients;
pub mod commands;
pub mod config;
pub mod customers;
pub mod db;
pub mod django_import;
pub mod domain;
pub mod entity;
pub mod error;
pub mod hex;
pub mod http;
pub mod jwks;
pub mod keys;
pub mod metrics;
pub mod redis_connection;
pub mod refresh;
pub mod startup;
pub mod telemetry;
pub mod token;
pub mod users;
