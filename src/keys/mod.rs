//! RS256 signing keys: made once, kept encrypted in the database, published as a JWKS.

mod cipher;
mod jwk;
mod ring;
mod store;

pub use cipher::{KeyCipher, KeySecret};
pub use jwk::{Jwk, Jwks, thumbprint};
pub use ring::{ActiveKey, KeyRing, PublishedKey, SharedKeyRing};
pub use store::{KeyStore, KeyStoreError, KeySummary};
