use std::fmt;

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey},
    hkdf::{HKDF_SHA256, Salt},
};

/// The operator's secret that private keys are encrypted under (`TESSERA_KEY_SECRET`).
#[derive(Clone)]
pub struct KeySecret(String);

impl KeySecret {
    /// At least 32 characters: the quick start writes 43 base64url characters (32 random bytes).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.chars().count() < 32 {
            return Err("the key secret must be at least 32 characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// 32 random bytes, base64url: what `tessera serve` writes under its data directory.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source failed");
        Self(base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            bytes,
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySecret([redacted])")
    }
}

/// AES-256-GCM under a key derived from the [`KeySecret`] by HKDF-SHA256. Each sealed value is
/// `nonce || ciphertext || tag`, and binds its row (the kid) as associated data, so a ciphertext
/// copied into another row does not open.
pub struct KeyCipher(RandomizedNonceKey);

#[derive(Debug, thiserror::Error)]
#[error(
    "the key secret does not decrypt the stored signing keys (is TESSERA_KEY_SECRET the one they were made with?)"
)]
pub struct WrongKeySecret;

impl KeyCipher {
    pub fn new(secret: &KeySecret) -> Self {
        let mut key = [0u8; 32];
        Salt::new(HKDF_SHA256, b"tessera/signing-keys/v1")
            .extract(secret.expose().as_bytes())
            .expand(&[b"aes-256-gcm"], &AES_256_GCM)
            .and_then(|okm| okm.fill(&mut key))
            .expect("HKDF output of one AES-256 key is always valid");
        Self(RandomizedNonceKey::new(&AES_256_GCM, &key).expect("32 bytes is an AES-256 key"))
    }

    pub fn seal(&self, plaintext: &[u8], row: &str) -> Vec<u8> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(row.as_bytes()), &mut in_out)
            .expect("AES-GCM sealing of a small buffer cannot fail");
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        sealed
    }

    pub fn open(&self, sealed: &[u8], row: &str) -> Result<Vec<u8>, WrongKeySecret> {
        if sealed.len() < NONCE_LEN {
            return Err(WrongKeySecret);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| WrongKeySecret)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .0
            .open_in_place(nonce, Aad::from(row.as_bytes()), &mut in_out)
            .map_err(|_| WrongKeySecret)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_secret_and_row() {
        let cipher = KeyCipher::new(&KeySecret::generate());
        let sealed = cipher.seal(b"private key bytes", "kid-1");
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(cipher.open(&sealed, "kid-1").unwrap(), b"private key bytes");
    }

    #[test]
    fn another_secret_or_row_does_not_open() {
        let sealed = KeyCipher::new(&KeySecret::generate()).seal(b"x", "kid-1");
        assert!(
            KeyCipher::new(&KeySecret::generate())
                .open(&sealed, "kid-1")
                .is_err()
        );
        let cipher = KeyCipher::new(&KeySecret::parse(&"s".repeat(32)).unwrap());
        let sealed = cipher.seal(b"x", "kid-1");
        assert!(cipher.open(&sealed, "kid-2").is_err());
        assert!(cipher.open(&sealed[..5], "kid-1").is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(KeySecret::parse("too short").is_err());
    }
}
