use std::{fmt, str::FromStr};

use sea_orm::sea_query::StringLen;

use super::FieldError;

/// Who a token speaks for. Self-registration gives `Customer`; `Anonymous` (a read-only
/// visitor) and `Service` (an OAuth client acting for itself) have tokens, no account.
/// It is also the `users.role` column's type, so a stored role is parsed once, where it is read.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    #[sea_orm(string_value = "customer")]
    Customer,
    #[sea_orm(string_value = "staff")]
    Staff,
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "anonymous")]
    Anonymous,
    #[sea_orm(string_value = "service")]
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::Anonymous => "anonymous",
            Role::Service => "service",
        }
    }

    /// A role an account can hold (anonymous and service are for tokens only).
    pub fn parse_account_role(raw: &str) -> Result<Self, FieldError> {
        match raw.parse() {
            Ok(Role::Anonymous | Role::Service) | Err(()) => Err(FieldError::new(
                "role",
                format!(
                    "\"{}\" is not a valid choice.",
                    raw.chars().take(32).collect::<String>()
                ),
            )),
            Ok(role) => Ok(role),
        }
    }

    /// Staff and admin may see every account.
    pub fn is_privileged(self) -> bool {
        matches!(self, Role::Staff | Role::Admin)
    }
}

impl FromStr for Role {
    type Err = ();

    fn from_str(raw: &str) -> Result<Self, ()> {
        match raw {
            "customer" => Ok(Role::Customer),
            "staff" => Ok(Role::Staff),
            "admin" => Ok(Role::Admin),
            "anonymous" => Ok(Role::Anonymous),
            "service" => Ok(Role::Service),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_roles_round_trip() {
        for role in [Role::Customer, Role::Staff, Role::Admin] {
            assert_eq!(Role::parse_account_role(role.as_str()), Ok(role));
        }
    }

    #[test]
    fn token_only_and_unknown_are_not_account_roles() {
        assert!(Role::parse_account_role("anonymous").is_err());
        assert!(Role::parse_account_role("service").is_err());
        assert!(Role::parse_account_role("root").is_err());
        assert!(Role::parse_account_role("Admin").is_err());
    }
}
