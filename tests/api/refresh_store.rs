//! One conformance suite over `&dyn RefreshStore`, run against one Redis server, a Redis
//! Cluster of three masters, SQLite and PostgreSQL.

use std::sync::Arc;

use futures_util::future::join_all;
use tessera::refresh::{
    LiveToken, MAX_SESSIONS_PER_ACCOUNT, RedisRefreshStore, RefreshStore, Rotation, SessionRef,
    SqlRefreshStore, Successor,
};

use crate::helpers::{Backend, TestDatabase, redis_cluster_url, redis_url};

/// A store of the test's own: a fresh database, or a fresh key prefix on the test Redis.
struct TestStore {
    store: Arc<dyn RefreshStore>,
    _database: Option<TestDatabase>,
}

#[derive(Clone, Copy)]
enum Kind {
    Redis,
    RedisCluster,
    Sql(Backend),
}

async fn test_store(kind: Kind) -> TestStore {
    match kind {
        Kind::Redis => {
            let prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
            let store = RedisRefreshStore::new(&redis_url(), &prefix).unwrap();
            store.ping().await.unwrap_or_else(|err| {
                panic!(
                    "Redis is not reachable at {} ({err}). Start it with \
                     `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no`, \
                     or point TESSERA_TEST_REDIS_URL at one.",
                    redis_url()
                )
            });
            TestStore {
                store: Arc::new(store),
                _database: None,
            }
        }
        Kind::RedisCluster => {
            let prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
            let store = RedisRefreshStore::new(&redis_cluster_url(), &prefix).unwrap();
            store.ping().await.unwrap_or_else(|err| {
                panic!(
                    "the Redis Cluster is not reachable at {} ({err}). Start one with \
                     `bash scripts/redis-cluster.sh start`, or point TESSERA_TEST_REDIS_CLUSTER_URL \
                     at one.",
                    redis_cluster_url()
                )
            });
            TestStore {
                store: Arc::new(store),
                _database: None,
            }
        }
        Kind::Sql(backend) => {
            let database = TestDatabase::create(backend).await;
            let db = tessera::db::connect(&database.url).await.unwrap();
            tessera::db::migrate(&db).await.unwrap();
            TestStore {
                store: Arc::new(SqlRefreshStore::new(db)),
                _database: Some(database),
            }
        }
    }
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::Kind;
                use crate::helpers::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn redis() {
                    super::$name(Kind::Redis).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn redis_cluster() {
                    super::$name(Kind::RedisCluster).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Kind::Sql(Backend::Sqlite)).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(Kind::Sql(Backend::Postgres)).await
                }
            }
        )*
    };
}

on_every_store!(
    a_started_family_has_its_first_token_live,
    rotation_makes_the_next_token_live_and_spends_the_presented_one,
    reuse_of_a_spent_token_revokes_the_family,
    revoke_ends_the_family_and_is_idempotent,
    expired_families_are_not_live_and_do_not_rotate,
    fifty_concurrent_rotations_of_one_token_have_exactly_one_winner,
    within_the_grace_the_spent_token_gets_the_same_successor,
    after_the_grace_or_for_an_older_member_reuse_revokes,
    fifty_concurrent_presentations_within_the_grace_share_one_successor,
    an_accounts_sessions_are_listed_and_ended_together,
    one_session_ends_alone_and_only_for_its_account,
    expired_sessions_are_not_listed,
    an_account_at_the_cap_loses_the_session_nearest_its_expiry,
    anonymous_families_rotate_and_end_outside_any_account,
    a_session_keeps_its_start_through_rotations,
);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn family() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The account every family in this suite belongs to, unless a test says otherwise.
const ACCOUNT: i64 = 7;

fn session(family: &str) -> SessionRef<'_> {
    SessionRef {
        account: Some(ACCOUNT),
        family,
    }
}

fn live<'a>(family: &'a str, jti: &'a str) -> LiveToken<'a> {
    LiveToken {
        session: session(family),
        created_at: now(),
        jti,
        issued_at: now(),
        expires_at: now() + 3600,
    }
}

async fn a_started_family_has_its_first_token_live(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first) = (family(), jti());

    store.start(live(&family, &first)).await.unwrap();

    assert!(
        store
            .is_live(session(&family), &first, now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_live(session(&family), &jti(), now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_live(session(&self::family()), &first, now())
            .await
            .unwrap()
    );
    assert!(store.session_exists(session(&family), now()).await.unwrap());
    assert!(
        !store
            .session_exists(session(&self::family()), now())
            .await
            .unwrap()
    );
}

async fn rotation_makes_the_next_token_live_and_spends_the_presented_one(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first, second) = (family(), jti(), jti());
    store.start(live(&family, &first)).await.unwrap();

    let rotation = store
        .rotate(&first, live(&family, &second), now(), 0)
        .await
        .unwrap();

    assert_eq!(rotation, Rotation::Rotated);
    assert!(
        store
            .is_live(session(&family), &second, now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_live(session(&family), &first, now())
            .await
            .unwrap()
    );
    assert!(
        store.session_exists(session(&family), now()).await.unwrap(),
        "rotation keeps the session"
    );
}

async fn reuse_of_a_spent_token_revokes_the_family(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first, second, third) = (family(), jti(), jti(), jti());
    store.start(live(&family, &first)).await.unwrap();
    store
        .rotate(&first, live(&family, &second), now(), 0)
        .await
        .unwrap();

    let replay = store
        .rotate(&first, live(&family, &third), now(), 0)
        .await
        .unwrap();

    assert_eq!(replay, Rotation::Reused);
    assert!(
        !store
            .is_live(session(&family), &second, now())
            .await
            .unwrap(),
        "the newest member died too"
    );
    assert!(
        !store
            .is_live(session(&family), &third, now())
            .await
            .unwrap()
    );
    assert!(!store.session_exists(session(&family), now()).await.unwrap());
    assert_eq!(
        store
            .rotate(&second, live(&family, &jti()), now(), 0)
            .await
            .unwrap(),
        Rotation::Unknown
    );
}

async fn revoke_ends_the_family_and_is_idempotent(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first) = (family(), jti());
    let (other_family, other) = (self::family(), jti());
    store.start(live(&family, &first)).await.unwrap();
    store.start(live(&other_family, &other)).await.unwrap();

    assert!(store.revoke(session(&family)).await.unwrap());
    assert!(!store.revoke(session(&family)).await.unwrap());
    assert!(!store.session_exists(session(&family), now()).await.unwrap());

    assert!(
        !store
            .is_live(session(&family), &first, now())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .rotate(&first, live(&family, &jti()), now(), 0)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    assert!(
        store
            .is_live(session(&other_family), &other, now())
            .await
            .unwrap(),
        "other families are untouched"
    );
}

async fn expired_families_are_not_live_and_do_not_rotate(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first) = (family(), jti());
    // Expired a second ago: Redis drops the key at once, SQL compares with `now`.
    store
        .start(LiveToken {
            session: session(&family),
            created_at: now() - 3600,
            jti: &first,
            issued_at: now() - 3600,
            expires_at: now() - 1,
        })
        .await
        .unwrap();

    assert!(
        !store
            .is_live(session(&family), &first, now())
            .await
            .unwrap()
    );
    assert!(!store.session_exists(session(&family), now()).await.unwrap());
    assert_eq!(
        store
            .rotate(&first, live(&family, &jti()), now(), 0)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    store.prune(now()).await.unwrap();
    assert!(
        !store.revoke(session(&family)).await.unwrap(),
        "pruned or expired: nothing left to revoke"
    );
}

async fn fifty_concurrent_rotations_of_one_token_have_exactly_one_winner(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first) = (family(), jti());
    store.start(live(&family, &first)).await.unwrap();
    let nexts: Vec<String> = (0..50).map(|_| jti()).collect();

    let outcomes = join_all(nexts.iter().map(|next| {
        let store = Arc::clone(store);
        let (family, first, next) = (family.clone(), first.clone(), next.clone());
        tokio::spawn(async move {
            store
                .rotate(&first, live(&family, &next), now(), 0)
                .await
                .unwrap()
        })
    }))
    .await;

    let outcomes: Vec<Rotation> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == Rotation::Rotated).count(),
        1,
        "{outcomes:?}"
    );
}

async fn within_the_grace_the_spent_token_gets_the_same_successor(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first, second) = (family(), jti(), jti());
    store.start(live(&family, &first)).await.unwrap();
    let successor = live(&family, &second);
    let rotated_at = now();
    assert_eq!(
        store
            .rotate(&first, successor.clone(), rotated_at, 10)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    for _ in 0..3 {
        let retry = store
            .rotate(&first, live(&family, &jti()), rotated_at + 9, 10)
            .await
            .unwrap();
        assert_eq!(
            retry,
            Rotation::Retried(Successor {
                jti: second.clone(),
                issued_at: successor.issued_at,
                expires_at: successor.expires_at,
            })
        );
    }
    assert!(
        store
            .is_live(session(&family), &second, now())
            .await
            .unwrap(),
        "a retry changes nothing: the successor stays the one live member"
    );
}

async fn after_the_grace_or_for_an_older_member_reuse_revokes(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first, second, third) = (family(), jti(), jti(), jti());
    store.start(live(&family, &first)).await.unwrap();
    let rotated_at = now();
    store
        .rotate(&first, live(&family, &second), rotated_at, 10)
        .await
        .unwrap();
    store
        .rotate(&second, live(&family, &third), rotated_at, 10)
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate(&first, live(&family, &jti()), rotated_at + 1, 10)
            .await
            .unwrap(),
        Rotation::Reused,
        "two members back is theft, grace or not"
    );
    assert!(!store.session_exists(session(&family), now()).await.unwrap());

    // A grace of 1 s, waited out for real: Redis times the grace by its own clock.
    let (family, first, second) = (self::family(), jti(), jti());
    store.start(live(&family, &first)).await.unwrap();
    store
        .rotate(&first, live(&family, &second), now(), 1)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        store
            .rotate(&first, live(&family, &jti()), now(), 1)
            .await
            .unwrap(),
        Rotation::Reused,
        "the grace is over"
    );
    assert!(
        !store
            .is_live(session(&family), &second, now())
            .await
            .unwrap()
    );

    // A grace of 0 is strict: the spent token is reuse at once.
    let (family, first, second) = (self::family(), jti(), jti());
    store.start(live(&family, &first)).await.unwrap();
    store
        .rotate(&first, live(&family, &second), now(), 0)
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate(&first, live(&family, &jti()), now(), 0)
            .await
            .unwrap(),
        Rotation::Reused
    );
}

async fn fifty_concurrent_presentations_within_the_grace_share_one_successor(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first) = (family(), jti());
    store.start(live(&family, &first)).await.unwrap();
    let nexts: Vec<String> = (0..50).map(|_| jti()).collect();

    let outcomes = join_all(nexts.iter().map(|next| {
        let store = Arc::clone(store);
        let (family, first, next) = (family.clone(), first.clone(), next.clone());
        tokio::spawn(async move {
            let outcome = store
                .rotate(&first, live(&family, &next), now(), 10)
                .await
                .unwrap();
            (next, outcome)
        })
    }))
    .await;

    let outcomes: Vec<(String, Rotation)> = outcomes.into_iter().map(Result::unwrap).collect();
    let winners: Vec<&String> = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome == Rotation::Rotated)
        .map(|(next, _)| next)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for (_, outcome) in &outcomes {
        match outcome {
            Rotation::Rotated => {}
            Rotation::Retried(successor) => assert_eq!(&successor.jti, winners[0]),
            other => panic!("{other:?} within the grace"),
        }
    }
    assert!(
        store
            .is_live(session(&family), winners[0], now())
            .await
            .unwrap()
    );
}

/// An instance of the version before retries rotates by replacing the live jti alone. The
/// retry record left from an earlier rotation must then answer nothing: the token it spent is
/// reuse, never a way to the member the older instance made live. (Only anonymous families are
/// where that version kept them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_rotation_by_an_older_instance_is_never_answered_as_a_retry() {
    let prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
    let store = RedisRefreshStore::new(&redis_url(), &prefix).unwrap();
    let (family, first, second, third) = (family(), jti(), jti(), jti());
    store.start(anonymous(&family, &first)).await.unwrap();
    store
        .rotate(&first, anonymous(&family, &second), now(), 10)
        .await
        .unwrap();
    redis_set(&format!("{prefix}{{f:{family}}}"), &third).await;
    let session = SessionRef {
        account: None,
        family: &family,
    };
    assert!(store.is_live(session, &third, now()).await.unwrap());
    assert_eq!(
        store
            .rotate(&first, anonymous(&family, &jti()), now(), 10)
            .await
            .unwrap(),
        Rotation::Reused
    );
}

/// A session an older version started for an account (at `{f:<family>}`, outside the index) is
/// still live, and its next rotation moves it into the account's index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_an_unindexed_family_joins_the_index_at_its_next_rotation() {
    let prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
    let store = RedisRefreshStore::new(&redis_url(), &prefix).unwrap();
    let (family, first, second) = (family(), jti(), jti());
    redis_set(&format!("{prefix}{{f:{family}}}"), &first).await;

    assert!(
        store
            .is_live(session(&family), &first, now())
            .await
            .unwrap()
    );
    assert!(store.list(ACCOUNT, now()).await.unwrap().is_empty());
    assert_eq!(
        store
            .rotate(&first, live(&family, &second), now(), 0)
            .await
            .unwrap(),
        Rotation::Rotated
    );

    let listed = store.list(ACCOUNT, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].family, family);
    assert!(
        store
            .is_live(session(&family), &second, now())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .rotate(&first, live(&family, &jti()), now(), 0)
            .await
            .unwrap(),
        Rotation::Reused,
        "the spent member is reuse in its new place too"
    );
}

async fn redis_set(key: &str, value: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(3600)
        .query_async::<()>(&mut connection)
        .await
        .unwrap();
}

fn anonymous<'a>(family: &'a str, jti: &'a str) -> LiveToken<'a> {
    LiveToken {
        session: SessionRef {
            account: None,
            family,
        },
        ..live(family, jti)
    }
}

fn of_account<'a>(account: i64, family: &'a str, jti: &'a str) -> LiveToken<'a> {
    LiveToken {
        session: SessionRef {
            account: Some(account),
            family,
        },
        ..live(family, jti)
    }
}

async fn an_accounts_sessions_are_listed_and_ended_together(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let families: Vec<(String, String)> = (0..3).map(|_| (family(), jti())).collect();
    for (family, first) in &families {
        store.start(live(family, first)).await.unwrap();
    }
    let rotated_at = now();
    let (rotated, next) = (&families[1].0, jti());
    store
        .rotate(&families[1].1, live(rotated, &next), rotated_at, 0)
        .await
        .unwrap();
    let (someone_elses, theirs) = (family(), jti());
    store
        .start(of_account(ACCOUNT + 1, &someone_elses, &theirs))
        .await
        .unwrap();
    let (anonymous_family, anonymous_jti) = (family(), jti());
    store
        .start(anonymous(&anonymous_family, &anonymous_jti))
        .await
        .unwrap();

    let listed = store.list(ACCOUNT, now()).await.unwrap();
    let mut listed_families: Vec<&str> = listed.iter().map(|s| s.family.as_str()).collect();
    listed_families.sort();
    let mut expected: Vec<&str> = families.iter().map(|(f, _)| f.as_str()).collect();
    expected.sort();
    assert_eq!(listed_families, expected);
    for session in &listed {
        assert!(session.created_at >= rotated_at - 5 && session.created_at <= now());
        assert!(session.expires_at > now());
        if &session.family == rotated {
            assert!(session.refreshed_at.is_some_and(|at| at >= rotated_at - 1));
        } else {
            assert_eq!(session.refreshed_at, None);
        }
    }

    let keep = &families[0].0;
    assert_eq!(store.end_all(ACCOUNT, Some(keep)).await.unwrap(), 2);
    let listed = store.list(ACCOUNT, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(&listed[0].family, keep);
    assert!(!store.is_live(session(rotated), &next, now()).await.unwrap());
    assert_eq!(
        store
            .rotate(&next, live(rotated, &jti()), now(), 0)
            .await
            .unwrap(),
        Rotation::Unknown,
        "an ended session does not come back"
    );
    assert!(
        store
            .is_live(session(keep), &families[0].1, now())
            .await
            .unwrap()
    );
    let theirs_session = SessionRef {
        account: Some(ACCOUNT + 1),
        family: &someone_elses,
    };
    assert!(store.is_live(theirs_session, &theirs, now()).await.unwrap());
    let anonymous_session = SessionRef {
        account: None,
        family: &anonymous_family,
    };
    assert!(
        store
            .is_live(anonymous_session, &anonymous_jti, now())
            .await
            .unwrap()
    );

    assert_eq!(store.end_all(ACCOUNT, None).await.unwrap(), 1);
    assert!(store.list(ACCOUNT, now()).await.unwrap().is_empty());
    assert_eq!(store.end_all(ACCOUNT, None).await.unwrap(), 0);
}

async fn one_session_ends_alone_and_only_for_its_account(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first, other_family, other) = (family(), jti(), family(), jti());
    store.start(live(&family, &first)).await.unwrap();
    store.start(live(&other_family, &other)).await.unwrap();

    let (anonymous_family, anonymous_jti) = (self::family(), jti());
    store
        .start(anonymous(&anonymous_family, &anonymous_jti))
        .await
        .unwrap();

    assert!(!store.end(ACCOUNT + 1, &family).await.unwrap());
    assert!(!store.end(ACCOUNT, &anonymous_family).await.unwrap());
    assert!(
        store
            .is_live(session(&family), &first, now())
            .await
            .unwrap()
    );
    let anonymous_session = SessionRef {
        account: None,
        family: &anonymous_family,
    };
    assert!(
        store
            .is_live(anonymous_session, &anonymous_jti, now())
            .await
            .unwrap(),
        "an id from outside reaches no session but the account's own"
    );

    assert!(store.end(ACCOUNT, &family).await.unwrap());
    assert!(!store.end(ACCOUNT, &family).await.unwrap());
    let listed = store.list(ACCOUNT, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].family, other_family);
}

async fn expired_sessions_are_not_listed(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (expired, first, live_family, second) = (family(), jti(), family(), jti());
    store
        .start(LiveToken {
            expires_at: now() - 1,
            ..live(&expired, &first)
        })
        .await
        .unwrap();
    store.start(live(&live_family, &second)).await.unwrap();

    let listed = store.list(ACCOUNT, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].family, live_family);
}

async fn an_account_at_the_cap_loses_the_session_nearest_its_expiry(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (soonest, soonest_jti) = (family(), jti());
    store
        .start(LiveToken {
            expires_at: now() + 60,
            ..live(&soonest, &soonest_jti)
        })
        .await
        .unwrap();
    let families: Vec<(String, String)> = (1..MAX_SESSIONS_PER_ACCOUNT)
        .map(|_| (family(), jti()))
        .collect();
    join_all(families.chunks(100).map(|chunk| {
        let store = Arc::clone(store);
        let chunk = chunk.to_vec();
        async move {
            for (family, first) in &chunk {
                store.start(live(family, first)).await.unwrap();
            }
        }
    }))
    .await;
    assert_eq!(
        store.list(ACCOUNT, now()).await.unwrap().len(),
        MAX_SESSIONS_PER_ACCOUNT
    );

    let (newest, newest_jti) = (family(), jti());
    store.start(live(&newest, &newest_jti)).await.unwrap();

    let listed = store.list(ACCOUNT, now()).await.unwrap();
    assert_eq!(listed.len(), MAX_SESSIONS_PER_ACCOUNT);
    assert!(listed.iter().any(|s| s.family == newest));
    assert!(!listed.iter().any(|s| s.family == soonest));
    assert!(
        !store
            .is_live(session(&soonest), &soonest_jti, now())
            .await
            .unwrap()
    );
}

async fn anonymous_families_rotate_and_end_outside_any_account(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first, second) = (family(), jti(), jti());
    let session = SessionRef {
        account: None,
        family: &family,
    };
    store.start(anonymous(&family, &first)).await.unwrap();
    assert_eq!(
        store
            .rotate(&first, anonymous(&family, &second), now(), 0)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert!(store.is_live(session, &second, now()).await.unwrap());
    assert!(store.list(ACCOUNT, now()).await.unwrap().is_empty());
    assert!(store.revoke(session).await.unwrap());
    assert!(!store.session_exists(session, now()).await.unwrap());
}

/// The absolute lifetime counts from the login: the store keeps the session's start as it
/// was, whatever a later member says.
async fn a_session_keeps_its_start_through_rotations(kind: Kind) {
    let test_store = test_store(kind).await;
    let store = &test_store.store;
    let (family, first, second) = (family(), jti(), jti());
    let login = now() - 3600;
    store
        .start(LiveToken {
            created_at: login,
            ..live(&family, &first)
        })
        .await
        .unwrap();
    store
        .rotate(&first, live(&family, &second), now(), 0)
        .await
        .unwrap();

    let listed = store.list(ACCOUNT, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].created_at, login);
    assert!(listed[0].refreshed_at.is_some());
}
