use std::{collections::BTreeSet, fmt};

/// An OAuth 2.0 scope (RFC 6749 §3.3): a set of scope tokens, written space-separated. Each
/// token is printable ASCII without space, `"` or `\`, and bounded, so a parsed set is safe to
/// store, log, compare and sign into a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// A scope token's longest (RFC 6749 sets none; 64 fits `resource:action` names).
    pub const MAX_TOKEN_LENGTH: usize = 64;
    /// Most tokens one set holds: a client's registration, a request, a token's claim.
    pub const MAX_TOKENS: usize = 32;

    /// The scope tokens in `raw`, separated by spaces; none is an empty set.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > (Self::MAX_TOKEN_LENGTH + 1) * Self::MAX_TOKENS {
            return Err("is too long".into());
        }
        let mut scopes = BTreeSet::new();
        for token in raw.split(' ').filter(|token| !token.is_empty()) {
            if token.len() > Self::MAX_TOKEN_LENGTH {
                return Err(format!(
                    "a scope is at most {} characters",
                    Self::MAX_TOKEN_LENGTH
                ));
            }
            if !token
                .bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
            {
                return Err(
                    "a scope is printable ASCII without spaces, quotes or backslashes".into(),
                );
            }
            scopes.insert(token.to_owned());
        }
        if scopes.len() > Self::MAX_TOKENS {
            return Err(format!("at most {} scopes", Self::MAX_TOKENS));
        }
        Ok(Self(scopes))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every scope of `self` is one of `other`'s.
    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }
}

/// Space-separated, in a stable order: the `scope` parameter's and claim's form.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_separated_tokens_into_a_set() {
        let scopes = Scopes::parse("customers:write customers:read  customers:read").unwrap();
        assert_eq!(scopes.to_string(), "customers:read customers:write");
        assert!(scopes.contains("customers:read"));
        assert!(!scopes.contains("customers"));
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_rfc_6749_excludes_and_what_is_unbounded() {
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "tab\there", "new\nline"] {
            assert!(Scopes::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Scopes::parse(&"x".repeat(65)).is_err());
        let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
        assert!(Scopes::parse(&many.join(" ")).is_err());
        assert!(Scopes::parse(&" ".repeat(100_000)).is_err());
    }

    #[test]
    fn subsets() {
        let registered = Scopes::parse("customers:read customers:write").unwrap();
        assert!(
            Scopes::parse("customers:read")
                .unwrap()
                .is_subset(&registered)
        );
        assert!(
            !Scopes::parse("customers:delete")
                .unwrap()
                .is_subset(&registered)
        );
    }
}
