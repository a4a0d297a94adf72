use super::FieldError;

use unicode_normalization::UnicodeNormalization;

/// Django's `AbstractUser.username` `max_length`.
pub const MAX_LENGTH: usize = 150;

/// Django's `UnicodeUsernameValidator`: 1 to 150 letters, digits and `@.+-_`, after NFKC
/// normalisation (Django's `UsernameField`), so `ａｄｍｉｎ` and `admin` are one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// The form a username is stored and looked up in.
    pub fn normalize(raw: &str) -> String {
        raw.nfkc().collect()
    }

    /// The stored form of a name someone logs in with: any characters (accounts imported from
    /// Django may predate its validator), but no longer than a username can be. The length is
    /// checked before normalising too: NFKC turns one character into as many as 18.
    pub fn for_login(raw: &str) -> Result<String, FieldError> {
        let too_long = || {
            FieldError::new(
                "username",
                format!("Ensure this field has no more than {MAX_LENGTH} characters."),
            )
        };
        if raw.chars().count() > MAX_LENGTH {
            return Err(too_long());
        }
        let normalized = Self::normalize(raw);
        if normalized.chars().count() > MAX_LENGTH {
            return Err(too_long());
        }
        Ok(normalized)
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = &Self::for_login(raw)?;
        if raw.is_empty() {
            return Err(FieldError::new("username", "This field may not be blank."));
        }
        if !raw
            .chars()
            .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
        {
            return Err(FieldError::new(
                "username",
                "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_django_punctuation_and_unicode_letters() {
        for ok in ["admin", "prince.singh8756@gmail.com", "a+b-c_d", "Zoë", "x"] {
            assert_eq!(Username::parse(ok).unwrap().as_ref(), ok);
        }
    }

    #[test]
    fn normalizes_compatibility_characters() {
        assert_eq!(Username::parse("ａｄｍｉｎ").unwrap().as_ref(), "admin");
    }

    #[test]
    fn rejects_empty() {
        assert!(Username::parse("").is_err());
    }

    #[test]
    fn rejects_more_than_150_characters() {
        assert!(Username::parse(&"a".repeat(150)).is_ok());
        assert!(Username::parse(&"a".repeat(151)).is_err());
    }

    #[test]
    fn a_name_that_grows_past_the_limit_under_nfkc_is_refused() {
        // U+FDFA is one character and 18 after NFKC.
        assert!(Username::for_login(&"\u{FDFA}".repeat(8)).is_ok());
        assert!(Username::for_login(&"\u{FDFA}".repeat(9)).is_err());
        assert!(Username::for_login(&"\u{FDFA}".repeat(1 << 16)).is_err());
    }

    #[test]
    fn rejects_spaces_slashes_and_quotes() {
        for bad in ["a b", "a/b", "a'b", "a\"b", "a\nb", "<script>"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
