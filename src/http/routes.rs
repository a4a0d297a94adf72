//! A service's routes: its OpenAPI operations, and beside them the few it does not document
//! (the document itself, Swagger UI, metrics, ext_authz).

use poem::{Endpoint, IntoEndpoint, Request, Response, Result, Route, endpoint::BoxEndpoint};

/// Sends a request straight to the API unless its path is one of the undocumented routes.
/// poem's `Route::new().at(..).nest("/", api)` did the same, but rebuilt every request's URI
/// and stored a path prefix in its extensions on the way in: about 5% of the CPU a trivial
/// request costs, paid by every request to every operation.
pub struct ServiceRoutes {
    api: BoxEndpoint<'static>,
    undocumented: Route,
    undocumented_paths: Vec<&'static str>,
}

impl ServiceRoutes {
    /// `api` is what poem-openapi's `OpenApiService` turns into.
    pub fn new(api: BoxEndpoint<'static>) -> Self {
        Self {
            api,
            undocumented: Route::new(),
            undocumented_paths: Vec::new(),
        }
    }

    /// Serves `path` with `endpoint` rather than the API; `/x/*` covers everything below `/x`
    /// but not `/x` itself, as in poem's `Route`. No other pattern: the dispatch would not
    /// recognise it and would send its requests to the API.
    pub fn at<E>(mut self, path: &'static str, endpoint: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        let fixed = path.strip_suffix("/*").unwrap_or(path);
        assert!(
            !fixed.contains([':', '<', '*', '{']),
            "{path}: only fixed paths and a final /* are dispatched"
        );
        self.undocumented = self.undocumented.at(path, endpoint);
        self.undocumented_paths.push(path);
        self
    }
}

impl Endpoint for ServiceRoutes {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let path = req.uri().path();
        if self
            .undocumented_paths
            .iter()
            .any(|route| serves(route, path))
        {
            self.undocumented.call(req).await
        } else {
            self.api.call(req).await
        }
    }
}

fn serves(route: &str, path: &str) -> bool {
    match route.strip_suffix('*') {
        Some(below) => path.starts_with(below),
        None => route == path,
    }
}

#[cfg(test)]
mod tests {
    use super::serves;

    #[test]
    fn a_wildcard_route_serves_what_is_below_it_only() {
        assert!(serves("/auth/forward/*", "/auth/forward/anything"));
        assert!(!serves("/auth/forward/*", "/auth/forward"));
        assert!(!serves("/auth/forward/*", "/auth/forwarder"));
        assert!(serves("/docs", "/docs"));
        assert!(!serves("/docs", "/docs/x"));
    }
}
