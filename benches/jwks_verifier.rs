//! The customer service's per-request authentication: a valid access token checked by the
//! JWKS verifier with its key cached (no I/O). `cargo bench --bench jwks_verifier`

use criterion::{Criterion, criterion_group, criterion_main};
use tessera::{
    config::{KeySecretSource, Settings, SettingsArgs},
    domain::Role,
    jwks::{JwksSettings, JwksVerifier},
    keys::KeySecret,
    startup::AuthApp,
    token::Subject,
};

fn verify_with_cached_key(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(SettingsArgs::default()).unwrap();
    settings.database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    settings.auth_listen = "127.0.0.1:0".parse().unwrap();
    settings.key_secret = KeySecretSource::Given(KeySecret::generate());
    let (verifier, token) = runtime.block_on(async {
        let auth = AuthApp::build(&settings, false).await.unwrap();
        let base = format!("http://{}", auth.addr());
        let token = auth
            .state()
            .issuer
            .issue_pair(&Subject::account(1, "bench", Role::Customer))
            .access;
        tokio::spawn(auth.run(std::future::pending()));
        let verifier = JwksVerifier::new(JwksSettings::new(
            format!("{base}/.well-known/jwks.json"),
            base,
            "tessera".into(),
        ))
        .unwrap();
        verifier.warm_up().await;
        (verifier, token)
    });

    c.bench_function("jwks verifier: valid access token, cached key", |b| {
        b.iter(|| runtime.block_on(verifier.verify(&token)).unwrap())
    });
}

criterion_group!(benches, verify_with_cached_key);
criterion_main!(benches);
