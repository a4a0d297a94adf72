//! Properties over generated input: the domain parsers accept exactly what they document and
//! are idempotent; a body means the same in JSON, urlencoded and multipart form; a token
//! survives issue-then-verify and no single changed byte does.

use std::sync::{Arc, LazyLock};

use proptest::prelude::*;
use tessera::{
    config::{KeySecretSource, Settings, SettingsArgs},
    domain::{CustomerName, CustomerType, Email, GstNo, Mobile, Password, Role, Username},
    keys::{KeyCipher, KeySecret, KeyStore, SharedKeyRing},
    startup::AuthApp,
    token::{Lifetimes, Subject, TokenIssuer, TokenSettings, TokenVerifier},
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_username_parses_to_its_normal_form_once_and_for_all(raw in "\\PC{0,40}|[a-zA-Z0-9@.+_-]{1,160}") {
        if let Ok(username) = Username::parse(&raw) {
            let stored = username.as_ref();
            let length = stored.chars().count();
            prop_assert!((1..=150).contains(&length));
            prop_assert!(stored.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)));
            let again = Username::parse(stored).unwrap();
            prop_assert_eq!(again.as_ref(), stored);
            prop_assert_eq!(Username::for_login(&raw).unwrap(), stored);
        }
    }

    #[test]
    fn plain_names_of_up_to_150_characters_are_usernames(raw in "[a-zA-Z0-9@.+_-]{1,150}") {
        let parsed = Username::parse(&raw).unwrap();
        prop_assert_eq!(parsed.as_ref(), raw.as_str());
    }

    #[test]
    fn an_email_has_one_address_form(raw in "\\PC{0,30}|[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,20}\\.[a-z]{2,6}") {
        if let Ok(email) = Email::parse(&raw) {
            let address = email.as_ref();
            prop_assert!(address.len() <= 254 && address.contains('@'));
            let again = Email::parse(address).unwrap();
            prop_assert_eq!(again.as_ref(), address);
        }
    }

    #[test]
    fn a_gst_number_is_1_to_32_letters_and_digits(raw in "\\PC{0,40}|[A-Za-z0-9]{1,40}") {
        let trimmed = raw.trim();
        let valid = (1..=32).contains(&trimmed.len()) && trimmed.chars().all(|c| c.is_ascii_alphanumeric());
        prop_assert_eq!(GstNo::parse(&raw).is_ok(), valid);
    }

    #[test]
    fn a_mobile_is_7_to_15_digits_after_an_optional_plus(raw in "\\PC{0,20}|\\+?[0-9]{1,20}") {
        let trimmed = raw.trim();
        let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let valid = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(Mobile::parse(&raw).is_ok(), valid);
    }

    #[test]
    fn customer_names_and_types_are_trimmed_and_bounded(raw in "\\PC{0,300}") {
        if let Ok(name) = CustomerName::parse(&raw) {
            prop_assert_eq!(name.as_ref(), raw.trim());
            prop_assert!((1..=255).contains(&name.as_ref().chars().count()));
        }
        if let Ok(kind) = CustomerType::parse(&raw) {
            prop_assert!((1..=64).contains(&kind.as_ref().chars().count()));
        }
    }

    #[test]
    fn short_or_all_digit_passwords_are_refused(short in "\\PC{0,7}", digits in "[0-9]{8,20}") {
        prop_assert!(Password::parse(&short, &[]).is_err());
        prop_assert!(Password::parse(&digits, &[]).is_err());
    }
}

/// Issuer and verifier over one freshly generated key, made once.
static TOKENS: LazyLock<(TokenIssuer, TokenVerifier)> = LazyLock::new(|| {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("keys.db").display());
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
        issuer: "http://issuer.test".into(),
        audience: "tessera".into(),
        client_id: "tessera".into(),
    };
    (
        TokenIssuer::new(keys.clone(), settings.clone(), Lifetimes::default()),
        TokenVerifier::new(keys, &settings),
    )
});

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn issued_tokens_verify_and_no_single_changed_byte_does(
        user_id in 1i64..i64::MAX,
        name in "[a-z0-9]{1,20}",
        role in prop_oneof![Just(Role::Customer), Just(Role::Staff), Just(Role::Admin)],
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let (issuer, verifier) = &*TOKENS;
        let pair = issuer.issue_pair(&Subject::account(user_id, &name, role));
        let access = verifier.verify_access(&pair.access).expect("a fresh access token verifies");
        prop_assert_eq!(access.user_id, Some(user_id));
        prop_assert_eq!(access.username.as_deref(), Some(name.as_str()));
        let refresh = verifier.verify_refresh(&pair.refresh).expect("a fresh refresh token verifies");
        prop_assert_eq!(refresh.jti, pair.refresh_claims.jti);
        prop_assert!(verifier.verify_refresh(&pair.access).is_err(), "an access token is no refresh token");
        prop_assert!(verifier.verify_access(&pair.refresh).is_err(), "a refresh token is no access token");

        for token in [&pair.access, &pair.refresh] {
            let mut bytes = token.clone().into_bytes();
            let at = position.index(bytes.len());
            if bytes[at] == replacement {
                continue;
            }
            bytes[at] = replacement;
            let changed = String::from_utf8_lossy(&bytes);
            prop_assert!(verifier.verify_access(&changed).is_err(), "byte {} changed to {}", at, replacement);
            prop_assert!(verifier.verify_refresh(&changed).is_err(), "byte {} changed to {}", at, replacement);
        }
    }
}

/// A token service on SQLite, served on a runtime of its own for the synchronous proptest.
struct Service {
    runtime: tokio::runtime::Runtime,
    url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

static SERVICE: LazyLock<Service> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(SettingsArgs::default()).unwrap();
    settings.database_url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    settings.auth_listen = "127.0.0.1:0".parse().unwrap();
    settings.key_secret = KeySecretSource::Given(KeySecret::generate());
    settings.rate_limits = tessera::config::RateLimitSettings::default();
    let url = runtime.block_on(async {
        let app = AuthApp::build(&settings, false).await.unwrap();
        let url = format!("http://{}/auth/token/", app.addr());
        tokio::spawn(app.run(std::future::pending()));
        url
    });
    Service {
        runtime,
        url,
        client: reqwest::Client::new(),
        _dir: dir,
    }
});

/// Text fields as a person or a fuzzer might send them: empty, NUL, non-ASCII, long.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "",
        "\\PC{0,20}",
        "[a-z]{0,5}\u{0}[a-z]{0,5}",
        "\u{FDFA}{140,160}",
        "a{149,152}"
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_login_body_means_the_same_in_json_urlencoded_and_multipart(
        username in proptest::option::of(field_value()),
        password in proptest::option::of(field_value()),
    ) {
        let service = &*SERVICE;
        let mut fields = Vec::new();
        if let Some(username) = &username {
            fields.push(("username", username.clone()));
        }
        if let Some(password) = &password {
            fields.push(("password", password.clone()));
        }
        let json: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(name, value)| (name.to_string(), serde_json::Value::from(value.as_str())))
            .collect();
        let answers = service.runtime.block_on(async {
            let as_json = service.client.post(&service.url).json(&json);
            let as_form = service.client.post(&service.url).form(&fields);
            let mut multipart = reqwest::multipart::Form::new();
            for (name, value) in &fields {
                multipart = multipart.text(name.to_string(), value.clone());
            }
            let as_multipart = service.client.post(&service.url).multipart(multipart);
            let mut answers = Vec::new();
            for request in [as_json, as_form, as_multipart] {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                answers.push((status, body));
            }
            answers
        });
        prop_assert!(answers[0].0 == 400 || answers[0].0 == 401, "{:?}", answers[0]);
        prop_assert_eq!(&answers[0], &answers[1], "JSON and urlencoded differ");
        prop_assert_eq!(&answers[0], &answers[2], "JSON and multipart differ");
    }
}
