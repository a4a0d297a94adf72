//! Building and running the services: bind first (so callers and tests know the port), then run
//! until the shutdown future completes, draining in-flight requests.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{Endpoint, EndpointExt, endpoint::make_sync, http::Method, middleware::Cors, web::Html};
use poem_openapi::{OpenApi, OpenApiService};
use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, sync::Semaphore};

use crate::{
    auth::{
        AccountAdminApi, AccountsApi, AuthState, CaptchaVerifier, ForwardAuthApi, IntrospectionApi,
        OAuthApi, PasswordChangeApi, PasswordHasher, RateLimits, SessionsApi, TokensApi,
        WellKnownApi, forward_ext_authz,
    },
    config::Settings,
    customers::{CustomersApi, CustomersState, PageCache},
    db,
    error::{ApiError, ErrorFormat},
    http::{
        BodyLimit, ConnectionLimits, HealthApi, Readiness, RequestLog, RouteAliases, ServiceRoutes,
        SingleAuthorization, TrailingSlash,
    },
    jwks::{JwksSettings, JwksVerifier},
    keys::{KeyCipher, KeyStore, SharedKeyRing},
    metrics::Metrics,
    redis_connection::RedisConnection,
    refresh::{RedisRefreshStore, RefreshStore, SqlRefreshStore},
    token::{TokenIssuer, TokenSettings, TokenVerifier},
};

/// Envoy's `ext_authz` appends the original path to the forward-auth path: any method, any
/// path below it (the metrics label is this template too).
const EXT_AUTHZ_ROUTE: &str = "/auth/forward/*";

/// What both services serve beside their OpenAPI operations.
const UNDOCUMENTED_ROUTES: &[&str] = &["/openapi.json", "/docs", "/metrics"];

/// How long in-flight requests may take to finish once shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Every operation of the token service, in the order of the document.
pub type AuthApis = (
    AccountsApi,
    AccountAdminApi,
    TokensApi,
    OAuthApi,
    SessionsApi,
    PasswordChangeApi,
    IntrospectionApi,
    ForwardAuthApi,
    WellKnownApi,
    HealthApi,
);

pub fn auth_openapi() -> OpenApiService<AuthApis, ()> {
    OpenApiService::new(
        AuthApis::default(),
        "Tessera token service",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "RS256 tokens compatible with djangorestframework-simplejwt clients, published as a JWKS.",
    )
}

/// Where refresh sessions live: Redis when `redis_url` is set, else the SQL database.
pub fn refresh_store(
    settings: &Settings,
    db: &DatabaseConnection,
) -> anyhow::Result<Arc<dyn RefreshStore>> {
    let redis = redis_connection(settings)?;
    Ok(session_store(settings, db, redis.as_ref()))
}

/// The one connection to `redis_url`, if it is set (lazy: nothing is dialled yet).
fn redis_connection(settings: &Settings) -> anyhow::Result<Option<RedisConnection>> {
    settings
        .redis_url
        .as_deref()
        .map(RedisConnection::open)
        .transpose()
}

fn session_store(
    settings: &Settings,
    db: &DatabaseConnection,
    redis: Option<&RedisConnection>,
) -> Arc<dyn RefreshStore> {
    match redis {
        Some(connection) => Arc::new(RedisRefreshStore::with_connection(
            connection.clone(),
            &settings.redis_prefix,
        )),
        None => Arc::new(SqlRefreshStore::new(db.clone())),
    }
}

/// The token service, bound and ready to run.
pub struct AuthApp {
    listener: TcpListener,
    addr: SocketAddr,
    admin: Option<AdminListener>,
    aliases: RouteAliases,
    state: Arc<AuthState>,
    max_body_bytes: usize,
    connections: ConnectionLimits,
    key_reload_interval: Duration,
    cors: Vec<String>,
    error_format: ErrorFormat,
}

impl AuthApp {
    /// Opens the database (migrating it), loads or makes the signing key, and binds the port.
    /// `may_generate_secret` lets the quick start create its key secret file.
    pub async fn build(settings: &Settings, may_generate_secret: bool) -> anyhow::Result<Self> {
        let document = document_json(&auth_openapi());
        let aliases = RouteAliases::resolve(
            &settings.aliases,
            &document,
            &[UNDOCUMENTED_ROUTES, &[EXT_AUTHZ_ROUTE]].concat(),
        )?;
        let key_secret = settings.key_secret(may_generate_secret)?;
        let db = db::connect(&settings.database_url).await?;
        db::migrate(&db).await?;
        let key_store = KeyStore::new(db.clone(), KeyCipher::new(&key_secret));
        let ring = key_store.load_or_create().await?;
        let keys = Arc::new(SharedKeyRing::new(ring));

        let (listener, addr) = bind(settings.auth_listen).await?;
        let admin = AdminListener::bind(settings.admin_listen).await?;
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let token_settings = TokenSettings {
            issuer: public_url.clone(),
            audience: settings.audience.clone(),
            client_id: settings.client_id.clone(),
        };
        let hash_cost = settings.hash_cost;
        let hash_concurrency = settings.hash_concurrency;
        let hasher =
            tokio::task::spawn_blocking(move || PasswordHasher::new(hash_cost, hash_concurrency))
                .await??;
        let captcha = settings
            .captcha
            .as_ref()
            .map(|captcha| CaptchaVerifier::new(captcha.verify_url.clone(), captcha.secret.clone()))
            .transpose()?;
        // Sessions and rate limits share one connection to Redis.
        let redis = redis_connection(settings)?;
        let refresh_store = session_store(settings, &db, redis.as_ref());
        let sessions_in = match &settings.redis_url {
            Some(url) => {
                let endpoint = db::endpoint(url);
                // Said now, with where, rather than as a 503 at the first login.
                if let Err(err) = refresh_store.ping().await {
                    tracing::warn!(redis = %endpoint, error = %err, "Redis does not answer: logins, refreshes and logouts answer 503 until it does");
                }
                format!("redis {endpoint}")
            }
            None => "the database".to_owned(),
        };
        tracing::info!(
            docs = %format!("{public_url}/docs"),
            database = %db::endpoint(&settings.database_url),
            sessions = %sessions_in,
            signing_kid = %keys.current().active().kid,
            key_secret = %settings.key_secret_origin(),
            "token service ready"
        );
        let state = Arc::new(AuthState {
            issuer: TokenIssuer::new(keys.clone(), token_settings.clone(), settings.lifetimes),
            verifier: TokenVerifier::new(keys.clone(), &token_settings),
            refresh_store,
            keys,
            key_store,
            db,
            hasher,
            registration: settings.registration,
            rotate_refresh_tokens: settings.rotate_refresh_tokens,
            forward_auth_check_session: settings.forward_auth_check_session,
            refresh_reuse_grace_s: settings.refresh_reuse_grace.as_secs() as i64,
            limits: RateLimits::new(
                &settings.rate_limits,
                redis
                    .as_ref()
                    .map(|connection| (connection, settings.redis_prefix.as_str())),
            ),
            metrics: Arc::new(metrics_for(&document, &[EXT_AUTHZ_ROUTE])),
            captcha,
            introspection_secret: settings.introspection_secret.clone(),
            jwks_cache_control: format!("public, max-age={}", settings.jwks_max_age.as_secs()),
            public_url,
        });
        Ok(Self {
            listener,
            addr,
            admin,
            aliases,
            state,
            max_body_bytes: settings.max_body_bytes,
            connections: settings.connections,
            key_reload_interval: settings.key_reload_interval,
            cors: settings.cors_allowed_origins.clone(),
            error_format: settings.error_format,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where metrics and probes are served apart from the API, if `admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|admin| admin.addr)
    }

    pub fn state(&self) -> &Arc<AuthState> {
        &self.state
    }

    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let readiness = Readiness {
            db: self.state.db.clone(),
            refresh_store: Some(self.state.refresh_store.clone()),
            jwks: None,
        };
        let pruning = tokio::spawn(prune_expired_sessions(self.state.refresh_store.clone()));
        let reloading = tokio::spawn(reload_keys(self.state.clone(), self.key_reload_interval));
        let metrics = self.state.metrics.clone();
        let exposition = {
            let metrics = metrics.clone();
            move |_| metrics.render(&metrics.token_lines())
        };
        let exposition = poem::get(make_sync(exposition));
        let mut routes = documented_routes(
            auth_openapi().server(self.state.public_url.clone()),
            self.state.clone(),
            readiness.clone(),
        )
        .at(EXT_AUTHZ_ROUTE, forward_ext_authz);
        let mut admin = None;
        match self.admin {
            Some(listener) => admin = Some((listener, exposition)),
            None => routes = routes.at("/metrics", exposition),
        }
        tracing::info!(address = %self.addr, "token service listening");
        let layers = Layers {
            max_body_bytes: self.max_body_bytes,
            connections: self.connections,
            metrics,
            cors: self.cors,
            aliases: self.aliases,
            error_format: self.error_format,
        };
        let served = serve_with_admin(
            "token service",
            (self.listener, routes, layers),
            admin,
            readiness,
            shutdown,
        )
        .await;
        pruning.abort();
        reloading.abort();
        served
    }
}

/// Every operation of the customer service.
pub type CustomersApis = (CustomersApi, HealthApi);

pub fn customers_openapi() -> OpenApiService<CustomersApis, ()> {
    OpenApiService::new(
        CustomersApis::default(),
        "Tessera customer service",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Customers, for bearers of Tessera access tokens: anonymous tokens read, registered tokens write.")
}

/// Where the customer service gets its keys, and what it checks in tokens.
pub fn jwks_settings(settings: &Settings, jwks_url: String) -> JwksSettings {
    let issuer = settings.token_issuer.clone().unwrap_or_else(|| {
        jwks_url
            .strip_suffix("/.well-known/jwks.json")
            .unwrap_or(&jwks_url)
            .to_owned()
    });
    let mut jwks = JwksSettings::new(jwks_url, issuer, settings.audience.clone());
    jwks.leeway = settings.jwks_leeway;
    jwks
}

/// The customer service, bound and ready to run.
pub struct CustomersApp {
    listener: TcpListener,
    addr: SocketAddr,
    admin: Option<AdminListener>,
    aliases: RouteAliases,
    state: Arc<CustomersState>,
    max_body_bytes: usize,
    connections: ConnectionLimits,
    cors: Vec<String>,
    error_format: ErrorFormat,
}

impl CustomersApp {
    pub async fn build(settings: &Settings, jwks: JwksSettings) -> anyhow::Result<Self> {
        let aliases = RouteAliases::resolve(
            &settings.customers_aliases,
            &document_json(&customers_openapi()),
            UNDOCUMENTED_ROUTES,
        )?;
        // One connection: the page cache promises that a page read before a write is never
        // served after it, and a cancelled write's statement still runs after its request has
        // gone; behind one connection every later read waits for it. (Kept pages serve the
        // reads, so they do not need more.)
        let db = db::connect_with(&settings.customers_database_url, 1).await?;
        db::migrate_customers(&db).await?;
        let trusts = jwks.jwks_url.clone();
        let verifier = Arc::new(JwksVerifier::new(jwks)?);
        let (listener, addr) = bind(settings.customers_listen).await?;
        let admin = AdminListener::bind(settings.customers_admin_listen).await?;
        let public_url = settings
            .customers_public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        tracing::info!(
            docs = %format!("{public_url}/docs"),
            database = %db::endpoint(&settings.customers_database_url),
            jwks = %trusts,
            "customer service ready"
        );
        Ok(Self {
            listener,
            addr,
            admin,
            aliases,
            state: Arc::new(CustomersState {
                db,
                verifier,
                public_url,
                list_cache: db::is_sqlite(&settings.customers_database_url)
                    .then(PageCache::default),
            }),
            max_body_bytes: settings.max_body_bytes,
            connections: settings.connections,
            cors: settings.cors_allowed_origins.clone(),
            error_format: settings.error_format,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where metrics and probes are served apart from the API, if `customers_admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|admin| admin.addr)
    }

    pub fn state(&self) -> &Arc<CustomersState> {
        &self.state
    }

    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let warm_up = tokio::spawn({
            let verifier = self.state.verifier.clone();
            async move { verifier.warm_up().await }
        });
        let readiness = Readiness {
            db: self.state.db.clone(),
            refresh_store: None,
            jwks: Some(self.state.verifier.clone()),
        };
        let metrics = Arc::new(metrics_for(&document_json(&customers_openapi()), &[]));
        let exposition = {
            let (metrics, verifier) = (metrics.clone(), self.state.verifier.clone());
            move |_| {
                let fetches = verifier.fetches();
                metrics.render(&[(
                    "tessera_jwks_fetches_total",
                    "Times the issuer's JWKS was fetched.",
                    fetches,
                )])
            }
        };
        let exposition = poem::get(make_sync(exposition));
        let mut routes = documented_routes(
            customers_openapi().server(self.state.public_url.clone()),
            self.state.clone(),
            readiness.clone(),
        );
        let mut admin = None;
        match self.admin {
            Some(listener) => admin = Some((listener, exposition)),
            None => routes = routes.at("/metrics", exposition),
        }
        tracing::info!(address = %self.addr, "customer service listening");
        let layers = Layers {
            max_body_bytes: self.max_body_bytes,
            connections: self.connections,
            metrics,
            cors: self.cors,
            aliases: self.aliases,
            error_format: self.error_format,
        };
        let served = serve_with_admin(
            "customer service",
            (self.listener, routes, layers),
            admin,
            readiness,
            shutdown,
        )
        .await;
        warm_up.abort();
        served
    }
}

/// A listener for metrics and probes apart from the API (`admin_listen`), for the operator's
/// network: scrapers and orchestrators reach it, the public never does.
struct AdminListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl AdminListener {
    async fn bind(address: Option<SocketAddr>) -> anyhow::Result<Option<Self>> {
        let Some(address) = address else {
            return Ok(None);
        };
        let (listener, addr) = bind(address).await?;
        Ok(Some(Self { listener, addr }))
    }
}

/// Scrapers and probes, not clients: a few connections are plenty.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// Serves the API and, if there is one, the admin listener with `metrics` and the probes;
/// one shutdown stops both.
async fn serve_with_admin(
    service: &'static str,
    (listener, routes, layers): (TcpListener, impl Endpoint + 'static, Layers),
    admin: Option<(AdminListener, impl Endpoint + 'static)>,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some((admin, metrics)) = admin else {
        return serve(listener, routes, layers, shutdown).await;
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Passes the one shutdown on to both servers; lives exactly as long as this future.
    let relay = async move {
        shutdown.await;
        let _ = stop.send(true);
        std::future::pending::<std::convert::Infallible>().await
    };
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    tracing::info!(admin = %admin.addr, "{service}: metrics and probes on the admin listener");
    let admin_routes = crate::http::probe_routes(readiness)
        .at("/metrics", metrics)
        .with(TrailingSlash)
        .catch_all_error(ApiError::from_poem);
    let limits = ConnectionLimits {
        max_connections: ADMIN_MAX_CONNECTIONS,
        ..layers.connections
    };
    // Either failing ends both: a service without its probes would be restarted anyway.
    let servers = async {
        tokio::try_join!(
            serve(listener, routes, layers, wait(stopped.clone())),
            crate::http::serve(
                admin.listener,
                admin_routes,
                limits,
                wait(stopped),
                DRAIN_DEADLINE
            ),
        )
    };
    tokio::select! {
        served = servers => served.map(|_| ()),
        never = relay => match never {},
    }
}

async fn bind(address: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener
        .local_addr()
        .context("the listener has no TCP address")?;
    Ok((listener, bound))
}

/// Metrics labelled by the document's path templates, plus the routes outside it.
fn metrics_for(document: &serde_json::Value, undocumented_routes: &[&str]) -> Metrics {
    let mut templates: Vec<String> = document["paths"]
        .as_object()
        .map(|paths| paths.keys().cloned().collect())
        .unwrap_or_default();
    templates.extend(UNDOCUMENTED_ROUTES.iter().map(|route| route.to_string()));
    templates.extend(undocumented_routes.iter().map(|route| route.to_string()));
    Metrics::new(templates.iter().map(String::as_str))
}

/// poem-openapi's document as JSON, to read its paths and operations.
fn document_json<T: OpenApi>(api: &OpenApiService<T, ()>) -> serde_json::Value {
    serde_json::from_str(&api.spec()).expect("poem-openapi writes JSON")
}

/// A service's OpenAPI document as served and committed: poem-openapi's, with the example
/// error bodies it has no way to declare.
pub fn document<T: OpenApi>(api: &OpenApiService<T, ()>) -> String {
    let mut document = document_json(api);
    crate::error::document_error_examples(&mut document, operation_error_example);
    serde_json::to_string_pretty(&document).expect("a JSON value serializes")
}

/// Where an operation's error differs from its status's usual one (see
/// [`crate::error::document_error_examples`]).
fn operation_error_example(operation_id: &str, status: u16) -> Option<serde_json::Value> {
    use poem_openapi::types::ToJSON;
    let error = match (operation_id, status) {
        ("obtain_token_pair", 401) => ApiError::NoActiveAccount,
        // Its caller authenticates with HTTP Basic or a bearer token, and sent neither.
        ("introspect_token" | "revoke_token", 401) => ApiError::NotAuthenticated,
        ("register", 403) => ApiError::ONLY_ADMINS_CREATE_STAFF,
        ("get_me", 403) => ApiError::ANONYMOUS_HAS_NO_ACCOUNT,
        ("list_sessions" | "end_session" | "logout_all", 403) => {
            ApiError::ANONYMOUS_HAS_NO_SESSIONS
        }
        ("change_password", 403) => ApiError::ANONYMOUS_HAS_NO_PASSWORD,
        (
            "forward_auth"
            | "create_customer"
            | "update_customer"
            | "update_customer_by_body_id"
            | "delete_customer",
            403,
        ) => ApiError::ANONYMOUS_MAY_ONLY_READ,
        ("list_customers" | "get_customer", 403) => ApiError::NEEDS_CUSTOMERS_READ,
        ("update_account", 400) => {
            ApiError::from(crate::domain::Role::parse_account_role("owner").err()?)
        }
        ("update_customer_by_body_id", 400) => ApiError::from(crate::customers::id_required()),
        ("readyz", 503) => return crate::http::HealthStatus::unavailable().to_json(),
        _ => return None,
    };
    error.body().to_json()
}

/// The API, its document at `/openapi.json` and Swagger UI at `/docs`; handlers find `state`
/// and `readiness` as `Data`. The operations are made again with `Default` (ours are unit
/// structs): `OpenApiService` does not hand its API back.
fn documented_routes<T: OpenApi + Default + 'static, S: Clone + Send + Sync + 'static>(
    api: OpenApiService<T, ()>,
    state: S,
    readiness: Readiness,
) -> ServiceRoutes<S> {
    let document = document(&api);
    // Swagger UI's page embeds the document: swap poem-openapi's for ours.
    let docs_page = api.swagger_ui_html().replacen(&api.spec(), &document, 1);
    let spec = make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    });
    ServiceRoutes::new(T::default(), state, readiness)
        .at("/openapi.json", spec)
        .at("/docs", make_sync(move |_| Html(docs_page.clone())))
}

/// What both services wrap their routes in.
struct Layers {
    max_body_bytes: usize,
    connections: ConnectionLimits,
    metrics: Arc<Metrics>,
    cors: Vec<String>,
    aliases: RouteAliases,
    error_format: ErrorFormat,
}

/// CORS for browser clients (the seeds' React and Next.js front ends): bearer tokens travel
/// in a header, so no credentials mode; `*` allows any origin.
fn cors(origins: &[String]) -> Cors {
    let cors = Cors::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(["authorization", "content-type", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(600);
    if origins.iter().any(|origin| origin == "*") {
        cors
    } else {
        cors.allow_origins(origins.iter().map(String::as_str))
    }
}

/// Both services' outer layers: body limit, trailing slashes, CORS, JSON errors, request logs,
/// and outside them all the route aliases (so logs and metrics see the documented path).
async fn serve(
    listener: TcpListener,
    routes: impl Endpoint + 'static,
    layers: Layers,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = layers.connections;
    let app = routes
        .with(BodyLimit {
            max_bytes: layers.max_body_bytes,
            read_timeout: limits.body_read_timeout,
            budget: Arc::new(Semaphore::new(limits.max_buffered_body_bytes)),
        })
        .with(TrailingSlash)
        .with(SingleAuthorization)
        .with_if(!layers.cors.is_empty(), cors(&layers.cors))
        .catch_all_error(move |err| async move { ApiError::respond(err, layers.error_format) })
        .with(RequestLog {
            metrics: layers.metrics,
        })
        .with(layers.aliases);
    crate::http::serve(listener, app, limits, shutdown, DRAIN_DEADLINE).await
}

async fn reload_keys(state: Arc<AuthState>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Err(err) = state.reload_keys().await {
            // Keep signing with the keys held; the database may be back on the next tick.
            tracing::warn!(error = %err, "could not reload signing keys");
        }
    }
}

/// The SQL store keeps expired families until they are deleted; Redis expires its own.
async fn prune_expired_sessions(store: Arc<dyn RefreshStore>) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        match store.prune(chrono::Utc::now().timestamp()).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "expired refresh sessions deleted"),
            Err(err) => tracing::warn!(error = %err, "could not prune expired refresh sessions"),
        }
    }
}
