//! Extra paths for documented operations, so a client written for a simplejwt app keeps its
//! own paths (`/api/token/`, seed 000's `/gettoken/`) and reaches Tessera's operation. An
//! alias is rewritten to the operation's path before anything else sees the request: routing,
//! the request log and the metrics' route templates all see the documented path, and the
//! OpenAPI document lists no alias.

use std::{collections::HashMap, sync::Arc};

use anyhow::bail;
use poem::{Endpoint, Middleware, Request, Result, http::Uri};
use serde_json::Value;

/// simplejwt's own documentation: `path('api/token/', TokenObtainPairView.as_view())` and
/// the rest.
pub const SIMPLEJWT_PRESET: [(&str, &str); 4] = [
    ("/api/token/", "obtain_token_pair"),
    ("/api/token/refresh/", "refresh_token"),
    ("/api/token/verify/", "verify_token"),
    ("/api/token/blacklist/", "blacklist_token"),
];

/// Alias paths (without their trailing slash) to the documented path each stands for.
#[derive(Debug, Clone, Default)]
pub struct RouteAliases(Arc<HashMap<String, String>>);

impl RouteAliases {
    /// Resolves each alias's target, an `operationId` or a documented path, against the
    /// service's OpenAPI `document`. An alias that names nothing documented, an operation whose
    /// path has parameters, or a path the service already serves is refused, naming it.
    pub fn resolve(aliases: &[(String, String)], document: &Value) -> anyhow::Result<Self> {
        let paths = document["paths"].as_object();
        let documented = |path: &str| paths.is_some_and(|paths| paths.contains_key(path));
        let mut resolved = HashMap::new();
        for (alias, target) in aliases {
            let alias_path = trimmed(alias);
            if documented(alias_path) {
                bail!("aliases: {alias:?} is already a path of this service");
            }
            let path = if target.starts_with('/') {
                Some(trimmed(target).to_owned()).filter(|path| documented(path))
            } else {
                operation_path(document, target)
            };
            let Some(path) = path else {
                bail!(
                    "aliases: {alias:?} stands for {target:?}, which is neither an operationId \
                     nor a path in this service's OpenAPI document"
                );
            };
            if path.contains('{') {
                bail!("aliases: {alias:?} stands for {path}, whose path has parameters");
            }
            resolved.insert(alias_path.to_owned(), path);
        }
        Ok(Self(Arc::new(resolved)))
    }
}

/// The documented path of operation `operation_id`.
fn operation_path(document: &Value, operation_id: &str) -> Option<String> {
    document["paths"]
        .as_object()?
        .iter()
        .find_map(|(path, item)| {
            item.as_object()?
                .values()
                .any(|operation| operation["operationId"] == operation_id)
                .then(|| path.clone())
        })
}

/// Django's paths end in `/`, poem-openapi's do not; both are served (see `TrailingSlash`).
fn trimmed(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

impl<E: Endpoint> Middleware<E> for RouteAliases {
    type Output = AliasedEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        AliasedEndpoint {
            inner: ep,
            aliases: self.0.clone(),
        }
    }
}

pub struct AliasedEndpoint<E> {
    inner: E,
    aliases: Arc<HashMap<String, String>>,
}

impl<E: Endpoint> Endpoint for AliasedEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        if !self.aliases.is_empty()
            && let Some(path) = self.aliases.get(trimmed(req.uri().path()))
        {
            let rewritten = match req.uri().query() {
                Some(query) => format!("{path}?{query}"),
                None => path.clone(),
            };
            if let Ok(uri) = rewritten.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
        }
        self.inner.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document() -> Value {
        json!({"paths": {
            "/auth/token": {"post": {"operationId": "obtain_token_pair"}},
            "/auth/accounts/{id}": {"get": {"operationId": "get_account"}},
        }})
    }

    fn resolve(alias: &str, target: &str) -> anyhow::Result<RouteAliases> {
        RouteAliases::resolve(&[(alias.into(), target.into())], &document())
    }

    #[test]
    fn an_alias_names_an_operation_or_a_documented_path() {
        for target in ["obtain_token_pair", "/auth/token/", "/auth/token"] {
            let aliases = resolve("/gettoken/", target).unwrap();
            assert_eq!(aliases.0.get("/gettoken").unwrap(), "/auth/token");
        }
    }

    #[test]
    fn an_alias_that_names_nothing_or_shadows_a_path_is_refused() {
        for (alias, target) in [
            ("/gettoken/", "obtain_token"),
            ("/gettoken/", "/auth/tokens/"),
            ("/auth/token/", "obtain_token_pair"),
            ("/account/", "get_account"),
        ] {
            let err = resolve(alias, target).unwrap_err().to_string();
            assert!(err.contains(&format!("{alias:?}")), "{err}");
        }
    }
}
