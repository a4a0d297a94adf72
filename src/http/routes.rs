//! A service's routes: its OpenAPI operations, and beside them the few it does not document
//! (the document itself, Swagger UI, metrics, ext_authz).

use std::collections::{HashMap, HashSet};

use poem::{
    Endpoint, IntoEndpoint, Request, Response, Result, Route, RouteMethod, endpoint::BoxEndpoint,
    http::Method,
};
use poem_openapi::{__private::UrlQuery, OpenApi};

use super::Readiness;

/// Sends a request to its operation, or to one of the undocumented routes, with the service's
/// state attached. This is what poem-openapi's `OpenApiService::into_endpoint` builds, less
/// what every request paid for and nothing of ours needs: the outer boxed endpoint, its
/// `MapToResponse` and `Before` layers, and for a fixed path a `Route` that stores the matched
/// pattern in the request's and the response's extensions. Operations with a fixed path are
/// found in one map lookup; the few with parameters go through poem's `Route`, which extracts
/// them. No cookie jar is set up: poem-openapi's `cookie` feature is off (turning it on needs
/// one here, or its cookie extractors panic).
pub struct ServiceRoutes<S> {
    fixed: HashMap<String, RouteMethod>,
    templated: Route,
    undocumented: Route,
    undocumented_paths: Vec<&'static str>,
    state: S,
    readiness: Readiness,
}

impl<S: Clone + Send + Sync + 'static> ServiceRoutes<S> {
    /// `api`'s operations, whose handlers find `state` and `readiness` as `Data`.
    pub fn new<T: OpenApi>(api: T, state: S, readiness: Readiness) -> Self {
        // As poem-openapi checks before serving: a generated client names its methods by them.
        let mut operation_ids = HashSet::new();
        for operation in T::meta()
            .into_iter()
            .flat_map(|api| api.paths)
            .flat_map(|path| path.operations)
        {
            if let Some(id) = operation.operation_id {
                assert!(operation_ids.insert(id), "duplicate operation id: {id}");
            }
        }
        let mut operations = HashMap::<String, HashMap<Method, BoxEndpoint<'static>>>::new();
        api.add_routes(&mut operations);
        let mut fixed = HashMap::new();
        let mut templated = Route::new();
        for (path, methods) in operations {
            let methods = methods
                .into_iter()
                .fold(RouteMethod::new(), |route, (method, endpoint)| {
                    route.method(method, endpoint)
                });
            if path.contains([':', '*', '<']) {
                templated = templated.at(path, methods);
            } else {
                fixed.insert(path, methods);
            }
        }
        Self {
            fixed,
            templated,
            undocumented: Route::new(),
            undocumented_paths: Vec::new(),
            state,
            readiness,
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

impl<S: Clone + Send + Sync + 'static> Endpoint for ServiceRoutes<S> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        req.set_data(self.state.clone());
        req.set_data(self.readiness.clone());
        let path = req.uri().path();
        if self
            .undocumented_paths
            .iter()
            .any(|route| serves(route, path))
        {
            return self.undocumented.call(req).await;
        }
        // poem-openapi's `Query` parameters and every security scheme (our bearer auth) unwrap
        // the query from here, as `into_endpoint` left it: a request without it would panic.
        let query: Vec<(String, String)> = req.params().unwrap_or_default();
        req.set_data(UrlQuery(query));
        match self.fixed.get(req.uri().path()) {
            Some(methods) => methods.call(req).await,
            None => self.templated.call(req).await,
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
