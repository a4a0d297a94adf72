use super::FieldError;

use unicode_normalization::UnicodeNormalization;

/// Django's `UnicodeUsernameValidator`: 1 to 150 letters, digits and `@.+-_`, after NFKC
/// normalisation (Django's `UsernameField`), so `ａｄｍｉｎ` and `admin` are one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// The form a username is stored and looked up in.
    pub fn normalize(raw: &str) -> String {
        raw.nfkc().collect()
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = &Self::normalize(raw);
        let length = raw.chars().count();
        if length == 0 {
            return Err(FieldError::new("username", "This field may not be blank."));
        }
        if length > 150 {
            return Err(FieldError::new(
                "username",
                "Ensure this field has no more than 150 characters.",
            ));
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
    fn rejects_spaces_slashes_and_quotes() {
        for bad in ["a b", "a/b", "a'b", "a\"b", "a\nb", "<script>"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
