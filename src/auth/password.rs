use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// argon2id cost; OWASP's minimum (m=19456 KiB, t=2, p=1) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords on the blocking pool, never on the async runtime.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// One hash holds a core and 19 MiB for ~30 ms: more at once than there are cores only
    /// adds memory and latency, so hashing waits for a permit.
    permits: Arc<Semaphore>,
    /// Checked when the username is unknown, so that costs what a wrong password costs.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(cost: HashCost, concurrency: usize) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|err| anyhow::anyhow!("invalid argon2 parameters: {err}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon2
            .hash_password(b"tessera dummy password: never matches")
            .map_err(|err| anyhow::anyhow!("argon2: {err}"))?
            .to_string();
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash,
        })
    }

    pub async fn hash(&self, password: Password) -> anyhow::Result<String> {
        let argon2 = self.argon2.clone();
        self.run_blocking(move || {
            argon2
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|err| anyhow::anyhow!("argon2: {err}"))
        })
        .await?
    }

    /// `stored` is `None` for an unknown user: the dummy hash is checked and `false` returned.
    pub async fn verify(&self, password: Password, stored: Option<String>) -> anyhow::Result<bool> {
        let argon2 = self.argon2.clone();
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = self
            .run_blocking(move || match PasswordHash::new(&hash) {
                Ok(parsed) => argon2
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok(),
                Err(_) => false,
            })
            .await?;
        Ok(known && matches)
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let span = tracing::Span::current();
        Ok(tokio::task::spawn_blocking(move || span.in_scope(work)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(HashCost::default(), 2).unwrap()
    }

    fn password(raw: &str) -> Password {
        Password::unchecked_for_login(raw.into())
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_owasp_cost() {
        let hash = hasher().hash(password("s3cret-horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = hasher();
        let hash = hasher.hash(password("s3cret-horse")).await.unwrap();
        assert!(
            hasher
                .verify(password("s3cret-horse"), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(password("s3cret-horsE"), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_never_verify() {
        let hasher = hasher();
        assert!(!hasher.verify(password("anything"), None).await.unwrap());
        assert!(
            !hasher
                .verify(password("x"), Some("not a hash".into()))
                .await
                .unwrap()
        );
    }
}
