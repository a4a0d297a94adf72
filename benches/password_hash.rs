//! The raw argon2id rate on this machine: the ceiling for the login endpoint.
//! `cargo bench --bench password_hash`; the last line's throughput (elements/s) is the
//! verifications per second of the whole machine.

use criterion::{Criterion, criterion_group, criterion_main};
use tessera::{
    auth::{HashCost, PasswordHasher},
    domain::Password,
};

fn hash_and_verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hasher = PasswordHasher::new(HashCost::default(), 1).unwrap();
    let password = || Password::unchecked_for_login("correct horse battery staple".into());
    let stored = runtime.block_on(hasher.hash(password())).unwrap();

    let mut group = c.benchmark_group("argon2id m=19456 t=2 p=1");
    group.sample_size(30);
    group.bench_function("hash", |b| {
        b.iter(|| runtime.block_on(hasher.hash(password())).unwrap())
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            runtime
                .block_on(hasher.verify(password(), Some(stored.clone())))
                .unwrap()
        })
    });
    // The login endpoint's ceiling: a queue of verifications, one per core at a time, as the
    // server runs them (a batch of 8 per core keeps every core busy between iterations).
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let parallel = PasswordHasher::new(HashCost::default(), cores).unwrap();
    let batch = 8 * cores;
    group.throughput(criterion::Throughput::Elements(batch as u64));
    group.bench_function(format!("verify, {cores} at once"), |b| {
        b.iter(|| {
            runtime.block_on(async {
                let checks = (0..batch).map(|_| parallel.verify(password(), Some(stored.clone())));
                for check in futures_util::future::join_all(checks).await {
                    assert!(check.unwrap());
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, hash_and_verify);
criterion_main!(benches);
