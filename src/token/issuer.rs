use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Serialize;

use super::{AccessClaims, RefreshClaims, Subject, TokenSettings, TokenType};
use crate::{
    domain::{Role, Scopes},
    keys::SharedKeyRing,
    refresh::Successor,
};

/// How long tokens live, by kind of subject (simplejwt's defaults, shorter for anonymous).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
    pub anonymous_access: Duration,
    pub anonymous_refresh: Duration,
    /// However often it is refreshed, a session ends this long after it began.
    pub session_max: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access: Duration::from_secs(5 * 60),
            refresh: Duration::from_secs(24 * 60 * 60),
            anonymous_access: Duration::from_secs(2 * 60),
            anonymous_refresh: Duration::from_secs(60 * 60),
            session_max: Duration::from_secs(30 * 24 * 60 * 60),
        }
    }
}

/// Mints token pairs. It writes the JWS itself so that the RSA key pair stays parsed
/// (`jsonwebtoken::encode` re-parses the private key on every call).
pub struct TokenIssuer {
    keys: Arc<SharedKeyRing>,
    settings: TokenSettings,
    lifetimes: Lifetimes,
}

pub struct IssuedPair {
    pub access: String,
    pub refresh: String,
    pub refresh_claims: RefreshClaims,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

impl TokenIssuer {
    pub fn new(keys: Arc<SharedKeyRing>, settings: TokenSettings, lifetimes: Lifetimes) -> Self {
        Self {
            keys,
            settings,
            lifetimes,
        }
    }

    /// The `aud` of the access tokens this issuer mints.
    pub fn audience(&self) -> &str {
        &self.settings.audience
    }

    /// A new access token and a refresh token that starts a new family.
    pub fn issue_pair(&self, subject: &Subject) -> IssuedPair {
        let now = chrono::Utc::now().timestamp();
        self.pair_in_family(subject, &uuid::Uuid::new_v4().to_string(), now, now)
            .expect("a session that begins now is within its lifetime")
    }

    /// The next refresh token of a session that began at `auth_time` (its id and lifetime, not
    /// yet signed); `None` once the session has reached `session_max_lifetime`.
    pub fn successor_in_session(&self, role: Role, auth_time: i64) -> Option<Successor> {
        self.successor(role, auth_time, chrono::Utc::now().timestamp())
    }

    fn pair_in_family(
        &self,
        subject: &Subject,
        family: &str,
        auth_time: i64,
        now: i64,
    ) -> Option<IssuedPair> {
        let successor = self.successor(subject.role, auth_time, now)?;
        Some(self.pair_for(subject, family, auth_time, successor, now))
    }

    fn successor(&self, role: Role, auth_time: i64, now: i64) -> Option<Successor> {
        let session_max = i64::try_from(self.lifetimes.session_max.as_secs()).unwrap_or(i64::MAX);
        let session_ends_at = auth_time.saturating_add(session_max);
        let expires_at = (now + self.lifetimes_for(role).1).min(session_ends_at);
        (expires_at > now).then(|| Successor {
            jti: uuid::Uuid::new_v4().simple().to_string(),
            issued_at: now,
            expires_at,
        })
    }

    /// The pair whose refresh token is the one `refresh` describes, signed at `now`: the same
    /// token each time while the signing key and the subject are unchanged (HS256 is
    /// deterministic), and a new access token beside it.
    pub fn pair_for(
        &self,
        subject: &Subject,
        family: &str,
        auth_time: i64,
        refresh: Successor,
        now: i64,
    ) -> IssuedPair {
        let mut access = self.access_claims(subject, family, now);
        // Nor does the access token outlive the session's end.
        access.exp = access.exp.min(refresh.expires_at);
        let refresh_claims = RefreshClaims {
            iss: self.settings.issuer.clone(),
            sub: subject.sub.clone(),
            exp: refresh.expires_at,
            iat: refresh.issued_at,
            jti: refresh.jti,
            fam: family.to_owned(),
            auth_time: Some(auth_time),
            token_type: TokenType::Refresh,
            user_id: subject.user_id,
            role: subject.role,
            username: subject.username.clone(),
        };
        let ring = self.keys.current();
        let key = ring.active();
        let access = jws("RS256", "at+jwt", &key.kid, &access, |m| key.sign_rs256(m));
        let refresh = jws("HS256", "JWT", &key.kid, &refresh_claims, |m| {
            key.sign_hs256(m)
        });
        IssuedPair {
            access,
            refresh,
            refresh_claims,
        }
    }

    pub fn issue_access(&self, subject: &Subject, family: &str) -> String {
        let ring = self.keys.current();
        let key = ring.active();
        let claims = self.access_claims(subject, family, chrono::Utc::now().timestamp());
        jws("RS256", "at+jwt", &key.kid, &claims, |m| key.sign_rs256(m))
    }

    fn access_claims(&self, subject: &Subject, family: &str, now: i64) -> AccessClaims {
        AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: subject.sub.clone(),
            exp: now + self.lifetimes_for(subject.role).0,
            iat: now,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            client_id: self.settings.client_id.clone(),
            token_type: TokenType::Access,
            user_id: subject.user_id,
            role: subject.role,
            username: subject.username.clone(),
            sid: Some(family.to_owned()),
            scope: None,
        }
    }

    /// A service token (RFC 6749 §4.4, RFC 9068): the client is its own subject, `scope` says
    /// what it may do, and there is no refresh token or session: the client asks again.
    pub fn issue_service_access(&self, client_id: &str, scope: &Scopes) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: client_id.to_owned(),
            exp: now + self.lifetimes_for(Role::Service).0,
            iat: now,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            client_id: client_id.to_owned(),
            token_type: TokenType::Access,
            user_id: None,
            role: Role::Service,
            username: None,
            sid: None,
            scope: Some(scope.to_string()),
        };
        let ring = self.keys.current();
        let key = ring.active();
        jws("RS256", "at+jwt", &key.kid, &claims, |m| key.sign_rs256(m))
    }

    /// (access, refresh) lifetimes in seconds.
    fn lifetimes_for(&self, role: Role) -> (i64, i64) {
        let (access, refresh) = if role == Role::Anonymous {
            (
                self.lifetimes.anonymous_access,
                self.lifetimes.anonymous_refresh,
            )
        } else {
            (self.lifetimes.access, self.lifetimes.refresh)
        };
        (access.as_secs() as i64, refresh.as_secs() as i64)
    }
}

/// RFC 7515 compact serialisation: base64url(header) . base64url(claims) . base64url(signature).
fn jws(
    alg: &'static str,
    typ: &'static str,
    kid: &str,
    claims: &impl Serialize,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let header = serde_json::to_vec(&Header { alg, typ, kid }).expect("header serialises");
    let claims = serde_json::to_vec(claims).expect("claims serialise");
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut token);
    let signature = sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}
