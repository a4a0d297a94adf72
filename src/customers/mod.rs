//! The customer resource service (seed 000's customer API): a separate process that trusts the
//! token service only through its JWKS. Anonymous tokens may read; registered ones may write.

mod handlers;

use std::sync::Arc;

use poem::Request;
use poem_openapi::{SecurityScheme, Tags, auth::Bearer};
use sea_orm::DatabaseConnection;

pub use handlers::{CustomersApi, id_required};

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
}

#[derive(Tags)]
pub enum CustomerTags {
    /// Customers: anonymous tokens read, registered tokens read and write.
    Customers,
}

/// `Authorization: Bearer <access token>`, verified against the issuer's JWKS.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "verify_bearer")]
pub struct CustomerAuth(pub AccessClaims);

impl CustomerAuth {
    /// Registered roles (customer, staff, admin) may change data; anonymous tokens only read.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Anonymous {
            Err(ApiError::ANONYMOUS_MAY_ONLY_READ)
        } else {
            Ok(())
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
