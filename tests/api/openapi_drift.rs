use serde_json::Value;

/// `openapi/auth.json` is what `tessera openapi auth --out openapi/auth.json` writes today.
#[test]
fn the_committed_auth_document_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/auth.json"))
            .expect("openapi/auth.json exists");
    let generated = tessera::startup::document(&tessera::startup::auth_openapi());
    assert!(
        committed.trim() == generated.trim(),
        "openapi/auth.json is stale: run `cargo run -- openapi auth --out openapi/auth.json`"
    );
}

/// `openapi/customers.json` likewise, from `tessera openapi customers`.
#[test]
fn the_committed_customers_document_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/openapi/customers.json"
    ))
    .expect("openapi/customers.json exists");
    let generated = tessera::startup::document(&tessera::startup::customers_openapi());
    assert!(
        committed.trim() == generated.trim(),
        "openapi/customers.json is stale: run `cargo run -- openapi customers --out openapi/customers.json`"
    );
}

#[test]
fn every_operation_has_an_operation_id_and_documents_its_errors() {
    for spec in [
        tessera::startup::document(&tessera::startup::auth_openapi()),
        tessera::startup::document(&tessera::startup::customers_openapi()),
    ] {
        check_document(&serde_json::from_str(&spec).unwrap());
    }
}

fn check_document(document: &Value) {
    let mut operation_ids = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            operation_ids.push(id.to_owned());
            let responses = operation["responses"].as_object().unwrap();
            if operation.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} does not document 401"
                );
            }
            let statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
            // What reading a body can answer is documented exactly where there is a body.
            let body_statuses = ["408", "413", "415"];
            let has_body = operation.get("requestBody").is_some();
            for status in body_statuses {
                // RFC 6749 answers a token request that is not a form with invalid_request.
                if id == "oauth_token" && status == "415" {
                    continue;
                }
                assert_eq!(
                    statuses.contains(&status),
                    has_body,
                    "{method} {path} documents {statuses:?}"
                );
            }
            // DESIGN.md: forward auth answers 200, 401 or 403 and nothing else (nginx turns
            // anything else into a 500).
            if id == "forward_auth" {
                assert_eq!(statuses, ["200", "401", "403"], "{method} {path}");
            }
            if let Some(content) = operation["requestBody"]["content"].as_object() {
                assert!(
                    responses.contains_key("400") && responses.contains_key("503"),
                    "{method} {path}"
                );
                // One content type: generators given three with one schema emit clients that
                // send all of them. The form types are named in the description instead. The
                // OAuth token endpoint takes RFC 6749's form only.
                let (content_type, description_names) = if id == "oauth_token" {
                    ("application/x-www-form-urlencoded", "")
                } else {
                    ("application/json", "multipart/form-data")
                };
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    [content_type],
                    "{method} {path}"
                );
                let description = operation["requestBody"]["description"]
                    .as_str()
                    .unwrap_or_default();
                assert!(description.contains(description_names), "{method} {path}");
                check_example(
                    document,
                    &content[content_type],
                    &format!("{method} {path}"),
                );
            }
            for (status, response) in responses {
                for media in response["content"].as_object().into_iter().flatten() {
                    check_example(document, media.1, &format!("{method} {path} {status}"));
                }
            }
        }
    }
    let unique: std::collections::HashSet<_> = operation_ids.iter().collect();
    assert_eq!(
        unique.len(),
        operation_ids.len(),
        "duplicate operationIds: {operation_ids:?}"
    );
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    assert!(schemes.values().all(|scheme| scheme["scheme"] == "bearer"));
}

/// A body's example is its own (error responses) or its schema's, and has every property
/// its schema requires and no other: Swagger UI and generated clients' docs show real values,
/// never `"string"`, and an error example under a schema that is not `ErrorBody` would not fit.
fn check_example(document: &Value, media: &Value, place: &str) {
    let mut schema = &media["schema"];
    if schema["type"] == "array" {
        schema = &schema["items"];
    }
    let Some(reference) = schema["$ref"].as_str() else {
        assert!(
            schema["type"] == "string"
                || schema["type"] == "object" && schema.get("properties").is_none(),
            "{place}: an inline body schema with no example: {schema}"
        );
        return;
    };
    let name = reference.rsplit('/').next().unwrap();
    let schema = &document["components"]["schemas"][name];
    let properties = schema["properties"].as_object();
    let example = media.get("example").unwrap_or(&schema["example"]);
    let Some(example) = example.as_object() else {
        assert!(
            properties.is_none_or(|properties| properties.is_empty()),
            "{place}: schema {name} has no example"
        );
        return;
    };
    for required in schema["required"].as_array().into_iter().flatten() {
        let required = required.as_str().unwrap();
        assert!(
            example.contains_key(required),
            "{place}: the example lacks {name}'s {required}"
        );
    }
    for key in example.keys() {
        assert!(
            properties.is_some_and(|properties| properties.contains_key(key)),
            "{place}: the example has {key}, which {name} does not document"
        );
    }
}

/// The error examples the served documents show are what the services answer: a wrong
/// password, an anonymous token where an account is needed, a PATCH without its id, and the
/// same document in Swagger UI's page.
#[tokio::test]
async fn documented_error_examples_are_what_the_services_answer() {
    use crate::helpers::{Backend, TestApp, TestCustomers, TestDatabase, status_and_json};

    let db = TestDatabase::create(Backend::Sqlite).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&auth, Backend::Sqlite).await;
    let auth_document = auth.get_json("/openapi.json").await;
    let customers_document: Value = customers
        .client
        .get(customers.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let example = |document: &Value, path: &str, method: &str, status: &str| {
        document["paths"][path][method]["responses"][status]["content"]
            ["application/json; charset=utf-8"]["example"]
            .clone()
    };

    let user = auth.create_user(tessera::domain::Role::Customer).await;
    let (status, body) =
        status_and_json(auth.post_token(&user.username, "wrong-password").await).await;
    assert_eq!(status, 401);
    assert_eq!(body, example(&auth_document, "/auth/token", "post", "401"));

    let anonymous: Value = auth.post_anonymous().await.json().await.unwrap();
    let anonymous = anonymous["access"].as_str().unwrap();
    let (status, body) = status_and_json(auth.get_me(anonymous).await).await;
    assert_eq!(status, 403);
    assert_eq!(body, example(&auth_document, "/auth/me", "get", "403"));

    let (status, body) = status_and_json(
        customers
            .patch(
                &user.access,
                "/customers/",
                &serde_json::json!({"name": "x"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        example(&customers_document, "/customers", "patch", "400")
    );

    let page = auth.get_text("/docs").await;
    assert!(
        page.contains("no_active_account"),
        "Swagger UI shows poem-openapi's own document"
    );
}
