//! Checks password hashes Django made, exactly as `django.contrib.auth.hashers` does, so
//! imported users log in with their old passwords (and are rehashed to argon2id then).
//!
//! Django stores `<algorithm>$<fields>`: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`,
//! `argon2$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>` (a PHC string after the name),
//! `bcrypt_sha256$$2b$12$<salt+hash>` (bcrypt of the password's hex SHA-256) and
//! `bcrypt$$2b$12$...`. A leading `!` marks an unusable password.

use std::num::NonZeroU32;

use argon2::{
    Argon2,
    password_hash::{PasswordVerifier as _, phc::PasswordHash},
};
use aws_lc_rs::{digest, pbkdf2};
use base64::{Engine, engine::general_purpose::STANDARD};

/// Costs no Django setting comes near (its defaults: 1 000 000 PBKDF2 iterations, argon2
/// m=100 MiB, bcrypt 12) but a tampered import could name, to stall every login attempt.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MAX_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ARGON2_PASSES: u32 = 16;
const MAX_BCRYPT_COST: u32 = 16;

/// Whether `encoded` is a Django hash this module checks, at a cost it agrees to pay.
pub fn is_supported(encoded: &str) -> bool {
    let Some((algorithm, rest)) = encoded.split_once('$') else {
        return false;
    };
    match algorithm {
        "pbkdf2_sha256" | "pbkdf2_sha1" => rest
            .split('$')
            .next()
            .and_then(|iterations| iterations.parse::<u32>().ok())
            .is_some_and(|iterations| (1..=MAX_PBKDF2_ITERATIONS).contains(&iterations)),
        "argon2" => PasswordHash::new(&argon2_phc(rest)).is_ok_and(|hash| {
            argon2::Params::try_from(&hash).is_ok_and(|params| {
                params.m_cost() <= MAX_ARGON2_MEMORY_KIB && params.t_cost() <= MAX_ARGON2_PASSES
            })
        }),
        "bcrypt_sha256" | "bcrypt" => rest
            .strip_prefix('$')
            .and_then(|bcrypt| bcrypt.split('$').nth(1))
            .and_then(|cost| cost.parse::<u32>().ok())
            .is_some_and(|cost| cost <= MAX_BCRYPT_COST),
        _ => false,
    }
}

/// `false` for a wrong password, an unusable or malformed hash, a cost beyond reason, and
/// algorithms Tessera does not check: Django's legacy MD5, SHA-1 and crypt, and scrypt.
pub fn verify(password: &str, encoded: &str) -> bool {
    if !is_supported(encoded) {
        return false;
    }
    let Some((algorithm, rest)) = encoded.split_once('$') else {
        return false;
    };
    match algorithm {
        "pbkdf2_sha256" => verify_pbkdf2(pbkdf2::PBKDF2_HMAC_SHA256, password, rest),
        "pbkdf2_sha1" => verify_pbkdf2(pbkdf2::PBKDF2_HMAC_SHA1, password, rest),
        "argon2" => verify_argon2(password, rest),
        "bcrypt_sha256" => {
            let digest = digest::digest(&digest::SHA256, password.as_bytes());
            verify_bcrypt(crate::hex::encode(digest.as_ref()).as_bytes(), rest)
        }
        "bcrypt" => verify_bcrypt(password.as_bytes(), rest),
        _ => false,
    }
}

fn verify_pbkdf2(algorithm: pbkdf2::Algorithm, password: &str, rest: &str) -> bool {
    let mut fields = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(hash)) = (fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let Some(iterations) = iterations.parse().ok().and_then(NonZeroU32::new) else {
        return false;
    };
    let Ok(expected) = STANDARD.decode(hash) else {
        return false;
    };
    pbkdf2::verify(
        algorithm,
        iterations,
        salt.as_bytes(),
        password.as_bytes(),
        &expected,
    )
    .is_ok()
}

/// The hash names its variant, version and cost; all are taken from it, as argon2-cffi does.
fn verify_argon2(password: &str, rest: &str) -> bool {
    PasswordHash::new(&argon2_phc(rest)).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Django keeps argon2-cffi's PHC string less its leading `$`. Hashes from before Argon2 1.3
/// carry no `v=`: argon2-cffi reads that as version 0x10, the `argon2` crate as 0x13.
fn argon2_phc(rest: &str) -> String {
    match rest.split_once('$') {
        Some((variant, params)) if !params.starts_with("v=") => format!("${variant}$v=16${params}"),
        _ => format!("${rest}"),
    }
}

/// `rest` is `$2b$<cost>$<salt+hash>`: Django's separator is followed by bcrypt's own `$`.
fn verify_bcrypt(password: &[u8], rest: &str) -> bool {
    // Python's bcrypt refuses NUL bytes, so Django never stored a hash of such a password.
    !password.contains(&0) && bcrypt::verify(password, rest).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// Made by a real Django; see `tests/fixtures/README.md`.
    #[derive(Deserialize)]
    struct Vector {
        algorithm: String,
        password: String,
        encoded: String,
        matches: bool,
    }

    fn vectors() -> Vec<Vector> {
        serde_json::from_str(include_str!("../../tests/fixtures/django_hashes.json")).unwrap()
    }

    #[test]
    fn hashes_made_by_django_verify_as_django_verifies_them() {
        let vectors = vectors();
        for algorithm in [
            "pbkdf2_sha256",
            "pbkdf2_sha1",
            "argon2",
            "bcrypt_sha256",
            "bcrypt",
        ] {
            assert!(
                vectors
                    .iter()
                    .any(|v| v.algorithm == algorithm && v.matches),
                "no matching vector for {algorithm}"
            );
        }
        for vector in &vectors {
            let supported = is_supported(&vector.encoded);
            assert_eq!(
                verify(&vector.password, &vector.encoded),
                vector.matches && supported,
                "{} {:?}",
                vector.algorithm,
                vector.password
            );
        }
    }

    /// Django 1.10's form: no `v=`, meaning Argon2 1.0 (made with argon2-cffi, version 0x10).
    #[test]
    fn argon2_hashes_without_a_version_are_argon2_1_0() {
        let encoded = "argon2$argon2i$m=512,t=2,p=2$c29tZXNhbHRzb21lc2FsdA$C0JC+dsjJGZL8k56EkAvMw";
        assert!(verify("correct horse battery staple", encoded));
        assert!(!verify("correct horse battery stapler", encoded));
    }

    #[test]
    fn legacy_unusable_and_malformed_hashes_never_verify() {
        for encoded in [
            "md5$salt$0123456789abcdef0123456789abcdef",
            "!unusablepasswordmarker",
            "",
            "pbkdf2_sha256$0$salt$AAAA",
            "pbkdf2_sha256$abc$salt$AAAA",
            "pbkdf2_sha256$1000$salt",
            "pbkdf2_sha256$1000$salt$not base64!",
            "argon2$nonsense",
            "bcrypt_sha256$$2b$12$short",
            // Costs only a tampered import would hold.
            "pbkdf2_sha256$4000000000$salt$AAAA",
            "argon2$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "bcrypt$$2b$31$aXxz8iWAL0fKCM5bpLGBuuWUeCfuRIEmTqr.GwfdBfiRLlqb8ZHvC",
        ] {
            assert!(!verify("password", encoded), "{encoded}");
        }
    }
}
