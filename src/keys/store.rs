use chrono::Utc;
use rsa::{RsaPrivateKey, pkcs8::EncodePrivateKey, traits::PublicKeyParts};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, OnConflict},
};

use super::{ActiveKey, Jwk, KeyCipher, KeyRing, PublishedKey, cipher::WrongKeySecret};
use crate::entity::signing_key;

/// Signing keys in the database, so that every instance on one database signs with the same key
/// and a restart keeps issued tokens valid. Private parts are stored only encrypted.
pub struct KeyStore {
    db: DatabaseConnection,
    cipher: KeyCipher,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error(transparent)]
    WrongSecret(#[from] WrongKeySecret),
    #[error("signing key storage: {0}")]
    Database(#[from] DbErr),
    #[error(transparent)]
    Unusable(#[from] anyhow::Error),
}

/// What `tessera keys list` shows of a key: never its private part.
#[derive(Debug, Clone)]
pub struct KeySummary {
    pub kid: String,
    pub generation: i32,
    pub created_at: chrono::DateTime<Utc>,
    pub signs_from: chrono::DateTime<Utc>,
    pub retires_at: Option<chrono::DateTime<Utc>>,
}

impl KeyStore {
    pub fn new(db: DatabaseConnection, cipher: KeyCipher) -> Self {
        Self { db, cipher }
    }

    /// Loads the published keys, making the first one if the store is empty.
    pub async fn load_or_create(&self) -> Result<KeyRing, KeyStoreError> {
        if self.published().await?.is_empty() {
            self.create_first_key().await?;
        }
        self.load().await
    }

    pub async fn load(&self) -> Result<KeyRing, KeyStoreError> {
        let now = Utc::now();
        let rows = self.published().await?;
        // The kid is bound to the encrypted private key (it is the AAD); the public half must
        // match it, so a row whose n/e were swapped cannot publish a key of someone else's.
        if let Some(row) = rows
            .iter()
            .find(|row| super::thumbprint(&row.n, &row.e) != row.kid)
        {
            return Err(anyhow::anyhow!(
                "signing key {} does not match its stored public key",
                row.kid
            )
            .into());
        }
        let active_row = rows
            .iter()
            .filter(|row| row.signs_from <= now)
            .max_by_key(|row| row.generation)
            .ok_or_else(|| anyhow::anyhow!("no signing key is active yet"))?;
        let active = ActiveKey::new(
            active_row.kid.clone(),
            &self.cipher.open(&active_row.private_key, &active_row.kid)?,
            &self.open_refresh_secret(active_row)?,
        )?;
        let published = rows
            .iter()
            .map(|row| {
                Ok(PublishedKey {
                    jwk: Jwk::rs256(row.n.clone(), row.e.clone()),
                    refresh_secret: self.open_refresh_secret(row)?,
                })
            })
            .collect::<Result<Vec<_>, KeyStoreError>>()?;
        Ok(KeyRing::new(active, published)?)
    }

    pub async fn list(&self) -> Result<Vec<KeySummary>, KeyStoreError> {
        let rows = signing_key::Entity::find()
            .order_by_asc(signing_key::Column::Generation)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| KeySummary {
                kid: row.kid,
                generation: row.generation,
                created_at: row.created_at,
                signs_from: row.signs_from,
                retires_at: row.retires_at,
            })
            .collect())
    }

    async fn published(&self) -> Result<Vec<signing_key::Model>, DbErr> {
        signing_key::Entity::find()
            .filter(
                Condition::any()
                    .add(signing_key::Column::RetiresAt.is_null())
                    .add(signing_key::Column::RetiresAt.gt(Utc::now())),
            )
            .order_by_asc(signing_key::Column::Generation)
            .all(&self.db)
            .await
    }

    fn open_refresh_secret(&self, row: &signing_key::Model) -> Result<Vec<u8>, WrongKeySecret> {
        self.cipher
            .open(&row.refresh_secret, &format!("{}/refresh", row.kid))
    }

    /// Generation 1 is unique: when instances start together on an empty database, one insert
    /// wins, the others do nothing, and all of them then load the winner's key. The bootstrap
    /// key signs at once on every instance, whatever its clock says: there is nothing to
    /// pre-publish it to yet.
    async fn create_first_key(&self) -> Result<(), KeyStoreError> {
        self.insert_new_key(1, chrono::DateTime::UNIX_EPOCH)
            .await
            .map(drop)
    }

    /// Makes the next generation's key, published from now and signing from `signs_from`
    /// (later than now, so consumers' cached JWKS hold it before the first token it signs).
    /// Every older key stays published until `signs_from + outlives`, when the last token it
    /// signed has expired, and is dropped then. Returns the new kid; `None` if another
    /// instance made this generation first.
    pub async fn rotate(
        &self,
        signs_from: chrono::DateTime<Utc>,
        outlives: std::time::Duration,
    ) -> Result<Option<String>, KeyStoreError> {
        let generation = self
            .list()
            .await?
            .iter()
            .map(|key| key.generation)
            .max()
            .unwrap_or(0)
            + 1;
        let Some(kid) = self.insert_new_key(generation, signs_from).await? else {
            return Ok(None);
        };
        let retires_at =
            signs_from + chrono::Duration::from_std(outlives).map_err(anyhow::Error::from)?;
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::RetiresAt, Expr::value(retires_at))
            .filter(signing_key::Column::Generation.lt(generation))
            .filter(signing_key::Column::RetiresAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(Some(kid))
    }

    async fn insert_new_key(
        &self,
        generation: i32,
        signs_from: chrono::DateTime<Utc>,
    ) -> Result<Option<String>, KeyStoreError> {
        let row = tokio::task::spawn_blocking(generate_key)
            .await
            .map_err(anyhow::Error::from)??;
        let kid = row.kid.clone();
        let model = signing_key::ActiveModel {
            private_key: Set(self.cipher.seal(&row.pkcs8_der, &row.kid)),
            refresh_secret: Set(self
                .cipher
                .seal(&row.refresh_secret, &format!("{}/refresh", row.kid))),
            kid: Set(row.kid),
            generation: Set(generation),
            n: Set(row.n),
            e: Set(row.e),
            created_at: Set(Utc::now()),
            signs_from: Set(signs_from),
            retires_at: Set(None),
        };
        let result = signing_key::Entity::insert(model)
            .on_conflict(
                OnConflict::column(signing_key::Column::Generation)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await;
        match result {
            Ok(0) | Err(DbErr::RecordNotInserted) => Ok(None),
            Ok(_) => Ok(Some(kid)),
            Err(err) => Err(err.into()),
        }
    }
}

struct GeneratedKey {
    kid: String,
    pkcs8_der: Vec<u8>,
    n: String,
    e: String,
    refresh_secret: Vec<u8>,
}

fn generate_key() -> anyhow::Result<GeneratedKey> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
    let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
    let pkcs8_der = private.to_pkcs8_der()?.as_bytes().to_vec();
    let mut refresh_secret = vec![0u8; 32];
    aws_lc_rs::rand::fill(&mut refresh_secret)
        .map_err(|_| anyhow::anyhow!("system random source failed"))?;
    Ok(GeneratedKey {
        kid: super::thumbprint(&n, &e),
        pkcs8_der,
        n,
        e,
        refresh_secret,
    })
}
