use super::FieldError;

/// A service client's name, as an operator typed it: 1-150 characters, no control characters,
/// no surrounding spaces, unique among clients (the `oauth_clients` index enforces that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub const MAX_LENGTH: usize = 150;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(FieldError::required("name"));
        }
        if name.chars().count() > Self::MAX_LENGTH {
            return Err(FieldError::new(
                "name",
                format!("at most {} characters", Self::MAX_LENGTH),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new("name", "no control characters"));
        }
        Ok(Self(name.to_owned()))
    }
}

impl AsRef<str> for ClientName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A `client_id` as a caller presented it: 1-64 printable ASCII characters. Anything else
/// names no client, and is refused before it is looked up or logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_LENGTH: usize = 64;

    pub fn parse(raw: &str) -> Option<Self> {
        let printable = raw.bytes().all(|b| b.is_ascii_graphic());
        (!raw.is_empty() && raw.len() <= Self::MAX_LENGTH && printable).then(|| Self(raw.into()))
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(ClientName::parse(" billing ").unwrap().as_ref(), "billing");
        assert!(ClientName::parse("  ").is_err());
        assert!(ClientName::parse(&"n".repeat(151)).is_err());
        assert!(ClientName::parse("bill\u{7}ing").is_err());
    }

    #[test]
    fn client_ids_are_bounded_printable_ascii() {
        assert!(ClientId::parse("3f2a9c").is_some());
        assert!(ClientId::parse("").is_none());
        assert!(ClientId::parse("has space").is_none());
        assert!(ClientId::parse("caf\u{e9}").is_none());
        assert!(ClientId::parse(&"a".repeat(65)).is_none());
    }
}
