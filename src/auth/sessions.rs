//! The caller's own sessions: see them, end one, end all.

use crate::error::{Failure, statuses::*};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, param::Path, param::Query, payload::Json, types::Example,
};

use super::{AuthState, AuthTags, BearerAuth, refuse_accountless};
use crate::{
    error::ApiError,
    metrics::{add, bump},
    token::AccessClaims,
};

#[derive(Default)]
pub struct SessionsApi;

/// One login and the refresh tokens it has rotated through. No token is ever shown.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Session {
    /// The session's id: the `sid` claim of the access tokens minted in it.
    pub id: String,
    /// When the session began (the login).
    pub created_at: DateTime<Utc>,
    /// Its last refresh, if it has been refreshed.
    #[oai(nullable)]
    pub refreshed_at: Option<DateTime<Utc>>,
    /// When its refresh token expires unless it is refreshed before.
    pub expires_at: DateTime<Utc>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

#[derive(ApiResponse)]
pub enum SessionsResponse {
    /// The caller's live sessions, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<Session>>),
}

#[derive(ApiResponse)]
pub enum EndSessionResponse {
    /// The session has ended: its refresh token no longer works, and its access tokens are
    /// refused by introspection (JWKS consumers accept them until they expire).
    #[oai(status = 204)]
    Ended,
}

/// How many sessions a logout ended.
#[derive(Debug, Object)]
#[oai(example)]
pub struct LoggedOut {
    pub ended: u64,
}

#[derive(ApiResponse)]
pub enum LogoutAllResponse {
    #[oai(status = 200)]
    Ok(Json<LoggedOut>),
}

fn timestamp(unix_s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix_s, 0).unwrap_or_default()
}

impl AuthState {
    /// The account behind a bearer token, which must still exist and be active, and whose
    /// session must not have ended.
    async fn session_owner(&self, claims: &AccessClaims) -> Result<i64, ApiError> {
        refuse_accountless(claims, ApiError::ANONYMOUS_HAS_NO_SESSIONS)?;
        Ok(self.load_live_caller(claims).await?.id)
    }
}

#[OpenApi(tag = "AuthTags::Sessions")]
impl SessionsApi {
    /// List your sessions
    ///
    /// Every live session of the caller's account: when it began, when it was last refreshed
    /// and when it expires, and which one the calling token belongs to. Anonymous tokens
    /// get 403.
    #[oai(
        path = "/auth/sessions/",
        method = "get",
        operation_id = "list_sessions"
    )]
    async fn list(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
    ) -> Result<SessionsResponse, Failure<{ UNAUTHORIZED | FORBIDDEN | UNAVAILABLE }>> {
        let account = state.session_owner(&auth.0).await?;
        let now = Utc::now().timestamp();
        let sessions = state.refresh_store.list(account, now).await?;
        let current = auth.0.sid.as_deref();
        Ok(SessionsResponse::Ok(Json(
            sessions
                .into_iter()
                .map(|session| Session {
                    current: current == Some(session.family.as_str()),
                    created_at: timestamp(session.created_at),
                    refreshed_at: session.refreshed_at.map(timestamp),
                    expires_at: timestamp(session.expires_at),
                    id: session.family,
                })
                .collect(),
        )))
    }

    /// End one of your sessions
    ///
    /// Logs that session out: its refresh token stops working at once. Ending the calling
    /// token's own session is a logout. 404 if the caller has no such live session.
    #[oai(
        path = "/auth/sessions/:id/",
        method = "delete",
        operation_id = "end_session"
    )]
    async fn end(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        /// A session's `id`, as listed.
        id: Path<String>,
    ) -> Result<EndSessionResponse, Failure<{ UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNAVAILABLE }>>
    {
        let account = state.session_owner(&auth.0).await?;
        // Ids are UUIDs: anything else names no session, and goes no further than here.
        if uuid::Uuid::try_parse(&id.0).is_err() {
            return Err(ApiError::NotFound.into());
        }
        if state.refresh_store.end(account, &id.0).await? {
            bump(&state.metrics.tokens.revoked);
            tracing::info!(user_id = account, "session ended by its owner");
            Ok(EndSessionResponse::Ended)
        } else {
            Err(ApiError::NotFound.into())
        }
    }

    /// Log out everywhere
    ///
    /// Ends every session of the caller's account at once, including the calling token's
    /// own unless `keep_current=true`. Access tokens already issued are refused by
    /// introspection at once and by JWKS consumers when they expire.
    #[oai(
        path = "/auth/logout-all/",
        method = "post",
        operation_id = "logout_all"
    )]
    async fn logout_all(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        /// Keep the session of the token making the request.
        keep_current: Query<Option<bool>>,
    ) -> Result<
        LogoutAllResponse,
        Failure<{ BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNAVAILABLE }>,
    > {
        let account = state.session_owner(&auth.0).await?;
        let keep = match keep_current.0 {
            Some(true) => auth.0.sid.as_deref(),
            _ => None,
        };
        let ended = state.account_changes().log_out(account, keep).await?;
        add(&state.metrics.tokens.revoked, ended);
        tracing::info!(
            user_id = account,
            ended,
            "all sessions ended by their owner"
        );
        Ok(LogoutAllResponse::Ok(Json(LoggedOut { ended })))
    }
}

impl Example for Session {
    fn example() -> Self {
        use crate::token::examples;
        Self {
            id: examples::SESSION.into(),
            created_at: examples::time(examples::ACCESS_IAT),
            refreshed_at: None,
            expires_at: examples::time(examples::ACCESS_IAT + 86_400),
            current: true,
        }
    }
}

impl Example for LoggedOut {
    fn example() -> Self {
        Self { ended: 2 }
    }
}
