use std::sync::Arc;

use crate::error::{Failure, statuses::*};
use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json, types::Example};
use serde::Deserialize;

use super::{AuthState, AuthTags, BearerAuth, refuse_accountless, tokens::TokenPair};
use crate::{
    domain::{Email, FieldError, FieldErrors, GstNo, Password, Role, Username},
    entity::user,
    error::ApiError,
    http::{AnyBody, DocumentedInput, Pagination, lenient_bool, lenient_string},
    metrics::bump,
    token::{Subject, examples},
    users::{self, NewUser},
};

#[derive(Default)]
pub struct AccountsApi;

/// Registration form. `gst_no` and `email` are required unless the operator made them optional.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RegisterRequest {
    /// 1-150 letters, digits and `@.+-_`; unique.
    #[oai(validator(min_length = 1, max_length = 150, pattern = r"^[\w.@+-]+$"))]
    pub username: String,
    /// Unique ignoring case.
    #[oai(validator(min_length = 3, max_length = 254, pattern = "@"))]
    pub email: String,
    /// At least 8 characters, not common, not all digits, not like the username or email.
    #[oai(validator(min_length = 8, max_length = 4096))]
    pub password: String,
    /// Must equal `password` when given.
    #[oai(validator(min_length = 8, max_length = 4096))]
    pub password2: Option<String>,
    /// GST registration number: up to 32 letters and digits.
    #[oai(validator(pattern = "^[A-Za-z0-9]{1,32}$"))]
    pub gst_no: String,
    /// `customer` (default). `staff` and `admin` need an admin's bearer token.
    #[oai(validator(pattern = "^(customer|staff|admin)$"))]
    pub role: Option<String>,
    /// Defaults to true; an inactive account gets no tokens and cannot log in.
    pub is_active: Option<bool>,
    /// Captcha token, when the operator enabled captcha (form bodies: `captcha_response`).
    pub captcha: Option<CaptchaRequest>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(example)]
pub struct CaptchaRequest {
    /// The token the captcha widget gave the browser.
    pub response: String,
}

#[derive(Deserialize)]
pub struct RegisterInput {
    #[serde(default, deserialize_with = "lenient_string")]
    username: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    password: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    password2: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    gst_no: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    role: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_active: Option<bool>,
    captcha: Option<CaptchaInput>,
    #[serde(default, deserialize_with = "lenient_string")]
    captcha_response: Option<String>,
}

/// seed 000 sends `captcha: {secret, response}`; the client's secret is never used.
#[derive(Deserialize)]
struct CaptchaInput {
    #[serde(default, deserialize_with = "lenient_string")]
    response: Option<String>,
}

impl DocumentedInput for RegisterInput {
    type Schema = RegisterRequest;
}

/// An account as its owner and administrators see it: never its password hash.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserProfile {
    pub id: i64,
    pub username: String,
    pub email: String,
    #[oai(nullable)]
    pub gst_no: Option<String>,
    /// `customer`, `staff` or `admin`.
    pub role: String,
    pub is_active: bool,
    pub date_joined: DateTime<Utc>,
    #[oai(nullable)]
    pub last_login: Option<DateTime<Utc>>,
}

impl From<user::Model> for UserProfile {
    fn from(account: user::Model) -> Self {
        Self {
            id: account.id,
            username: account.username,
            email: account.email,
            gst_no: account.gst_no,
            role: account.role.to_string(),
            is_active: account.is_active,
            date_joined: account.date_joined,
            last_login: account.last_login,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct Registered {
    #[oai(flatten)]
    pub user: UserProfile,
    /// Present when the new account is active (absent, too, if the session store was down:
    /// the account exists, and `/auth/token/` gives its tokens once the store is back).
    #[oai(skip_serializing_if_is_none)]
    pub tokens: Option<TokenPair>,
    /// The same pair under the name simplejwt apps give it in their registration views
    /// (`data['token'] = {'refresh': ..., 'access': ...}`, seed 002), so their clients read
    /// it unchanged.
    #[oai(skip_serializing_if_is_none, deprecated)]
    pub token: Option<TokenPair>,
}

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// Account created.
    #[oai(status = 201)]
    Created(Json<Registered>),
}

#[derive(ApiResponse)]
pub enum ProfileResponse {
    /// The caller's account.
    #[oai(status = 200)]
    Ok(Json<UserProfile>),
}

/// DRF's `PageNumberPagination` envelope.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserPage {
    pub count: u64,
    #[oai(nullable)]
    pub next: Option<String>,
    #[oai(nullable)]
    pub previous: Option<String>,
    pub results: Vec<UserProfile>,
}

#[derive(ApiResponse)]
pub enum AccountsResponse {
    /// One page of accounts, oldest first.
    #[oai(status = 200)]
    Ok(Json<UserPage>),
}

/// A registration that passed every field rule.
struct Registration {
    user: NewUser,
    password: Password,
    captcha_response: Option<String>,
}

impl AuthState {
    fn parse_registration(&self, input: RegisterInput) -> Result<Registration, FieldErrors> {
        let policy = self.registration;
        let mut errors = FieldErrors::default();
        let present = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        let username = errors.check(
            present(input.username)
                .ok_or(FieldError::required("username"))
                .and_then(|raw| Username::parse(&raw)),
        );
        let email = match present(input.email) {
            Some(raw) => errors.check(Email::parse(&raw)).map(Some),
            None if policy.require_email => errors.check(Err(FieldError::required("email"))),
            None => Some(None),
        };
        let gst_no = match present(input.gst_no) {
            Some(raw) => errors.check(GstNo::parse(&raw)).map(Some),
            None if policy.require_gst_no => errors.check(Err(FieldError::required("gst_no"))),
            None => Some(None),
        };
        let role = match present(input.role) {
            Some(raw) => errors.check(Role::parse_account_role(&raw)),
            None => Some(Role::Customer),
        };
        let password = match input.password.filter(|p| !p.is_empty()) {
            None => errors.check(Err(FieldError::required("password"))),
            Some(raw) => {
                if input.password2.as_ref().is_some_and(|again| *again != raw) {
                    errors.push(FieldError::new(
                        "password2",
                        "Password fields didn't match.",
                    ));
                }
                let mut attributes = Vec::new();
                if let Some(username) = &username {
                    attributes.push(username.as_ref());
                }
                if let Some(Some(email)) = &email {
                    attributes.push(email.as_ref());
                }
                match Password::parse(&raw, &attributes) {
                    Ok(password) => Some(password),
                    Err(rule_errors) => {
                        rule_errors.into_iter().for_each(|error| errors.push(error));
                        None
                    }
                }
            }
        };
        let captcha_response = input
            .captcha
            .and_then(|captcha| captcha.response)
            .or(input.captcha_response)
            .filter(|response| !response.is_empty());
        if self.captcha.is_some() && captcha_response.is_none() {
            errors.push(FieldError::required("captcha"));
        }
        match (username, email, password, gst_no, role) {
            (Some(username), Some(email), Some(password), Some(gst_no), Some(role))
                if errors.is_empty() =>
            {
                Ok(Registration {
                    user: NewUser {
                        username,
                        email,
                        gst_no,
                        role,
                        is_active: input.is_active.unwrap_or(true),
                    },
                    password,
                    captcha_response,
                })
            }
            _ => Err(errors),
        }
    }

    async fn check_captcha(&self, response: Option<&str>, req: &Request) -> Result<(), ApiError> {
        let (Some(captcha), Some(response)) = (&self.captcha, response) else {
            return Ok(());
        };
        let remote_ip = req
            .remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip().to_string());
        match captcha.verify(response, remote_ip.as_deref()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(FieldError::new("captcha", "Captcha verification failed.").into()),
            Err(err) => {
                tracing::warn!(error = %err, "captcha provider unreachable");
                Err(ApiError::Unavailable(
                    "The captcha provider is unreachable; try again shortly.",
                ))
            }
        }
    }

    /// Staff and admin accounts are made only by an admin.
    /// The caller must be an admin now, by the database, not only by the token's claim: an
    /// admin demoted or deactivated a minute ago holds a token that still says `admin`.
    async fn check_may_grant(&self, role: Role, req: &Request) -> Result<(), ApiError> {
        if !role.is_privileged() {
            return Ok(());
        }
        let claims = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.verifier.verify_access(token.trim()).ok());
        let caller_is_admin = match claims {
            Some(claims) if claims.role == Role::Admin => {
                match self.load_live_caller(&claims).await {
                    Ok(caller) => caller.role == Role::Admin,
                    // No longer an admin's live session: refused like no token at all.
                    Err(ApiError::BearerNotValid) => false,
                    // A store or database that is down is a 503, not a refusal.
                    Err(unavailable) => return Err(unavailable),
                }
            }
            _ => false,
        };
        if caller_is_admin {
            Ok(())
        } else {
            Err(ApiError::ONLY_ADMINS_CREATE_STAFF)
        }
    }

    pub(super) async fn load_caller(
        &self,
        claims: &crate::token::AccessClaims,
    ) -> Result<user::Model, ApiError> {
        let user_id = claims.user_id.ok_or(ApiError::BearerNotValid)?;
        users::find_active(&self.db, user_id)
            .await?
            .ok_or(ApiError::BearerNotValid)
    }

    /// The caller's active account, if the token's session has not ended: what manages
    /// sessions, passwords or other accounts refuses a token that a logout, a password change
    /// or a deactivation has cut, although its signature holds until `exp`.
    pub(super) async fn load_live_caller(
        &self,
        claims: &crate::token::AccessClaims,
    ) -> Result<user::Model, ApiError> {
        if let Some(session) = crate::refresh::SessionRef::of_access(claims) {
            let now = chrono::Utc::now().timestamp();
            if !self.refresh_store.session_exists(session, now).await? {
                return Err(ApiError::BearerNotValid);
            }
        }
        self.load_caller(claims).await
    }

    /// The caller, as [`Self::load_live_caller`], if their account (as it is now, not as the
    /// token says) holds a role `allowed` accepts; 403 otherwise, and for anonymous tokens.
    pub(super) async fn require_role(
        &self,
        claims: &crate::token::AccessClaims,
        allowed: impl Fn(Role) -> bool,
    ) -> Result<user::Model, ApiError> {
        refuse_accountless(claims, ApiError::forbidden())?;
        let caller = self.load_live_caller(claims).await?;
        if allowed(caller.role) {
            Ok(caller)
        } else {
            Err(ApiError::forbidden())
        }
    }
}

#[OpenApi(tag = "AuthTags::Accounts")]
impl AccountsApi {
    /// Register an account
    ///
    /// Creates a `customer` account (or `staff`/`admin` when an admin's bearer token is sent)
    /// and, when the account is active, returns its first token pair.
    #[oai(path = "/auth/register/", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        body: AnyBody<RegisterInput>,
    ) -> Result<RegisterResponse, Failure<{ BODY | FORBIDDEN | TOO_MANY_REQUESTS }>> {
        state.limits.admit(&state.limits.register, req).await?;
        let AnyBody(input) = body;
        let registration = state.parse_registration(input)?;
        let role = registration.user.role;
        state.check_may_grant(role, req).await?;
        state
            .check_captcha(registration.captcha_response.as_deref(), req)
            .await?;
        users::check_available(&state.db, &registration.user).await?;
        let password_hash = state.hasher.hash(registration.password).await?;
        let created = users::insert(&state.db, registration.user, password_hash).await?;
        tracing::info!(user_id = created.id, %role, "account registered");
        let tokens = if created.is_active {
            let subject = Subject::account(created.id, &created.username, role);
            match state.issue_pair(&subject).await {
                Ok(pair) => {
                    bump(&state.metrics.tokens.issued_register);
                    Some(pair)
                }
                Err(ApiError::Unavailable(_)) => None,
                Err(other) => return Err(other.into()),
            }
        } else {
            None
        };
        Ok(RegisterResponse::Created(Json(Registered {
            user: created.into(),
            token: tokens.clone(),
            tokens,
        })))
    }

    /// The caller's profile
    ///
    /// Anonymous tokens belong to no account and get 403.
    #[oai(path = "/auth/me/", method = "get", operation_id = "get_me")]
    async fn me(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
    ) -> Result<ProfileResponse, Failure<{ UNAUTHORIZED | FORBIDDEN | UNAVAILABLE }>> {
        refuse_accountless(&auth.0, ApiError::ANONYMOUS_HAS_NO_ACCOUNT)?;
        Ok(ProfileResponse::Ok(Json(
            // The account as it is now, without asking the session store: who-am-I stays
            // available while Redis is down, and answers for a logged-out token until its exp.
            state.load_caller(&auth.0).await?.into(),
        )))
    }

    /// List accounts
    ///
    /// Staff and admin only. `page` starts at 1; `page_size` defaults to 20, at most 100.
    #[oai(
        path = "/auth/accounts/",
        method = "get",
        operation_id = "list_accounts"
    )]
    async fn accounts(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        page: Query<Option<u64>>,
        page_size: Query<Option<u64>>,
    ) -> Result<
        AccountsResponse,
        Failure<{ BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNAVAILABLE }>,
    > {
        state.require_role(&auth.0, Role::is_privileged).await?;
        let pagination = Pagination::new(page.0, page_size.0)?;
        let (count, results) = users::page(&state.db, pagination.page_size, |count| {
            pagination.index(count)
        })
        .await?;
        let (next, previous) =
            pagination.links(count, &format!("{}/auth/accounts/", state.public_url));
        Ok(AccountsResponse::Ok(Json(UserPage {
            count,
            next,
            previous,
            results: results.into_iter().map(UserProfile::from).collect(),
        })))
    }
}

impl Example for RegisterRequest {
    fn example() -> Self {
        Self {
            username: "asha".into(),
            email: "asha@example.com".into(),
            password: "Bx7#mq2Lz9Vw".into(),
            password2: Some("Bx7#mq2Lz9Vw".into()),
            gst_no: "gst12345".into(),
            role: None,
            is_active: None,
            captcha: None,
        }
    }
}

impl Example for CaptchaRequest {
    fn example() -> Self {
        Self {
            response: "03AFcWeA6pXzG2...".into(),
        }
    }
}

impl Example for UserProfile {
    fn example() -> Self {
        Self {
            id: 1,
            username: "asha".into(),
            email: "asha@example.com".into(),
            gst_no: Some("gst12345".into()),
            role: Role::Customer.as_str().into(),
            is_active: true,
            date_joined: examples::time(examples::ACCESS_IAT),
            last_login: None,
        }
    }
}

impl Example for Registered {
    fn example() -> Self {
        Self {
            user: UserProfile::example(),
            tokens: Some(TokenPair::example()),
            token: Some(TokenPair::example()),
        }
    }
}

impl Example for UserPage {
    fn example() -> Self {
        Self {
            count: 1,
            next: None,
            previous: None,
            results: vec![UserProfile::example()],
        }
    }
}
