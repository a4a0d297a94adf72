use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// simplejwt's `token_type` claim: a token of one kind is never accepted as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// RFC 9068 claims plus simplejwt's `token_type` and `user_id`, and our `role`, `username` and
/// `sid`. A service token (the `client_credentials` grant) has `sub` = `client_id`, a `scope`,
/// role `service`, and none of `user_id`, `username` or `sid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub token_type: TokenType,
    /// simplejwt's claim; absent on anonymous tokens, which belong to no account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The session (refresh family) the token was minted in, under OpenID's name: once the
    /// session is revoked, introspection calls the token inactive although its signature holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// RFC 9068 §2.2.3, space-separated: what a service token may do. User tokens carry none;
    /// their role decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl AccessClaims {
    /// Whether the token carries `scope` (only service tokens carry any).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|granted| granted.split(' ').any(|s| s == scope))
    }
}

/// A refresh token's claims. `fam` names the rotation family, so reuse of any member can
/// revoke all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub iss: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub fam: String,
    /// When the session began (OpenID's name for it): no refresh carries the family past
    /// `session_max_lifetime` from here. Tokens minted before it was recorded lack it, and
    /// their next refresh starts the count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    pub token_type: TokenType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// Who a pair of tokens is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub sub: String,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub role: Role,
}

impl Subject {
    pub fn account(user_id: i64, username: &str, role: Role) -> Self {
        Self {
            sub: user_id.to_string(),
            user_id: Some(user_id),
            username: Some(username.to_owned()),
            role,
        }
    }
}
