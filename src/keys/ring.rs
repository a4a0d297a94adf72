use std::{collections::HashMap, sync::Arc};

use aws_lc_rs::{
    hmac,
    rand::SystemRandom,
    signature::{RSA_PKCS1_SHA256, RsaKeyPair},
};
use jsonwebtoken::DecodingKey;

use super::{Jwk, Jwks};

/// The key that signs now: its RSA key pair parsed once (re-parsing per token halves the
/// signing rate, see DESIGN.md) and the HMAC key for refresh tokens issued under it.
pub struct ActiveKey {
    pub kid: String,
    key_pair: RsaKeyPair,
    refresh_key: hmac::Key,
    random: SystemRandom,
}

impl ActiveKey {
    pub fn new(kid: String, pkcs8_der: &[u8], refresh_secret: &[u8]) -> anyhow::Result<Self> {
        let key_pair = RsaKeyPair::from_pkcs8(pkcs8_der).map_err(|rejected| {
            anyhow::anyhow!("stored signing key {kid} is not usable: {rejected}")
        })?;
        Ok(Self {
            kid,
            key_pair,
            refresh_key: hmac::Key::new(hmac::HMAC_SHA256, refresh_secret),
            random: SystemRandom::new(),
        })
    }

    pub fn sign_rs256(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &self.random, message, &mut signature)
            .expect("RSA signing with a validated key and a correctly sized buffer cannot fail");
        signature
    }

    pub fn sign_hs256(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.refresh_key, message).as_ref().to_vec()
    }
}

/// Every key a token may be verified with, by kid, plus the one that signs now.
pub struct KeyRing {
    active: Arc<ActiveKey>,
    access: HashMap<String, DecodingKey>,
    refresh: HashMap<String, DecodingKey>,
    jwks: Jwks,
}

pub struct PublishedKey {
    pub jwk: Jwk,
    pub refresh_secret: Vec<u8>,
}

impl KeyRing {
    pub fn new(active: ActiveKey, published: Vec<PublishedKey>) -> anyhow::Result<Self> {
        let mut access = HashMap::new();
        let mut refresh = HashMap::new();
        for key in &published {
            let decoding = DecodingKey::from_rsa_components(&key.jwk.n, &key.jwk.e)?;
            access.insert(key.jwk.kid.clone(), decoding);
            refresh.insert(
                key.jwk.kid.clone(),
                DecodingKey::from_secret(&key.refresh_secret),
            );
        }
        let jwks = Jwks {
            keys: published.into_iter().map(|key| key.jwk).collect(),
        };
        Ok(Self {
            active: Arc::new(active),
            access,
            refresh,
            jwks,
        })
    }

    pub fn active(&self) -> &ActiveKey {
        &self.active
    }

    pub fn access_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.access.get(kid)
    }

    pub fn refresh_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.refresh.get(kid)
    }

    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }
}

/// The key ring every request reads, swapped whole when keys are reloaded.
pub struct SharedKeyRing(std::sync::RwLock<Arc<KeyRing>>);

impl SharedKeyRing {
    pub fn new(ring: KeyRing) -> Self {
        Self(std::sync::RwLock::new(Arc::new(ring)))
    }

    pub fn current(&self) -> Arc<KeyRing> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn replace(&self, ring: KeyRing) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(ring);
    }
}
