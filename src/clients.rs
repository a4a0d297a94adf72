//! OAuth 2.0 service clients (RFC 6749 §2): the one module that reads and writes the
//! `oauth_clients` table, for the token endpoint, introspection and the CLI alike.
//!
//! A client's secret is 256 random bits, shown once when it is made and stored as its SHA-256.
//! A password needs a slow hash because people choose guessable ones; a random 256-bit secret
//! cannot be guessed from its digest, and a fast digest keeps client authentication off the
//! hashing workers that logins queue for.

use std::fmt;

use aws_lc_rs::{constant_time::verify_slices_are_equal, digest, rand};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, SqlErr,
};

use crate::{
    domain::{ClientId, ClientName, Scopes},
    entity::oauth_client,
    hex,
};

/// A registered client, as the token endpoint and the CLI see it (never its secret's digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub scopes: Scopes,
    pub is_active: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub secret_set_at: chrono::DateTime<Utc>,
}

impl TryFrom<oauth_client::Model> for Client {
    type Error = anyhow::Error;

    fn try_from(row: oauth_client::Model) -> anyhow::Result<Self> {
        let scopes = Scopes::parse(&row.scopes).map_err(|problem| {
            anyhow::anyhow!("client {}'s stored scopes: {problem}", row.client_id)
        })?;
        Ok(Self {
            client_id: row.client_id,
            name: row.name,
            scopes,
            is_active: row.is_active,
            created_at: row.created_at,
            secret_set_at: row.secret_set_at,
        })
    }
}

/// A client secret as generated: printed once, then only its digest exists.
pub struct ClientSecret(String);

impl ClientSecret {
    fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random::<32>()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

/// What a secret is stored as: SHA-256, lower-case hex.
fn digest_hex(secret: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref())
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes).expect("the system's random source works");
    bytes
}

#[derive(Debug, thiserror::Error)]
pub enum CreateClientError {
    #[error("a client named {0:?} exists already")]
    NameTaken(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn failed(what: &'static str) -> impl FnOnce(DbErr) -> anyhow::Error {
    move |err| anyhow::anyhow!(err).context(what)
}

/// Registers a client allowed `scopes`, and returns it with its secret.
pub async fn create(
    db: &DatabaseConnection,
    name: ClientName,
    scopes: Scopes,
) -> Result<(Client, ClientSecret), CreateClientError> {
    let secret = ClientSecret::generate();
    let now = Utc::now();
    let client_id = hex::encode(&random::<16>());
    let row = oauth_client::ActiveModel {
        client_id: Set(client_id),
        name: Set(name.as_ref().to_owned()),
        secret_hash: Set(digest_hex(secret.expose())),
        scopes: Set(scopes.to_string()),
        is_active: Set(true),
        created_at: Set(now),
        secret_set_at: Set(now),
        ..Default::default()
    };
    let row = oauth_client::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .map_err(|err| match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                CreateClientError::NameTaken(name.as_ref().to_owned())
            }
            _ => failed("registering the client")(err).into(),
        })?;
    Ok((row.try_into()?, secret))
}

/// Every client, oldest first. Only operators register clients, so there are few.
pub async fn list(db: &DatabaseConnection) -> anyhow::Result<Vec<Client>> {
    oauth_client::Entity::find()
        .order_by_asc(oauth_client::Column::Id)
        .all(db)
        .await
        .map_err(failed("listing clients"))?
        .into_iter()
        .map(Client::try_from)
        .collect()
}

async fn find_row(
    db: &DatabaseConnection,
    client_id: &str,
) -> anyhow::Result<Option<oauth_client::Model>> {
    oauth_client::Entity::find()
        .filter(oauth_client::Column::ClientId.eq(client_id))
        .one(db)
        .await
        .map_err(failed("looking up the client"))
}

/// The client an operator named by its id, or else by its name.
pub async fn find(db: &DatabaseConnection, id_or_name: &str) -> anyhow::Result<Option<Client>> {
    let row = match find_row(db, id_or_name).await? {
        Some(row) => Some(row),
        None => oauth_client::Entity::find()
            .filter(oauth_client::Column::Name.eq(id_or_name))
            .one(db)
            .await
            .map_err(failed("looking up the client"))?,
    };
    row.map(Client::try_from).transpose()
}

/// What presenting a client id and secret came to.
#[derive(Debug)]
pub enum Authentication {
    Authenticated(Client),
    /// The id is a client's: the secret is not its own, or the client is disabled.
    Refused,
    /// No client has the id (which may be anything, a misplaced secret even: not to be logged).
    UnknownClient,
}

/// Whether `secret` is the secret of the active client `client_id` names. The digests are
/// compared in constant time, and an unknown id costs one comparison too.
pub async fn authenticate(
    db: &DatabaseConnection,
    client_id: &ClientId,
    secret: &str,
) -> anyhow::Result<Authentication> {
    let row = find_row(db, client_id.as_ref()).await?;
    let presented = digest_hex(secret);
    let stored = row
        .as_ref()
        .map_or_else(|| "-".repeat(64), |row| row.secret_hash.clone());
    let secret_matches = verify_slices_are_equal(presented.as_bytes(), stored.as_bytes()).is_ok();
    Ok(match row {
        Some(row) if secret_matches && row.is_active => {
            Authentication::Authenticated(row.try_into()?)
        }
        Some(_) => Authentication::Refused,
        None => Authentication::UnknownClient,
    })
}

/// Whether `client_id` names a client that is still active: a service token outlives neither
/// its client's deletion nor its deactivation, for whoever introspects it.
pub async fn is_active(db: &DatabaseConnection, client_id: &str) -> anyhow::Result<bool> {
    Ok(find_row(db, client_id)
        .await?
        .is_some_and(|row| row.is_active))
}

/// A new secret for the client; the old one stops working at once.
pub async fn rotate_secret(
    db: &DatabaseConnection,
    client: &Client,
) -> anyhow::Result<ClientSecret> {
    let secret = ClientSecret::generate();
    let mut row = find_row(db, &client.client_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("client {} was deleted meanwhile", client.client_id))?
        .into_active_model();
    row.secret_hash = Set(digest_hex(secret.expose()));
    row.secret_set_at = Set(Utc::now());
    row.update(db)
        .await
        .map_err(failed("storing the new secret"))?;
    Ok(secret)
}

/// Enables or disables the client; a disabled client gets no token and its tokens introspect
/// as inactive.
pub async fn set_active(
    db: &DatabaseConnection,
    client: &Client,
    active: bool,
) -> anyhow::Result<()> {
    oauth_client::Entity::update_many()
        .col_expr(oauth_client::Column::IsActive, active.into())
        .filter(oauth_client::Column::ClientId.eq(&client.client_id))
        .exec(db)
        .await
        .map_err(failed("changing the client"))?;
    Ok(())
}

/// Deletes the client; whether it was there.
pub async fn delete(db: &DatabaseConnection, client: &Client) -> anyhow::Result<bool> {
    let result = oauth_client::Entity::delete_many()
        .filter(oauth_client::Column::ClientId.eq(&client.client_id))
        .exec(db)
        .await
        .map_err(failed("deleting the client"))?;
    Ok(result.rows_affected > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_random_bits_and_stored_as_their_digest() {
        let (one, two) = (ClientSecret::generate(), ClientSecret::generate());
        assert_eq!(one.expose().len(), 43);
        assert_ne!(one.expose(), two.expose());
        assert_eq!(digest_hex(one.expose()).len(), 64);
        assert_ne!(digest_hex(one.expose()), one.expose());
        assert_eq!(format!("{one:?}"), "ClientSecret(..)");
    }
}
