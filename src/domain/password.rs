use std::{collections::HashSet, fmt, sync::LazyLock};

use super::FieldError;

/// A candidate password that passed the policy. Its `Debug` never shows the text.
#[derive(Clone)]
pub struct Password(String);

/// Django's `CommonPasswordValidator` list (django/contrib/auth/common-passwords.txt.gz, BSD).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().collect());

const MIN_LENGTH: usize = 8;
/// Far beyond any passphrase; keeps hostile megabyte "passwords" out of the hash queue.
pub const MAX_LENGTH: usize = 4096;
/// Django's `UserAttributeSimilarityValidator.DEFAULT_MAX_SIMILARITY`.
const MAX_SIMILARITY: f64 = 0.7;

impl Password {
    /// Django's four default validators, in its order; every failing rule is reported.
    /// `attributes` are what the password must not resemble (username, email).
    pub fn parse(raw: &str, attributes: &[&str]) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let lowered = raw.to_lowercase();
        if let Some(attribute) = attributes
            .iter()
            .find(|attribute| too_similar(&lowered, attribute))
        {
            let which = if attribute.contains('@') {
                "email address"
            } else {
                "username"
            };
            errors.push(error(format!(
                "The password is too similar to the {which}."
            )));
        }
        if raw.chars().count() < MIN_LENGTH {
            errors.push(error(format!(
                "This password is too short. It must contain at least {MIN_LENGTH} characters."
            )));
        }
        if raw.chars().count() > MAX_LENGTH {
            errors.push(error(format!(
                "Ensure this field has no more than {MAX_LENGTH} characters."
            )));
        }
        if COMMON_PASSWORDS.contains(lowered.trim()) {
            errors.push(error("This password is too common."));
        }
        if !raw.is_empty() && raw.chars().all(|c| c.is_numeric()) {
            errors.push(error("This password is entirely numeric."));
        }
        if errors.is_empty() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(errors)
        }
    }

    /// For checking a login attempt, where no policy applies (callers refuse over-long input).
    pub fn unchecked_for_login(raw: String) -> Self {
        Self(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

fn error(message: impl Into<String>) -> FieldError {
    FieldError::new("password", message)
}

/// `UserAttributeSimilarityValidator` as Django 4+ runs it: the attribute and each of its
/// `\W+`-separated parts is compared by `SequenceMatcher.quick_ratio`, skipping parts far
/// shorter than the password.
fn too_similar(password_lowered: &str, attribute: &str) -> bool {
    let attribute = attribute.to_lowercase();
    let password_len = password_lowered.chars().count();
    attribute
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .chain(std::iter::once(attribute.as_str()))
        .filter(|part| !part.is_empty())
        .any(|part| {
            let part_len = part.chars().count();
            let far_shorter = password_len >= 10 * part_len
                && (part_len as f64) < MAX_SIMILARITY / 2.0 * password_len as f64;
            !far_shorter && quick_ratio(password_lowered, part) >= MAX_SIMILARITY
        })
}

/// difflib's `quick_ratio`: twice the size of the multiset intersection over the total length.
fn quick_ratio(a: &str, b: &str) -> f64 {
    let mut counts = std::collections::HashMap::<char, i32>::new();
    for c in b.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let mut matches = 0;
    for c in a.chars() {
        if let Some(count) = counts.get_mut(&c).filter(|count| **count > 0) {
            *count -= 1;
            matches += 1;
        }
    }
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        1.0
    } else {
        2.0 * matches as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(raw: &str, attributes: &[&str]) -> Vec<String> {
        Password::parse(raw, attributes)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn accepts_a_long_uncommon_password() {
        assert!(Password::parse("correct horse battery staple", &["alice"]).is_ok());
    }

    #[test]
    fn rejects_fewer_than_eight_characters() {
        assert!(messages("xK3#qz!", &[])[0].contains("too short"));
        assert!(Password::parse("xK3#qz!m", &[]).is_ok());
    }

    #[test]
    fn rejects_common_passwords_ignoring_case() {
        assert_eq!(messages("PassWord", &[]), ["This password is too common."]);
        assert_eq!(messages("admin123", &[]), ["This password is too common."]);
    }

    #[test]
    fn rejects_entirely_numeric() {
        assert!(
            messages("8203948572", &[]).contains(&"This password is entirely numeric.".to_owned())
        );
    }

    #[test]
    fn rejects_passwords_too_similar_to_the_username_or_email() {
        assert!(
            messages("prince@8756", &["prince.singh8756@gmail.com"])[0].contains("too similar")
        );
        assert!(messages("SmartUser1", &["smartuser"])[0].contains("username"));
        assert!(Password::parse("Bx7#mq2Lz9Vw", &["smartuser", "smart@example.com"]).is_ok());
    }

    #[test]
    fn quick_ratio_matches_difflib() {
        // difflib.SequenceMatcher(a="abcd", b="bcde").quick_ratio() == 0.75
        assert_eq!(quick_ratio("abcd", "bcde"), 0.75);
        assert_eq!(quick_ratio("", ""), 1.0);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let password = Password::unchecked_for_login("hunter2-secret".into());
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
