//! One real server per test, on a random port, over real storage: a SQLite file in a temp dir,
//! or a fresh PostgreSQL database. A server that cannot be reached fails the test and says how
//! to start it; no test is skipped.

use std::{
    io::Write,
    sync::{Arc, LazyLock, Mutex},
};

use reqwest::{Response, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tempfile::TempDir;
use tessera::{
    auth::AuthState,
    config::{KeySecretSource, Settings, SettingsArgs},
    domain::{Password, Role, Username},
    keys::KeySecret,
    startup::AuthApp,
    users::{self, NewUser},
};
use tokio::{sync::oneshot, task::JoinHandle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once on SQLite and once on PostgreSQL: `on_both_backends!(name, ...)` for
/// each `async fn name(backend: Backend)` in the calling module.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

/// Where refresh sessions live in a token-service test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    Sqlite,
    Postgres,
    Redis,
}

/// Runs a test body with the SQL store on SQLite and on PostgreSQL, and with the Redis store:
/// `on_every_session_store!(name, ...)` for each `async fn name(sessions: Sessions)`.
#[macro_export]
macro_rules! on_every_session_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::Sessions;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Sessions::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(Sessions::Postgres).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn redis() {
                    super::$name(Sessions::Redis).await
                }
            }
        )*
    };
}

/// A token service whose refresh sessions live where `sessions` says.
pub async fn spawn_with_sessions(sessions: Sessions) -> (TestDatabase, TestApp) {
    let (database, settings) = settings_with_sessions(sessions).await;
    let app = TestApp::spawn_with(settings).await;
    (database, app)
}

/// A database, and test settings that keep refresh sessions where `sessions` says.
pub async fn settings_with_sessions(sessions: Sessions) -> (TestDatabase, Settings) {
    let backend = if sessions == Sessions::Postgres {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let database = TestDatabase::create(backend).await;
    let mut settings = test_settings(&database);
    if sessions == Sessions::Redis {
        settings.redis_url = Some(redis_url());
        settings.redis_prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
    }
    (database, settings)
}

/// Everything every test process logged; the secrets test reads it.
pub static LOGS: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(|| {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let writer = CapturedLogs(sink.clone());
    // TEST_LOG=1 also prints them.
    let filter = std::env::var("TEST_LOG_FILTER").unwrap_or_else(|_| "debug".into());
    tessera::telemetry::init(
        &filter,
        tessera::telemetry::LogFormat::Text,
        false,
        move || writer.clone(),
    );
    sink
});

#[derive(Clone)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// A Redis Cluster of three masters and their replicas (`bash scripts/redis-cluster.sh start`).
pub fn redis_cluster_url() -> String {
    std::env::var("TESSERA_TEST_REDIS_CLUSTER_URL")
        .unwrap_or_else(|_| "redis+cluster://127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403".into())
}

/// The Redis the tests use; each test keeps to a key prefix of its own.
pub fn redis_url() -> String {
    std::env::var("TESSERA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A database of the test's own, dropped with it.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("tessera.db").display()
                );
                Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TESSERA_TEST_DATABASE_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(&admin_url).await.unwrap_or_else(|err| {
                    panic!(
                        "PostgreSQL is not reachable at {admin_url} ({err}). Start it with \
                         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
                         or point TESSERA_TEST_DATABASE_URL at a server where this user may CREATE DATABASE."
                    )
                });
                admin
                    .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
                    .await
                    .expect("creating the test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base)
                    .unwrap_or(&admin_url);
                Self {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside async code: a short-lived runtime of its own does the cleanup.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                            ))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub address: String,
    /// The admin listener's base URL, when `admin_listen` is set.
    pub admin_address: Option<String>,
    pub client: reqwest::Client,
    pub state: Arc<AuthState>,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Settings for a test server: random port, its own database, a fixed key secret.
pub fn test_settings(database: &TestDatabase) -> Settings {
    let mut settings = Settings::load(SettingsArgs::default()).expect("default settings");
    settings.database_url = database.url.clone();
    settings.auth_listen = "127.0.0.1:0".parse().unwrap();
    settings.key_secret = KeySecretSource::Given(KeySecret::generate());
    settings.hash_concurrency = 2;
    // Strict reuse detection: tests/api/refresh.rs turns the retry grace on where it is tested.
    settings.refresh_reuse_grace = std::time::Duration::ZERO;
    // Tests log in far faster than any person; tests/api/rate_limits.rs turns limits on.
    settings.rate_limits = tessera::config::RateLimitSettings::default();
    settings
}

impl TestApp {
    pub async fn spawn(database: &TestDatabase) -> Self {
        Self::spawn_with(test_settings(database)).await
    }

    pub async fn spawn_with(settings: Settings) -> Self {
        LazyLock::force(&LOGS);
        let app = AuthApp::build(&settings, false)
            .await
            .expect("building the token service");
        let address = format!("http://{}", app.addr());
        let admin_address = app.admin_addr().map(|addr| format!("http://{addr}"));
        let state = app.state().clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Self {
            address,
            admin_address,
            client: reqwest::Client::new(),
            state,
            settings,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops accepting, finishes in-flight requests and waits for the server to end.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_register(&self, body: &Value) -> Response {
        self.post_json("/auth/register/", body).await
    }

    pub async fn post_token(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/auth/token/",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn post_refresh(&self, refresh: &str) -> Response {
        self.post_json("/auth/token/refresh/", &json!({"refresh": refresh}))
            .await
    }

    pub async fn post_verify(&self, token: &str) -> Response {
        self.post_json("/auth/token/verify/", &json!({"token": token}))
            .await
    }

    pub async fn post_blacklist(&self, refresh: &str) -> Response {
        self.post_json("/auth/token/blacklist/", &json!({"refresh": refresh}))
            .await
    }

    pub async fn post_anonymous(&self) -> Response {
        self.client
            .post(self.url("/auth/token/anonymous/"))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_with_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_me(&self, token: &str) -> Response {
        self.get_with_bearer("/auth/me/", token).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_text(path).await).expect("JSON body")
    }

    /// A form to the OAuth 2.0 token endpoint: its status, headers and JSON body.
    pub async fn post_oauth_token(
        &self,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let response = self
            .client
            .post(self.url("/auth/oauth/token/"))
            .form(form)
            .send()
            .await
            .expect("request");
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.json().await.expect("JSON body"))
    }

    /// The body of a GET that must answer 200, as text.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("a text body")
    }

    /// Creates an account the way `tessera users create` does and logs it in.
    pub async fn create_user(&self, role: Role) -> TestUser {
        let username = format!(
            "{}-{}",
            role,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let password = format!("Pw-{}", uuid::Uuid::new_v4().simple());
        let hash = self
            .state
            .hasher
            .hash(Password::unchecked_for_login(password.clone()))
            .await
            .unwrap();
        let new_user = NewUser {
            username: Username::parse(&username).unwrap(),
            email: None,
            gst_no: None,
            role,
            is_active: true,
        };
        let created = users::insert(&self.state.db, new_user, hash).await.unwrap();
        let tokens: Value = self
            .post_token(&username, &password)
            .await
            .json()
            .await
            .unwrap();
        TestUser {
            id: created.id,
            username,
            password,
            access: tokens["access"].as_str().expect("access token").to_owned(),
            refresh: tokens["refresh"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The customer service, run beside a [`TestApp`] and trusting it through its JWKS over HTTP.
pub struct TestCustomers {
    pub address: String,
    pub client: reqwest::Client,
    pub state: Arc<tessera::customers::CustomersState>,
    shutdown: Option<oneshot::Sender<()>>,
    _database: TestDatabase,
}

impl TestCustomers {
    /// Verifies against `auth`'s JWKS, with no leeway so that expiry is exact.
    pub async fn spawn(auth: &TestApp, backend: Backend) -> Self {
        Self::spawn_with_jwks(auth, backend, auth.url("/.well-known/jwks.json")).await
    }

    pub async fn spawn_with_jwks(auth: &TestApp, backend: Backend, jwks_url: String) -> Self {
        Self::spawn_configured(auth, backend, jwks_url, |_| {}).await
    }

    /// As [`Self::spawn_with_jwks`], with `configure` applied to its settings first.
    pub async fn spawn_configured(
        auth: &TestApp,
        backend: Backend,
        jwks_url: String,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let database = TestDatabase::create(backend).await;
        let mut settings = test_settings(&database);
        settings.customers_database_url = database.url.clone();
        settings.customers_listen = "127.0.0.1:0".parse().unwrap();
        configure(&mut settings);
        let mut jwks = tessera::startup::jwks_settings(&settings, jwks_url);
        jwks.issuer = auth.address.clone();
        jwks.leeway = std::time::Duration::ZERO;
        let app = tessera::startup::CustomersApp::build(&settings, jwks)
            .await
            .expect("building the customer service");
        let address = format!("http://{}", app.addr());
        let state = app.state().clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Self {
            address,
            client: reqwest::Client::new(),
            state,
            shutdown: Some(shutdown),
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn create(&self, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/customers/"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, token: &str, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestCustomers {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

/// A registration body that passes every rule, with a unique username and email.
pub fn valid_registration() -> Value {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..10];
    json!({
        "username": format!("user{tag}"),
        "email": format!("user{tag}@example.com"),
        "password": "Bx7#mq2Lz9Vw",
        "password2": "Bx7#mq2Lz9Vw",
        "gst_no": "gst12345",
    })
}

/// Status and JSON body, asserting the body is JSON.
pub async fn status_and_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json().await.expect("JSON body");
    (status, body)
}

/// Decodes a JWT's header and claims without verifying, to look at what was issued.
pub fn peek(token: &str) -> (Value, Value) {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut parts = token.split('.');
    let mut decode = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    let header = decode();
    let claims = decode();
    (header, claims)
}
