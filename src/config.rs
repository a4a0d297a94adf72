//! Settings: built-in defaults, then an optional TOML file, then `TESSERA_*` environment
//! variables, then flags. Every value is parsed here, so a bad one stops start-up with one line.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};

use crate::error::ErrorFormat;
use clap::{Args, builder::BoolishValueParser};
use serde::Deserialize;

use crate::{
    auth::{HashCost, IntrospectionSecret, RegistrationPolicy},
    http::{ConnectionLimits, Rate},
    keys::KeySecret,
    telemetry::LogFormat,
    token::Lifetimes,
};

/// Every setting a flag or environment variable can give, merged from the groups the command
/// took (below). Every one is optional: unset falls back to the TOML file, then to the default
/// shown in `--help`.
#[derive(Debug, Clone, Default)]
pub struct SettingsArgs {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub auth_listen: Option<String>,
    pub admin_listen: Option<String>,
    pub aliases: Option<String>,
    pub alias_preset: Option<String>,
    pub public_url: Option<String>,
    pub customers_listen: Option<String>,
    pub customers_admin_listen: Option<String>,
    pub customers_aliases: Option<String>,
    pub customers_database_url: Option<String>,
    pub customers_public_url: Option<String>,
    pub jwks_url: Option<String>,
    pub token_issuer: Option<String>,
    pub jwks_leeway: Option<String>,
    pub audience: Option<String>,
    pub client_id: Option<String>,
    pub key_secret_file: Option<PathBuf>,
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    pub forward_auth_check_session: Option<bool>,
    pub rotate_refresh_tokens: Option<bool>,
    pub refresh_reuse_grace: Option<String>,
    pub access_token_lifetime: Option<String>,
    pub refresh_token_lifetime: Option<String>,
    pub session_max_lifetime: Option<String>,
    pub anonymous_access_token_lifetime: Option<String>,
    pub anonymous_refresh_token_lifetime: Option<String>,
    pub require_gst_no: Option<bool>,
    pub require_email: Option<bool>,
    pub captcha_verify_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub argon2_memory_kib: Option<u32>,
    pub argon2_iterations: Option<u32>,
    pub argon2_parallelism: Option<u32>,
    pub hash_concurrency: Option<usize>,
    pub jwks_max_age: Option<String>,
    pub key_prepublish: Option<String>,
    pub key_reload_interval: Option<String>,
    pub max_connections: Option<usize>,
    pub header_read_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_buffered_body_bytes: Option<usize>,
    pub login_rate_limit: Option<String>,
    pub login_username_rate_limit: Option<String>,
    pub register_rate_limit: Option<String>,
    pub anonymous_rate_limit: Option<String>,
    pub trusted_proxies: Option<String>,
    pub cors_allowed_origins: Option<String>,
    pub error_format: Option<String>,
    pub log_format: Option<String>,
    pub log: Option<String>,
}

/// A group of settings as flags and environment variables; each command takes the groups it
/// reads, so its `--help` lists nothing it would ignore.
macro_rules! settings_group {
    ($(#[$meta:meta])* $group:ident { $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)* }) => {
        #[derive(Debug, Clone, Default, Args)]
        $(#[$meta])*
        pub struct $group {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $group {
            pub fn apply(self, args: &mut SettingsArgs) {
                $(args.$field = self.$field;)*
            }
        }
    };
}

settings_group! {
    /// The settings file, the data directory and logging: every command reads them.
    #[command(next_help_heading = "Settings")]
    CommonArgs {
        /// TOML file with any of the settings below (snake_case keys).
        #[arg(long, env = "TESSERA_CONFIG", global = true)]
        pub config: Option<PathBuf>,
        /// Where the quick start keeps its SQLite file and generated key secret [default: ./data]
        #[arg(long, env = "TESSERA_DATA_DIR", global = true)]
        pub data_dir: Option<PathBuf>,
        /// Log lines as `text` or `json` [default: text]
        #[arg(long, env = "TESSERA_LOG_FORMAT", global = true)]
        pub log_format: Option<String>,
        /// Log filter, tracing's EnvFilter syntax [default: info]
        #[arg(long, env = "TESSERA_LOG", global = true)]
        pub log: Option<String>,
    }
}

settings_group! {
    /// The token service's database: accounts, keys and (without Redis) sessions.
    #[command(next_help_heading = "Database")]
    DatabaseArgs {
        /// sqlite://PATH?mode=rwc or postgres://USER:PASS@HOST/DB [default: SQLite under the data dir]
        #[arg(
            long,
            env = "TESSERA_DATABASE_URL",
            global = true,
            hide_env_values = true
        )]
        pub database_url: Option<String>,
    }
}

settings_group! {
    /// Where refresh sessions live.
    #[command(next_help_heading = "Session store")]
    SessionStoreArgs {
        /// redis://[:PASSWORD@]HOST:PORT[/DB] for refresh sessions [default: none: they live in the SQL database]
        #[arg(long, env = "TESSERA_REDIS_URL", global = true, hide_env_values = true)]
        pub redis_url: Option<String>,
        /// Prefix of every Redis key Tessera writes [default: tessera:]
        #[arg(long, env = "TESSERA_REDIS_PREFIX", global = true)]
        pub redis_prefix: Option<String>,
    }
}

settings_group! {
    /// argon2id's cost and how many hashes run at once.
    #[command(next_help_heading = "Password hashing")]
    HashingArgs {
        /// argon2id memory in KiB [default: 19456]
        #[arg(long, env = "TESSERA_ARGON2_MEMORY_KIB", global = true)]
        pub argon2_memory_kib: Option<u32>,
        /// argon2id iterations [default: 2]
        #[arg(long, env = "TESSERA_ARGON2_ITERATIONS", global = true)]
        pub argon2_iterations: Option<u32>,
        /// argon2id lanes [default: 1]
        #[arg(long, env = "TESSERA_ARGON2_PARALLELISM", global = true)]
        pub argon2_parallelism: Option<u32>,
    }
}

settings_group! {
    /// The signing keys: their secret, rotation and reloading.
    #[command(next_help_heading = "Signing keys")]
    KeyArgs {
        /// File holding the secret private keys are encrypted under; TESSERA_KEY_SECRET gives it inline
        /// [default: <data dir>/key-secret, generated by `serve`]
        #[arg(long, env = "TESSERA_KEY_SECRET_FILE", global = true)]
        pub key_secret_file: Option<PathBuf>,
        /// How long `keys rotate` publishes a new key before it signs; longer than any consumer's
        /// JWKS cache (Envoy 10 min, istiod 20 min) [default: 1h]
        #[arg(long, env = "TESSERA_KEY_PREPUBLISH", global = true)]
        pub key_prepublish: Option<String>,
        /// How often each instance re-reads the signing keys, so a rotation reaches all of them [default: 30s]
        #[arg(long, env = "TESSERA_KEY_RELOAD_INTERVAL", global = true)]
        pub key_reload_interval: Option<String>,
    }
}

settings_group! {
    /// How long tokens and sessions live.
    #[command(next_help_heading = "Token lifetimes")]
    LifetimeArgs {
        /// Access token lifetime, e.g. 300s, 5m, 1h [default: 5m]
        #[arg(long, env = "TESSERA_ACCESS_TOKEN_LIFETIME", global = true)]
        pub access_token_lifetime: Option<String>,
        /// Refresh token lifetime [default: 1d]
        #[arg(long, env = "TESSERA_REFRESH_TOKEN_LIFETIME", global = true)]
        pub refresh_token_lifetime: Option<String>,
        /// A session (a login's refresh tokens) ends this long after the login, however often it
        /// is refreshed [default: 30d]
        #[arg(long, env = "TESSERA_SESSION_MAX_LIFETIME", global = true)]
        pub session_max_lifetime: Option<String>,
        /// Anonymous access token lifetime [default: 2m]
        #[arg(long, env = "TESSERA_ANONYMOUS_ACCESS_TOKEN_LIFETIME", global = true)]
        pub anonymous_access_token_lifetime: Option<String>,
        /// Anonymous refresh token lifetime [default: 1h]
        #[arg(long, env = "TESSERA_ANONYMOUS_REFRESH_TOKEN_LIFETIME", global = true)]
        pub anonymous_refresh_token_lifetime: Option<String>,
    }
}

settings_group! {
    /// Claims the token service writes and the customer service checks.
    #[command(next_help_heading = "Tokens")]
    TokenArgs {
        /// `aud` of access tokens [default: tessera]
        #[arg(long, env = "TESSERA_AUDIENCE", global = true)]
        pub audience: Option<String>,
        /// `client_id` of access tokens (RFC 9068) [default: tessera]
        #[arg(long, env = "TESSERA_CLIENT_ID", global = true)]
        pub client_id: Option<String>,
    }
}

settings_group! {
    /// The token service's listener, policies and rate limits.
    #[command(next_help_heading = "Token service")]
    TokenServiceArgs {
        /// Address the token service listens on [default: 127.0.0.1:7001]
        #[arg(long, env = "TESSERA_AUTH_LISTEN", global = true)]
        pub auth_listen: Option<String>,
        /// Address for `/metrics`, `/healthz` and `/readyz` apart from the API (say
        /// 127.0.0.1:7003); with it, the public port stops serving `/metrics` [default: off]
        #[arg(long, env = "TESSERA_ADMIN_LISTEN", global = true)]
        pub admin_listen: Option<String>,
        /// Extra paths for operations, as `/alias/=operation_id` or `/alias/=/documented/path/`,
        /// comma-separated (the config file takes an `[aliases]` table) [default: none]
        #[arg(long, env = "TESSERA_ALIASES", global = true)]
        pub aliases: Option<String>,
        /// `simplejwt`: also serve simplejwt's documented paths (`/api/token/`,
        /// `/api/token/refresh/`, `/api/token/verify/`, `/api/token/blacklist/`) [default: none]
        #[arg(long, env = "TESSERA_ALIAS_PRESET", global = true)]
        pub alias_preset: Option<String>,
        /// URL clients reach the token service at; the token issuer (`iss`) [default: http://<auth listen address>]
        #[arg(long, env = "TESSERA_PUBLIC_URL", global = true)]
        pub public_url: Option<String>,
        /// Forward auth also asks the session store whether the token's session is still live,
        /// so a logout cuts a gateway's access at once instead of at the token's expiry [default: false]
        #[arg(long, env = "TESSERA_FORWARD_AUTH_CHECK_SESSION", global = true, value_parser = BoolishValueParser::new())]
        pub forward_auth_check_session: Option<bool>,
        /// Refresh returns a new refresh token and spends the old one [default: true]
        #[arg(long, env = "TESSERA_ROTATE_REFRESH_TOKENS", global = true, value_parser = BoolishValueParser::new())]
        pub rotate_refresh_tokens: Option<bool>,
        /// Within this of a rotation, the token it spent gets the same successor again (a retry
        /// whose answer was lost) instead of revoking the session; `0` is strict [default: 10s]
        #[arg(long, env = "TESSERA_REFRESH_REUSE_GRACE", global = true)]
        pub refresh_reuse_grace: Option<String>,
        /// Registration requires gst_no [default: true]
        #[arg(long, env = "TESSERA_REQUIRE_GST_NO", global = true, value_parser = BoolishValueParser::new())]
        pub require_gst_no: Option<bool>,
        /// Registration requires an email [default: true]
        #[arg(long, env = "TESSERA_REQUIRE_EMAIL", global = true, value_parser = BoolishValueParser::new())]
        pub require_email: Option<bool>,
        /// Captcha siteverify URL (reCAPTCHA, hCaptcha, Turnstile); with TESSERA_CAPTCHA_SECRET, enables captcha
        #[arg(long, env = "TESSERA_CAPTCHA_VERIFY_URL", global = true)]
        pub captcha_verify_url: Option<String>,
        /// How long consumers may cache the JWKS (Cache-Control max-age) [default: 5m]
        #[arg(long, env = "TESSERA_JWKS_MAX_AGE", global = true)]
        pub jwks_max_age: Option<String>,
        /// Logins per client IP: N/s, N/m or N/h, or `off` [default: 30/m]
        #[arg(long, env = "TESSERA_LOGIN_RATE_LIMIT", global = true)]
        pub login_rate_limit: Option<String>,
        /// Logins per username, whatever the IP [default: 10/m]
        #[arg(long, env = "TESSERA_LOGIN_USERNAME_RATE_LIMIT", global = true)]
        pub login_username_rate_limit: Option<String>,
        /// Registrations per client IP [default: 10/m]
        #[arg(long, env = "TESSERA_REGISTER_RATE_LIMIT", global = true)]
        pub register_rate_limit: Option<String>,
        /// Anonymous token pairs per client IP [default: 60/m]
        #[arg(long, env = "TESSERA_ANONYMOUS_RATE_LIMIT", global = true)]
        pub anonymous_rate_limit: Option<String>,
        /// Proxies whose X-Forwarded-For is believed, comma-separated IPs [default: none]
        #[arg(long, env = "TESSERA_TRUSTED_PROXIES", global = true)]
        pub trusted_proxies: Option<String>,
        /// Password hashes computed at once [default: number of CPUs]
        #[arg(long, env = "TESSERA_HASH_CONCURRENCY", global = true)]
        pub hash_concurrency: Option<usize>,
    }
}

settings_group! {
    /// The customer service's listener, database and trust in the JWKS.
    #[command(next_help_heading = "Customer service")]
    CustomerServiceArgs {
        /// Address the customer service listens on [default: 127.0.0.1:7002]
        #[arg(long, env = "TESSERA_CUSTOMERS_LISTEN", global = true)]
        pub customers_listen: Option<String>,
        /// The customer service's `/metrics`, `/healthz` and `/readyz` apart from its API (say
        /// 127.0.0.1:7004); with it, its public port stops serving `/metrics` [default: off]
        #[arg(long, env = "TESSERA_CUSTOMERS_ADMIN_LISTEN", global = true)]
        pub customers_admin_listen: Option<String>,
        /// Extra paths for the customer service's operations, as for `aliases` [default: none]
        #[arg(long, env = "TESSERA_CUSTOMERS_ALIASES", global = true)]
        pub customers_aliases: Option<String>,
        /// The customer service's database [default: SQLite customers.db under the data dir]
        #[arg(
            long,
            env = "TESSERA_CUSTOMERS_DATABASE_URL",
            global = true,
            hide_env_values = true
        )]
        pub customers_database_url: Option<String>,
        /// URL clients reach the customer service at (base of pagination links) [default: http://<customers listen address>]
        #[arg(long, env = "TESSERA_CUSTOMERS_PUBLIC_URL", global = true)]
        pub customers_public_url: Option<String>,
        /// JWKS the customer service trusts [default with `serve`: the token service's own]
        #[arg(long, env = "TESSERA_JWKS_URL", global = true)]
        pub jwks_url: Option<String>,
        /// `iss` the customer service expects [default: the JWKS URL without /.well-known/jwks.json]
        #[arg(long, env = "TESSERA_TOKEN_ISSUER", global = true)]
        pub token_issuer: Option<String>,
        /// Clock skew the customer service allows on exp and nbf [default: 30s]
        #[arg(long, env = "TESSERA_JWKS_LEEWAY", global = true)]
        pub jwks_leeway: Option<String>,
    }
}

settings_group! {
    /// Limits and timeouts of both services' HTTP listeners.
    #[command(next_help_heading = "HTTP limits")]
    HttpArgs {
        /// Largest request body in bytes; larger gets 413 [default: 1048576]
        #[arg(long, env = "TESSERA_MAX_BODY_BYTES", global = true)]
        pub max_body_bytes: Option<usize>,
        /// Open connections per service; the newest past it gets 503 and is closed [default: 1024]
        #[arg(long, env = "TESSERA_MAX_CONNECTIONS", global = true)]
        pub max_connections: Option<usize>,
        /// Time to send a request's headers, from its first byte or a new connection [default: 10s]
        #[arg(long, env = "TESSERA_HEADER_READ_TIMEOUT", global = true)]
        pub header_read_timeout: Option<String>,
        /// Time to send a whole request body; slower gets 408 [default: 30s]
        #[arg(long, env = "TESSERA_BODY_READ_TIMEOUT", global = true)]
        pub body_read_timeout: Option<String>,
        /// A kept-alive connection with no request is closed after this [default: 60s]
        #[arg(long, env = "TESSERA_IDLE_TIMEOUT", global = true)]
        pub idle_timeout: Option<String>,
        /// Bytes of request bodies buffered at once, beyond 16 KiB each; past it 503 [default: 33554432]
        #[arg(long, env = "TESSERA_MAX_BUFFERED_BODY_BYTES", global = true)]
        pub max_buffered_body_bytes: Option<usize>,
        /// Browser origins allowed to call both services (CORS), comma-separated, or `*` [default: none]
        #[arg(long, env = "TESSERA_CORS_ALLOWED_ORIGINS", global = true)]
        pub cors_allowed_origins: Option<String>,
        /// Error bodies as `tessera` ({code, detail, fields}) or `drf` (DRF's field dictionary,
        /// simplejwt's 401s) [default: tessera]
        #[arg(long, env = "TESSERA_ERROR_FORMAT", global = true)]
        pub error_format: Option<String>,
    }
}

/// The same settings as a TOML file spells them; unknown keys are an error, not a silent no-op.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    auth_listen: Option<String>,
    admin_listen: Option<String>,
    aliases: Option<BTreeMap<String, String>>,
    alias_preset: Option<String>,
    public_url: Option<String>,
    audience: Option<String>,
    client_id: Option<String>,
    key_secret: Option<String>,
    key_secret_file: Option<PathBuf>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    rotate_refresh_tokens: Option<bool>,
    forward_auth_check_session: Option<bool>,
    refresh_reuse_grace: Option<String>,
    customers_listen: Option<String>,
    customers_admin_listen: Option<String>,
    customers_aliases: Option<BTreeMap<String, String>>,
    customers_database_url: Option<String>,
    customers_public_url: Option<String>,
    jwks_url: Option<String>,
    token_issuer: Option<String>,
    jwks_leeway: Option<String>,
    access_token_lifetime: Option<String>,
    refresh_token_lifetime: Option<String>,
    session_max_lifetime: Option<String>,
    anonymous_access_token_lifetime: Option<String>,
    anonymous_refresh_token_lifetime: Option<String>,
    require_gst_no: Option<bool>,
    require_email: Option<bool>,
    captcha_verify_url: Option<String>,
    captcha_secret: Option<String>,
    introspection_secret: Option<String>,
    max_body_bytes: Option<usize>,
    argon2_memory_kib: Option<u32>,
    argon2_iterations: Option<u32>,
    argon2_parallelism: Option<u32>,
    hash_concurrency: Option<usize>,
    jwks_max_age: Option<String>,
    key_prepublish: Option<String>,
    key_reload_interval: Option<String>,
    max_connections: Option<usize>,
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_buffered_body_bytes: Option<usize>,
    login_rate_limit: Option<String>,
    login_username_rate_limit: Option<String>,
    register_rate_limit: Option<String>,
    anonymous_rate_limit: Option<String>,
    trusted_proxies: Option<String>,
    cors_allowed_origins: Option<String>,
    error_format: Option<String>,
    log_format: Option<String>,
    log: Option<String>,
}

/// Where the key secret comes from.
#[derive(Debug, Clone)]
pub enum KeySecretSource {
    Given(KeySecret),
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Captcha {
    pub verify_url: String,
    pub secret: String,
}

/// Every setting, parsed and defaulted.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub auth_listen: SocketAddr,
    /// Where the token service serves metrics and probes apart from its API, if anywhere.
    pub admin_listen: Option<SocketAddr>,
    /// Extra paths for the token service's operations: alias → operationId or path.
    pub aliases: Vec<(String, String)>,
    pub public_url: Option<String>,
    pub audience: String,
    pub client_id: String,
    pub key_secret: KeySecretSource,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub rotate_refresh_tokens: bool,
    pub forward_auth_check_session: bool,
    pub refresh_reuse_grace: Duration,
    pub customers_listen: SocketAddr,
    pub customers_admin_listen: Option<SocketAddr>,
    pub customers_aliases: Vec<(String, String)>,
    pub customers_database_url: String,
    pub customers_public_url: Option<String>,
    pub jwks_url: Option<String>,
    pub token_issuer: Option<String>,
    pub jwks_leeway: Duration,
    pub lifetimes: Lifetimes,
    pub registration: RegistrationPolicy,
    pub captcha: Option<Captcha>,
    pub introspection_secret: Option<IntrospectionSecret>,
    pub max_body_bytes: usize,
    pub hash_cost: HashCost,
    pub hash_concurrency: usize,
    pub jwks_max_age: Duration,
    pub key_prepublish: Duration,
    pub key_reload_interval: Duration,
    pub connections: ConnectionLimits,
    pub rate_limits: RateLimitSettings,
    pub log_format: LogFormat,
    /// Empty: no CORS headers at all (same-origin and non-browser clients only).
    pub cors_allowed_origins: Vec<String>,
    pub error_format: ErrorFormat,
    pub log: String,
}

impl Settings {
    /// Defaults < TOML file < environment < flags (clap already put flags over the environment).
    /// An error names the setting and where its value came from.
    pub fn load(args: SettingsArgs) -> anyhow::Result<Self> {
        let (file, file_keys) = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let unreadable = |err: toml::de::Error| {
                    anyhow::anyhow!("config file {}: {}", path.display(), err.message())
                };
                let keys = toml::from_str::<toml::Table>(&text).map_err(unreadable)?;
                let file = toml::from_str::<FileSettings>(&text).map_err(unreadable)?;
                let keys = keys.keys().cloned().collect();
                (file, keys)
            }
            None => (FileSettings::default(), Vec::new()),
        };
        let config = args.config.clone();
        Self::merge(args, file).map_err(|err| {
            let message = err.to_string();
            let Some((name, problem)) = message.split_once(": ") else {
                return err;
            };
            let is_setting =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            let in_file = file_keys.iter().any(|key| key == name);
            match source_of(name, problem, in_file, config.as_deref()).filter(|_| is_setting) {
                Some(source) => anyhow::anyhow!("{name} (from {source}): {problem}"),
                None => err,
            }
        })
    }

    fn merge(args: SettingsArgs, file: FileSettings) -> anyhow::Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());

        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = args.database_url.or(file.database_url).unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("tessera.db").display()
            )
        });
        check_database_url("database_url", &database_url)?;
        let auth_listen = args
            .auth_listen
            .or(file.auth_listen)
            .unwrap_or_else(|| "127.0.0.1:7001".into());
        let auth_listen = auth_listen.parse().map_err(|_| {
            anyhow::anyhow!("auth_listen: {auth_listen:?} is not an address such as 127.0.0.1:7001")
        })?;
        let admin_listen = listen_address("admin_listen", args.admin_listen.or(file.admin_listen))?;
        let customers_admin_listen = listen_address(
            "customers_admin_listen",
            args.customers_admin_listen.or(file.customers_admin_listen),
        )?;
        let mut aliases = match args
            .alias_preset
            .or(file.alias_preset)
            .as_deref()
            .map(str::trim)
        {
            None => Vec::new(),
            Some("simplejwt") => crate::http::SIMPLEJWT_PRESET
                .map(|(alias, operation)| (alias.to_owned(), operation.to_owned()))
                .to_vec(),
            Some(other) => {
                bail!("alias_preset: {other:?} is not a preset; the one there is is simplejwt")
            }
        };
        aliases.extend(route_aliases("aliases", args.aliases, file.aliases)?);
        if aliases.len() > MAX_ALIASES {
            bail!("aliases: at most {MAX_ALIASES}, the preset's included");
        }
        let customers_aliases = route_aliases(
            "customers_aliases",
            args.customers_aliases,
            file.customers_aliases,
        )?;
        let public_url = http_url("public_url", args.public_url.or(file.public_url))?;
        let customers_listen = args
            .customers_listen
            .or(file.customers_listen)
            .unwrap_or_else(|| "127.0.0.1:7002".into());
        let customers_listen = customers_listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "customers_listen: {customers_listen:?} is not an address such as 127.0.0.1:7002"
            )
        })?;
        let customers_database_url = args
            .customers_database_url
            .or(file.customers_database_url)
            .unwrap_or_else(|| {
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("customers.db").display()
                )
            });
        check_database_url("customers_database_url", &customers_database_url)?;
        let customers_public_url = http_url(
            "customers_public_url",
            args.customers_public_url.or(file.customers_public_url),
        )?;
        let jwks_url = http_url("jwks_url", args.jwks_url.or(file.jwks_url))?;
        let token_issuer = http_url("token_issuer", args.token_issuer.or(file.token_issuer))?;
        let key_secret = match env("TESSERA_KEY_SECRET").or(file.key_secret) {
            Some(raw) => KeySecretSource::Given(
                KeySecret::parse(&raw)
                    .map_err(|err| anyhow::anyhow!("TESSERA_KEY_SECRET: {err}"))?,
            ),
            None => KeySecretSource::File(
                args.key_secret_file
                    .or(file.key_secret_file)
                    .unwrap_or_else(|| data_dir.join("key-secret")),
            ),
        };
        let redis_url = args
            .redis_url
            .or(file.redis_url)
            .filter(|url| !url.is_empty());
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://")
                || url.starts_with("redis+cluster://"))
        {
            bail!(
                "redis_url: must start with redis://, rediss://, redis+unix:// or \
                 redis+cluster:// (a cluster: redis+cluster://host:port,host:port)"
            );
        }
        if let Some(nodes) = redis_url
            .as_deref()
            .and_then(crate::redis_connection::cluster_nodes)
            && nodes.is_empty()
        {
            bail!(
                "redis_url: redis+cluster:// names no node (redis+cluster://host:port,host:port)"
            );
        }
        let redis_prefix = args
            .redis_prefix
            .or(file.redis_prefix)
            .unwrap_or_else(|| "tessera:".into());
        if redis_prefix.contains(['{', '}']) || redis_prefix.len() > 64 {
            // Braces would change the hash tag Tessera puts after the prefix, and with it the
            // slot of a key on a Redis Cluster.
            bail!("redis_prefix: at most 64 characters, without {{ or }}");
        }
        let defaults = Lifetimes::default();
        let lifetimes = Lifetimes {
            access: lifetime(
                "access_token_lifetime",
                args.access_token_lifetime.or(file.access_token_lifetime),
                defaults.access,
            )?,
            refresh: lifetime(
                "refresh_token_lifetime",
                args.refresh_token_lifetime.or(file.refresh_token_lifetime),
                defaults.refresh,
            )?,
            anonymous_access: lifetime(
                "anonymous_access_token_lifetime",
                args.anonymous_access_token_lifetime
                    .or(file.anonymous_access_token_lifetime),
                defaults.anonymous_access,
            )?,
            anonymous_refresh: lifetime(
                "anonymous_refresh_token_lifetime",
                args.anonymous_refresh_token_lifetime
                    .or(file.anonymous_refresh_token_lifetime),
                defaults.anonymous_refresh,
            )?,
            session_max: lifetime(
                "session_max_lifetime",
                args.session_max_lifetime.or(file.session_max_lifetime),
                defaults.session_max,
            )?,
        };
        let captcha = match (
            // Read from the environment here too, as the secret is: only the servers take the
            // flag, and every other command must see the pair whole, not half of it.
            args.captcha_verify_url
                .or_else(|| env("TESSERA_CAPTCHA_VERIFY_URL"))
                .or(file.captcha_verify_url),
            env("TESSERA_CAPTCHA_SECRET").or(file.captcha_secret),
        ) {
            (Some(verify_url), Some(secret)) => Some(Captcha { verify_url, secret }),
            (None, None) => None,
            (Some(_), None) => bail!("captcha_verify_url is set but TESSERA_CAPTCHA_SECRET is not"),
            (None, Some(_)) => bail!("TESSERA_CAPTCHA_SECRET is set but captcha_verify_url is not"),
        };
        let introspection_secret = env("TESSERA_INTROSPECTION_SECRET")
            .or(file.introspection_secret)
            .map(|raw| {
                IntrospectionSecret::parse(&raw)
                    .map_err(|err| anyhow::anyhow!("TESSERA_INTROSPECTION_SECRET: {err}"))
            })
            .transpose()?;
        let hash_cost = HashCost {
            memory_kib: args
                .argon2_memory_kib
                .or(file.argon2_memory_kib)
                .unwrap_or(HashCost::default().memory_kib),
            iterations: args
                .argon2_iterations
                .or(file.argon2_iterations)
                .unwrap_or(HashCost::default().iterations),
            parallelism: args
                .argon2_parallelism
                .or(file.argon2_parallelism)
                .unwrap_or(HashCost::default().parallelism),
        };
        let hash_concurrency = args
            .hash_concurrency
            .or(file.hash_concurrency)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        if hash_concurrency == 0 {
            bail!("hash_concurrency: must be at least 1");
        }
        let max_body_bytes = args
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(1024 * 1024);
        if max_body_bytes < 1024 {
            bail!("max_body_bytes: must be at least 1024");
        }
        let refresh_reuse_grace = lifetime_or_zero(
            "refresh_reuse_grace",
            args.refresh_reuse_grace.or(file.refresh_reuse_grace),
            Duration::from_secs(10),
        )?;
        if refresh_reuse_grace > Duration::from_secs(60) {
            bail!(
                "refresh_reuse_grace: at most 60s (a longer grace is a longer window for a thief)"
            );
        }
        let default_limits = ConnectionLimits::default();
        let connections = ConnectionLimits {
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(default_limits.max_connections),
            header_read_timeout: lifetime(
                "header_read_timeout",
                args.header_read_timeout.or(file.header_read_timeout),
                default_limits.header_read_timeout,
            )?,
            body_read_timeout: lifetime(
                "body_read_timeout",
                args.body_read_timeout.or(file.body_read_timeout),
                default_limits.body_read_timeout,
            )?,
            idle_timeout: lifetime(
                "idle_timeout",
                args.idle_timeout.or(file.idle_timeout),
                default_limits.idle_timeout,
            )?,
            max_buffered_body_bytes: args
                .max_buffered_body_bytes
                .or(file.max_buffered_body_bytes)
                .unwrap_or(default_limits.max_buffered_body_bytes),
        };
        if connections.max_connections == 0 {
            bail!("max_connections: must be at least 1");
        }
        if connections.max_buffered_body_bytes + crate::http::FREE_BODY_BYTES < max_body_bytes {
            bail!(
                "max_buffered_body_bytes: must hold one largest body (max_body_bytes less 16 KiB)"
            );
        }
        if u32::try_from(connections.max_buffered_body_bytes).is_err() {
            bail!("max_buffered_body_bytes: must be at most 4294967295");
        }
        Ok(Self {
            data_dir,
            database_url,
            auth_listen,
            admin_listen,
            aliases,
            public_url,
            audience: args
                .audience
                .or(file.audience)
                .unwrap_or_else(|| "tessera".into()),
            client_id: args
                .client_id
                .or(file.client_id)
                .unwrap_or_else(|| "tessera".into()),
            key_secret,
            redis_url,
            redis_prefix,
            refresh_reuse_grace,
            forward_auth_check_session: args
                .forward_auth_check_session
                .or(file.forward_auth_check_session)
                .unwrap_or(false),
            rotate_refresh_tokens: args
                .rotate_refresh_tokens
                .or(file.rotate_refresh_tokens)
                .unwrap_or(true),
            customers_listen,
            customers_admin_listen,
            customers_aliases,
            customers_database_url,
            customers_public_url,
            jwks_url,
            token_issuer,
            jwks_leeway: lifetime_or_zero(
                "jwks_leeway",
                args.jwks_leeway.or(file.jwks_leeway),
                Duration::from_secs(30),
            )?,
            lifetimes,
            registration: RegistrationPolicy {
                require_gst_no: args.require_gst_no.or(file.require_gst_no).unwrap_or(true),
                require_email: args.require_email.or(file.require_email).unwrap_or(true),
            },
            captcha,
            introspection_secret,
            max_body_bytes,
            hash_cost,
            hash_concurrency,
            jwks_max_age: lifetime(
                "jwks_max_age",
                args.jwks_max_age.or(file.jwks_max_age),
                Duration::from_secs(300),
            )?,
            key_prepublish: lifetime_or_zero(
                "key_prepublish",
                args.key_prepublish.or(file.key_prepublish),
                Duration::from_secs(3600),
            )?,
            key_reload_interval: lifetime(
                "key_reload_interval",
                args.key_reload_interval.or(file.key_reload_interval),
                Duration::from_secs(30),
            )?,
            connections,
            rate_limits: RateLimitSettings {
                login: rate(
                    "login_rate_limit",
                    args.login_rate_limit.or(file.login_rate_limit),
                    "30/m",
                )?,
                login_username: rate(
                    "login_username_rate_limit",
                    args.login_username_rate_limit
                        .or(file.login_username_rate_limit),
                    "10/m",
                )?,
                register: rate(
                    "register_rate_limit",
                    args.register_rate_limit.or(file.register_rate_limit),
                    "10/m",
                )?,
                anonymous: rate(
                    "anonymous_rate_limit",
                    args.anonymous_rate_limit.or(file.anonymous_rate_limit),
                    "60/m",
                )?,
                trusted_proxies: args
                    .trusted_proxies
                    .or(file.trusted_proxies)
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|ip| !ip.is_empty())
                    .map(|ip| {
                        ip.parse().map_err(|_| {
                            anyhow::anyhow!("trusted_proxies: {ip:?} is not an IP address")
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
            },
            cors_allowed_origins: args
                .cors_allowed_origins
                .or(file.cors_allowed_origins)
                .unwrap_or_default()
                .split(',')
                .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                .filter(|origin| !origin.is_empty())
                .map(|origin| {
                    if origin == "*" || origin.starts_with("http://") || origin.starts_with("https://") {
                        Ok(origin)
                    } else {
                        Err(anyhow::anyhow!("cors_allowed_origins: {origin:?} is not an origin such as https://app.example.com"))
                    }
                })
                .collect::<anyhow::Result<_>>()?,
            error_format: match args.error_format.or(file.error_format).as_deref().map(str::trim) {
                None | Some("tessera") => ErrorFormat::Tessera,
                Some("drf") => ErrorFormat::Drf,
                Some(other) => bail!("error_format: {other:?} is neither tessera nor drf"),
            },
            log_format: match args
                .log_format
                .or(file.log_format)
                .as_deref()
                .map(str::trim)
            {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => bail!("log_format: {other:?} is neither text nor json"),
            },
            log: log_filter(args.log.or(file.log))?,
        })
    }

    /// The key secret: given, read from its file, or (quick start only) generated into it.
    /// Where the key secret comes from, for the start-up summary; never the secret itself.
    pub fn key_secret_origin(&self) -> String {
        match &self.key_secret {
            KeySecretSource::Given(_) => {
                "given inline (TESSERA_KEY_SECRET or the file's key_secret)".to_owned()
            }
            KeySecretSource::File(path) => format!(
                "{} (back it up: without it the signing keys cannot be read)",
                path.display()
            ),
        }
    }

    pub fn key_secret(&self, may_generate: bool) -> anyhow::Result<KeySecret> {
        match &self.key_secret {
            KeySecretSource::Given(secret) => Ok(secret.clone()),
            KeySecretSource::File(path) => read_or_generate_secret(path, may_generate),
        }
    }
}

fn read_or_generate_secret(path: &Path, may_generate: bool) -> anyhow::Result<KeySecret> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            KeySecret::parse(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && may_generate => {
            let secret = KeySecret::generate();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            write_private(path, secret.expose())?;
            tracing::info!(path = %path.display(), "generated a key secret for the quick start");
            Ok(secret)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "no key secret: set TESSERA_KEY_SECRET (at least 32 characters) or TESSERA_KEY_SECRET_FILE; {} does not exist",
            path.display()
        ),
        Err(err) => {
            Err(err).with_context(|| format!("cannot read the key secret file {}", path.display()))
        }
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Per-endpoint limits; `None` is off.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSettings {
    pub login: Option<Rate>,
    pub login_username: Option<Rate>,
    pub register: Option<Rate>,
    pub anonymous: Option<Rate>,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

fn rate(name: &str, raw: Option<String>, default: &str) -> anyhow::Result<Option<Rate>> {
    let raw = raw.unwrap_or_else(|| default.to_owned());
    if raw.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    Rate::parse(&raw)
        .map(Some)
        .ok_or_else(|| anyhow::anyhow!("{name}: {raw:?} is not a rate such as 10/m, 5/s or off"))
}

fn check_database_url(name: &str, url: &str) -> anyhow::Result<()> {
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(())
    } else {
        bail!("{name}: must start with sqlite:, postgres:// or postgresql://")
    }
}

/// An http(s) URL without its trailing slash.
fn http_url(name: &str, raw: Option<String>) -> anyhow::Result<Option<String>> {
    match raw.filter(|url| !url.is_empty()) {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Ok(Some(url.trim_end_matches('/').to_owned()))
        }
        Some(url) => bail!("{name}: {url:?} must start with http:// or https://"),
        None => Ok(None),
    }
}

/// Like [`lifetime`], but `0` is allowed (no leeway).
fn lifetime_or_zero(
    name: &str,
    raw: Option<String>,
    default: Duration,
) -> anyhow::Result<Duration> {
    match raw.as_deref().map(str::trim) {
        Some("0") | Some("0s") => Ok(Duration::ZERO),
        _ => lifetime(name, raw, default),
    }
}

/// A `tracing` filter such as `info` or `warn,tessera=debug`; a bad one stops start-up rather
/// than silently logging at another level.
fn log_filter(raw: Option<String>) -> anyhow::Result<String> {
    let filter = raw.unwrap_or_else(|| "info".into());
    tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|err| anyhow::anyhow!("log: {filter:?} is not a log filter: {err}"))?;
    Ok(filter)
}

/// Longest token or session lifetime accepted: ten years, far from overflowing the unix
/// seconds every expiry is computed in.
const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);

fn lifetime(name: &str, raw: Option<String>, default: Duration) -> anyhow::Result<Duration> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let parsed = parse_duration(&raw).ok_or_else(|| {
        anyhow::anyhow!("{name}: {raw:?} is not a duration such as 300, 5m, 5min, 12h, 1d or 1w")
    })?;
    if parsed > MAX_LIFETIME {
        bail!("{name}: {raw:?} is longer than ten years");
    }
    Ok(parsed)
}

/// Most aliases one service takes: a seed needs five.
const MAX_ALIASES: usize = 64;

/// Route aliases from a flag or variable (`/a/=op,/b/=/path/`), else the config file's table.
/// An alias is a path of URL-safe characters; its target an operationId or a path.
fn route_aliases(
    name: &str,
    given: Option<String>,
    file: Option<BTreeMap<String, String>>,
) -> anyhow::Result<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = match given {
        Some(raw) => raw
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((alias, target)) => Ok((alias.trim().to_owned(), target.trim().to_owned())),
                None => Err(anyhow::anyhow!(
                    "{name}: {pair:?} is not /alias/=operation_id or /alias/=/path/"
                )),
            })
            .collect::<anyhow::Result<_>>()?,
        None => file.unwrap_or_default().into_iter().collect(),
    };
    if pairs.len() > MAX_ALIASES {
        bail!("{name}: at most {MAX_ALIASES} aliases");
    }
    let url_safe = |text: &str, extra: &[u8]| {
        !text.is_empty()
            && text.len() <= 200
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._~-".contains(&b) || extra.contains(&b))
    };
    for (alias, target) in &pairs {
        if !alias.starts_with('/') || alias == "/" || !url_safe(alias, b"") {
            bail!("{name}: {alias:?} is not a path such as /api/token/");
        }
        if !url_safe(target, b"") {
            bail!("{name}: {alias:?} stands for {target:?}, not an operationId or a path");
        }
    }
    Ok(pairs)
}

/// An optional listen address; empty is none (to turn off what an image's environment set).
fn listen_address(name: &str, raw: Option<String>) -> anyhow::Result<Option<SocketAddr>> {
    raw.filter(|raw| !raw.trim().is_empty())
        .map(|raw| {
            raw.parse().map_err(|_| {
                anyhow::anyhow!("{name}: {raw:?} is not an address such as 127.0.0.1:7003")
            })
        })
        .transpose()
}

/// Where the bad value of setting `name` came from: a flag typed on the command line; its
/// `TESSERA_` variable, if set and either quoted in the `problem` or not in the config file
/// (a command that does not read the setting still checks the file's value); the config file,
/// if the key is in it. `None` for a default that clashes with another setting.
fn source_of(name: &str, problem: &str, in_file: bool, config: Option<&Path>) -> Option<String> {
    let flag = format!("--{}", name.replace('_', "-"));
    let typed = std::env::args_os().any(|arg| {
        let arg = arg.to_string_lossy();
        arg == flag || arg.starts_with(&format!("{flag}="))
    });
    if typed {
        return Some(flag);
    }
    let variable = format!("TESSERA_{}", name.to_ascii_uppercase());
    if let Ok(value) = std::env::var(&variable)
        && (!in_file || problem.contains(&format!("{value:?}")))
    {
        return Some(variable);
    }
    config
        .filter(|_| in_file)
        .map(|path| format!("the config file {}", path.display()))
}

/// Bare seconds (`300`) or what `humantime` reads (`300s`, `5m`, `5min`, `12h`, `1d`, `1w`,
/// `1h 30m`): a positive whole number of seconds.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let parsed = match raw.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(raw).ok()?,
    };
    (!parsed.is_zero() && parsed.subsec_nanos() == 0).then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_an_optional_unit() {
        assert_eq!(parse_duration("300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("5min"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1w"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1h 30m"), Some(Duration::from_secs(5400)));
        for bad in [
            "",
            "0",
            "0s",
            "-5m",
            "1500ms",
            "5x",
            "m",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings = Settings::load(SettingsArgs::default()).unwrap();
        assert_eq!(settings.auth_listen.to_string(), "127.0.0.1:7001");
        assert_eq!(settings.lifetimes, Lifetimes::default());
        assert!(settings.registration.require_gst_no);
        assert_eq!(settings.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        let args = SettingsArgs {
            access_token_lifetime: Some("soon".into()),
            ..Default::default()
        };
        let err = Settings::load(args).unwrap_err().to_string();
        assert!(err.starts_with("access_token_lifetime:"), "{err}");
        let args = SettingsArgs {
            session_max_lifetime: Some("10000000000000000000s".into()),
            ..Default::default()
        };
        let err = Settings::load(args).unwrap_err().to_string();
        assert!(err.starts_with("session_max_lifetime:"), "{err}");
    }

    #[test]
    fn a_bad_log_filter_or_limit_stops_start_up() {
        for (args, setting) in [
            (
                SettingsArgs {
                    log: Some("tessera=loud".into()),
                    ..Default::default()
                },
                "log:",
            ),
            (
                SettingsArgs {
                    max_connections: Some(0),
                    ..Default::default()
                },
                "max_connections:",
            ),
            (
                SettingsArgs {
                    refresh_reuse_grace: Some("5m".into()),
                    ..Default::default()
                },
                "refresh_reuse_grace:",
            ),
            (
                SettingsArgs {
                    max_buffered_body_bytes: Some(1024),
                    ..Default::default()
                },
                "max_buffered_body_bytes:",
            ),
            (
                SettingsArgs {
                    redis_url: Some("redis+cluster:///".into()),
                    ..Default::default()
                },
                "redis_url:",
            ),
            (
                SettingsArgs {
                    redis_url: Some("memcached://127.0.0.1".into()),
                    ..Default::default()
                },
                "redis_url:",
            ),
            (
                SettingsArgs {
                    redis_prefix: Some("app{x}:".into()),
                    ..Default::default()
                },
                "redis_prefix:",
            ),
        ] {
            let err = Settings::load(args).unwrap_err().to_string();
            assert!(err.starts_with(setting), "{err}");
        }
        let settings = Settings::load(SettingsArgs {
            log: Some("warn,tessera=debug".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(settings.log, "warn,tessera=debug");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(
            &path,
            "audience = \"from-file\"\nclient_id = \"file-client\"\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(path),
            audience: Some("from-flag".into()),
            ..Default::default()
        };
        let settings = Settings::load(args).unwrap();
        assert_eq!(settings.audience, "from-flag");
        assert_eq!(settings.client_id, "file-client");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(&path, "audeince = \"typo\"\n").unwrap();
        let args = SettingsArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(
            Settings::load(args)
                .unwrap_err()
                .to_string()
                .contains("audeince")
        );
    }

    #[test]
    fn aliases_come_from_a_list_or_the_files_table() {
        let listed = route_aliases(
            "aliases",
            Some(" /gettoken/=obtain_token_pair, /refreshtoken/=/auth/token/refresh/ ,".into()),
            Some(BTreeMap::from([("/ignored/".into(), "x".into())])),
        )
        .unwrap();
        assert_eq!(
            listed,
            [
                ("/gettoken/".into(), "obtain_token_pair".into()),
                ("/refreshtoken/".into(), "/auth/token/refresh/".into())
            ]
        );
        let table = BTreeMap::from([("/api/token/".into(), "obtain_token_pair".into())]);
        assert_eq!(
            route_aliases("aliases", None, Some(table)).unwrap().len(),
            1
        );
        for bad in [
            "gettoken=obtain_token_pair",
            "/get token/=x",
            "/=x",
            "/a/",
            "/a/=",
            "/a/=x y",
        ] {
            let err = route_aliases("aliases", Some(bad.into()), None).unwrap_err();
            assert!(err.to_string().starts_with("aliases: "), "{bad}: {err}");
        }
    }
}
