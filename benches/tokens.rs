//! Minting and reading tokens with a parsed key: the CPU floor of the obtain, refresh and
//! verify endpoints. `cargo bench --bench tokens`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera::{
    domain::Role,
    keys::{KeyCipher, KeySecret, KeyStore, SharedKeyRing},
    token::{Lifetimes, Subject, TokenIssuer, TokenSettings, TokenVerifier},
};

fn tokens(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let ring = runtime.block_on(async {
        let db = tessera::db::connect(&url).await.unwrap();
        tessera::db::migrate(&db).await.unwrap();
        KeyStore::new(db, KeyCipher::new(&KeySecret::generate()))
            .load_or_create()
            .await
            .unwrap()
    });
    let keys = Arc::new(SharedKeyRing::new(ring));
    let settings = TokenSettings {
        issuer: "http://127.0.0.1:7001".into(),
        audience: "tessera".into(),
        client_id: "tessera".into(),
    };
    let issuer = TokenIssuer::new(keys.clone(), settings.clone(), Lifetimes::default());
    let verifier = TokenVerifier::new(keys, &settings);
    let subject = Subject::account(42, "bench", Role::Customer);
    let pair = issuer.issue_pair(&subject);

    let mut group = c.benchmark_group("tokens");
    group.bench_function("issue pair (RS256 access + HS256 refresh)", |b| {
        b.iter(|| issuer.issue_pair(&subject))
    });
    group.bench_function("issue access only (RS256)", |b| {
        b.iter(|| issuer.issue_access(&subject, &pair.refresh_claims.fam))
    });
    group.bench_function("verify access (RS256)", |b| {
        b.iter(|| verifier.verify_access(&pair.access).unwrap())
    });
    group.bench_function("verify refresh (HS256)", |b| {
        b.iter(|| verifier.verify_refresh(&pair.refresh).unwrap())
    });
    group.finish();
}

criterion_group!(benches, tokens);
criterion_main!(benches);
