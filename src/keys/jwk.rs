use aws_lc_rs::digest::{SHA256, digest};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem_openapi::{Object, types::Example};
use serde::{Deserialize, Serialize};

/// One public RSA key as RFC 7517 publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Object)]
#[oai(example)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    #[oai(rename = "use")]
    pub use_: String,
    /// Always `RS256`.
    pub alg: String,
    /// The RFC 7638 thumbprint of this key.
    pub kid: String,
    /// Modulus, base64url big-endian.
    pub n: String,
    /// Public exponent, base64url big-endian.
    pub e: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Object)]
#[oai(example)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwk {
    pub fn rs256(n: String, e: String) -> Self {
        Self {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid: thumbprint(&n, &e),
            n,
            e,
        }
    }
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace, base64url.
pub fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

/// The key that signed the OpenAPI documents' example tokens.
impl Example for Jwk {
    fn example() -> Self {
        use crate::token::examples;
        Self {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid: examples::KID.into(),
            n: examples::MODULUS.into(),
            e: "AQAB".into(),
        }
    }
}

impl Example for Jwks {
    fn example() -> Self {
        Self {
            keys: vec![Jwk::example()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_section_3_1() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
