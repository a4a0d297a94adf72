use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use tokio::sync::Semaphore;

use super::django_password;
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

/// How long a request waits for a hashing slot before it is told to come back later: the
/// queue in front of the hasher stays bounded under a login flood.
const QUEUE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("every password hashing slot stayed busy")]
    Busy,
    #[error("password hashing failed: {0:#}")]
    Failed(anyhow::Error),
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

    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let argon2 = self.argon2.clone();
        self.run_blocking(move || {
            argon2
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|err| HashError::Failed(anyhow::anyhow!("argon2: {err}")))
        })
        .await?
    }

    /// Whether a stored hash was made with other parameters than today's: it is replaced on the
    /// next successful login, so old costs do not linger (nor stand out by their timing).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let expected = self.argon2.params();
        match PasswordHash::new(stored) {
            Ok(parsed) => {
                parsed.algorithm.as_str() != "argon2id"
                    || argon2::Params::try_from(&parsed).map_or(true, |params| {
                        (params.m_cost(), params.t_cost(), params.p_cost())
                            != (expected.m_cost(), expected.t_cost(), expected.p_cost())
                    })
            }
            Err(_) => true,
        }
    }

    /// `stored` is `None` for an unknown user: the dummy hash is checked and `false` returned.
    /// Besides our own argon2id, the hashes Django makes are accepted (imported users); an
    /// unusable or unknown one costs what a wrong password costs and never matches.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let argon2 = self.argon2.clone();
        let dummy_hash = self.dummy_hash.clone();
        let stored = stored
            .filter(|hash| PasswordHash::new(hash).is_ok() || django_password::is_supported(hash));
        let known = stored.is_some();
        let hash = stored.unwrap_or(dummy_hash);
        let matches = self
            .run_blocking(move || match PasswordHash::new(&hash) {
                Ok(parsed) => argon2
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok(),
                Err(_) => django_password::verify(password.expose(), &hash),
            })
            .await?;
        Ok(known && matches)
    }

    /// The permit moves into the blocking task: if the request is cancelled (client gone), the
    /// hash still runs to its end, and the permit must stay taken until it does, or abandoned
    /// hashes would pile up past the limit.
    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|err| HashError::Failed(err.into()))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await
        .map_err(|err| HashError::Failed(err.into()))
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
    async fn hashes_made_with_other_parameters_need_a_rehash() {
        let hasher = hasher();
        let current = hasher.hash(password("s3cret-horse")).await.unwrap();
        let cheaper = PasswordHasher::new(
            HashCost {
                memory_kib: 8192,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap()
        .hash(password("s3cret-horse"))
        .await
        .unwrap();
        assert!(!hasher.needs_rehash(&current));
        assert!(hasher.needs_rehash(&cheaper));
        assert!(hasher.needs_rehash("pbkdf2_sha256$600000$salt$hash"));
    }

    #[tokio::test]
    async fn a_cancelled_request_keeps_its_permit_until_the_hash_ends() {
        let hasher = Arc::new(PasswordHasher::new(HashCost::default(), 1).unwrap());
        let abandoned = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(password("abandoned")).await }
        });
        tokio::task::yield_now().await;
        while hasher.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(
            hasher.permits.available_permits(),
            0,
            "the running hash still holds the permit"
        );
        hasher.hash(password("next")).await.unwrap();
        assert_eq!(hasher.permits.available_permits(), 1);
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
