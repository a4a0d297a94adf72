use super::FieldError;

/// An email address as typed, plus the lower-cased key that makes it unique ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Django's `EmailValidator`, less its IDN and IP-literal branches: a dot-atom local part,
    /// an `@`, and a domain of dot-separated labels ending in a label of letters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("email", "Enter a valid email address.");
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldError::new("email", "This field may not be blank."));
        }
        if raw.len() > 254 {
            return Err(invalid());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local.split('.').all(|atom| {
                !atom.is_empty()
                    && atom
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
            });
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                (1..=63).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The form two addresses are compared in: `A@X.org` and `a@x.org` are one account.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "nitesh.singh5695@gmail.com",
            "x+tag@mail.example.org",
        ] {
            assert_eq!(Email::parse(ok).unwrap().as_ref(), ok);
        }
    }

    #[test]
    fn key_ignores_case() {
        assert_eq!(
            Email::parse("Demo@Gmail.COM").unwrap().key(),
            Email::parse("demo@gmail.com").unwrap().key()
        );
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@x.org",
            "a@",
            "a@b",
            "a@b.c",
            "a..b@x.org",
            "a@-x.org",
            "a b@x.org",
            "a@x.o1",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
