//! Extra paths for documented operations, so a client written for a simplejwt app keeps its
//! own paths (`/api/token/`, seed 000's `/gettoken/`) and reaches Tessera's operation. An
//! alias is rewritten to the operation's path before anything else sees the request: routing,
//! the request log and the metrics' route templates all see the documented path, and the
//! OpenAPI document lists no alias.

use std::{collections::HashMap, sync::Arc};

use anyhow::bail;
use poem::{
    Endpoint, Middleware, Request, Result,
    http::{Method, Uri},
};
use serde_json::Value;

/// simplejwt's own documentation: `path('api/token/', TokenObtainPairView.as_view())` and
/// the rest.
pub const SIMPLEJWT_PRESET: [(&str, &str); 4] = [
    ("/api/token/", "obtain_token_pair"),
    ("/api/token/refresh/", "refresh_token"),
    ("/api/token/verify/", "verify_token"),
    ("/api/token/blacklist/", "blacklist_token"),
];

/// Where an alias leads: a documented path, for every method (the alias of a path) or for one
/// (the alias of an operation).
#[derive(Debug, Clone)]
struct Target {
    path: String,
    method: Option<Method>,
}

/// Alias paths (without their trailing slash) to what each stands for.
#[derive(Debug, Clone, Default)]
pub struct RouteAliases(Arc<HashMap<String, Target>>);

impl RouteAliases {
    /// Resolves each alias's target, an `operationId` or a documented path, against the
    /// service's OpenAPI `document`. An alias that names nothing documented, or an operation
    /// whose path has parameters, is refused, naming it; so is one that would hide a path the
    /// service serves: a documented one (a template's parameter matches any segment) or one of
    /// its `undocumented_routes` (`/x/*` covers everything below `/x`). A later alias of the
    /// same path replaces an earlier one (a preset's, say).
    pub fn resolve(
        aliases: &[(String, String)],
        document: &Value,
        undocumented_routes: &[&str],
    ) -> anyhow::Result<Self> {
        let paths = document["paths"].as_object();
        let documented = |path: &str| paths.is_some_and(|paths| paths.contains_key(path));
        let served = |path: &str| {
            paths
                .into_iter()
                .flat_map(|paths| paths.keys().map(String::as_str))
                .chain(undocumented_routes.iter().copied())
                .any(|route| route_matches(route, path))
        };
        let mut resolved = HashMap::new();
        for (alias, target) in aliases {
            let alias_path = trimmed(alias);
            if served(alias_path) {
                bail!("aliases: {alias:?} is already a path of this service");
            }
            let found = if target.starts_with('/') {
                Some(trimmed(target).to_owned())
                    .filter(|path| documented(path))
                    .map(|path| Target { path, method: None })
            } else {
                operation(document, target)
            };
            let Some(found) = found else {
                bail!(
                    "aliases: {alias:?} stands for {target:?}, which is neither an operationId \
                     nor a path in this service's OpenAPI document"
                );
            };
            if found.path.contains('{') {
                bail!(
                    "aliases: {alias:?} stands for {}, whose path has parameters",
                    found.path
                );
            }
            resolved.insert(alias_path.to_owned(), found);
        }
        Ok(Self(Arc::new(resolved)))
    }
}

/// The documented path and method of operation `operation_id`.
fn operation(document: &Value, operation_id: &str) -> Option<Target> {
    document["paths"]
        .as_object()?
        .iter()
        .find_map(|(path, item)| {
            item.as_object()?.iter().find_map(|(method, operation)| {
                (operation["operationId"] == operation_id).then(|| Target {
                    path: path.clone(),
                    method: method.to_ascii_uppercase().parse().ok(),
                })
            })
        })
}

/// Whether `route` (a path template such as `/customers/{id}`, or `/x/*` for everything below
/// `/x`) serves `path`.
fn route_matches(route: &str, path: &str) -> bool {
    if let Some(prefix) = route.strip_suffix("/*") {
        return path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    }
    let (mut route, mut path) = (route.split('/'), path.split('/'));
    loop {
        match (route.next(), path.next()) {
            (None, None) => return true,
            (Some(template), Some(segment))
                if template == segment || (template.starts_with('{') && !segment.is_empty()) => {}
            _ => return false,
        }
    }
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
    aliases: Arc<HashMap<String, Target>>,
}

impl<E: Endpoint> Endpoint for AliasedEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        // An operation's alias answers that operation's method only (and CORS preflights for
        // it): any other method finds no route there, as on any unknown path.
        if !self.aliases.is_empty()
            && let Some(Target { path, method }) = self.aliases.get(trimmed(req.uri().path()))
            && method
                .as_ref()
                .is_none_or(|method| req.method() == method || req.method() == Method::OPTIONS)
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
        RouteAliases::resolve(
            &[(alias.into(), target.into())],
            &document(),
            &["/metrics", "/auth/forward/*"],
        )
    }

    #[test]
    fn an_alias_names_an_operation_or_a_documented_path() {
        let aliases = resolve("/gettoken/", "obtain_token_pair").unwrap();
        let target = &aliases.0["/gettoken"];
        assert_eq!(target.path, "/auth/token");
        assert_eq!(target.method, Some(Method::POST));
        for target in ["/auth/token/", "/auth/token"] {
            let aliases = resolve("/gettoken/", target).unwrap();
            let target = &aliases.0["/gettoken"];
            assert_eq!(target.path, "/auth/token");
            assert_eq!(target.method, None);
        }
    }

    #[test]
    fn an_alias_that_names_nothing_or_hides_a_served_path_is_refused() {
        for (alias, target) in [
            ("/gettoken/", "obtain_token"),
            ("/gettoken/", "/auth/tokens/"),
            ("/auth/token/", "obtain_token_pair"),
            ("/account/", "get_account"),
            ("/auth/accounts/5/", "obtain_token_pair"),
            ("/metrics/", "obtain_token_pair"),
            ("/auth/forward/customers/", "obtain_token_pair"),
            ("/auth/forward", "obtain_token_pair"),
        ] {
            let err = resolve(alias, target).unwrap_err().to_string();
            assert!(err.contains(&format!("{alias:?}")), "{err}");
        }
    }
}
