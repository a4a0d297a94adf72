//! The customer resource service (seed 000's customer API): a separate process that trusts the
//! token service only through its JWKS. Anonymous tokens may read; registered ones may write;
//! service tokens may do what their scopes say (`customers:read`, `customers:write`).

mod handlers;
mod page_cache;

use std::sync::Arc;

use poem::Request;
use poem_openapi::{SecurityScheme, Tags, auth::Bearer};
use sea_orm::DatabaseConnection;

pub use handlers::{CustomersApi, id_required};
pub use page_cache::PageCache;

use crate::{
    domain::Role,
    error::ApiError,
    jwks::{JwksVerifier, VerifyError},
    token::AccessClaims,
};

/// Everything the customer handlers share.
pub struct CustomersState {
    pub db: DatabaseConnection,
    pub verifier: Arc<JwksVerifier>,
    /// Where clients reach this service: the base of `next`/`previous` links.
    pub public_url: String,
    /// List pages as rendered, when this process is the database's only writer.
    pub list_cache: Option<PageCache>,
}

#[derive(Tags)]
pub enum CustomerTags {
    /// Customers: anonymous tokens read, registered tokens read and write, service tokens as
    /// their scopes say.
    Customers,
}

/// `Authorization: Bearer <access token>`, verified against the issuer's JWKS.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "verify_bearer")]
pub struct CustomerAuth(pub AccessClaims);

/// The scope a service token needs to read customers.
pub const READ_SCOPE: &str = "customers:read";
/// ... and to create, change or delete them.
pub const WRITE_SCOPE: &str = "customers:write";

impl CustomerAuth {
    /// Every user token may read; a service token needs `customers:read`.
    pub fn require_read(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Service && !self.0.has_scope(READ_SCOPE) {
            Err(ApiError::NEEDS_CUSTOMERS_READ)
        } else {
            Ok(())
        }
    }

    /// Registered roles (customer, staff, admin) may change data; anonymous tokens only read;
    /// a service token needs `customers:write`.
    pub fn require_write(&self) -> Result<(), ApiError> {
        match self.0.role {
            Role::Anonymous => Err(ApiError::ANONYMOUS_MAY_ONLY_READ),
            Role::Service if !self.0.has_scope(WRITE_SCOPE) => Err(ApiError::NEEDS_CUSTOMERS_WRITE),
            _ => Ok(()),
        }
    }
}

async fn verify_bearer(req: &Request, bearer: Bearer) -> poem::Result<AccessClaims> {
    let state = req
        .data::<Arc<CustomersState>>()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("CustomersState is not installed")))?;
    state.verifier.verify(&bearer.token).await.map_err(|err| {
        match err {
            VerifyError::Rejected(_) => ApiError::BearerNotValid,
            VerifyError::NoKeys => ApiError::Unavailable(
                "The token issuer's keys are not available yet; try again shortly.",
            ),
        }
        .into()
    })
}
