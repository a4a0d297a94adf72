//! sea-orm entities, one per table of `migrations/`. No logic lives here.

pub mod customer;
pub mod oauth_client;
pub mod refresh_family;
pub mod signing_key;
pub mod user;
