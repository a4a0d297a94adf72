use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{Uri, header},
};
use tokio::io::AsyncReadExt;

use crate::error::ApiError;

/// Every path works with and without its trailing slash (Django clients always send one):
/// `/auth/token/` is served as `/auth/token`, which is how poem-openapi spells its routes.
pub struct TrailingSlash;

impl<E: Endpoint> Middleware<E> for TrailingSlash {
    type Output = TrailingSlashEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        TrailingSlashEndpoint(ep)
    }
}

pub struct TrailingSlashEndpoint<E>(E);

impl<E: Endpoint> Endpoint for TrailingSlashEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let path = req.uri().path();
        if path.len() > 1 && path.ends_with('/') {
            let trimmed = path.trim_end_matches('/');
            let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
            let rewritten = match req.uri().query() {
                Some(query) => format!("{trimmed}?{query}"),
                None => trimmed.to_owned(),
            };
            if let Ok(uri) = rewritten.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
        }
        self.0.call(req).await
    }
}

/// Refuses bodies over `max_bytes` with 413, whether or not they declare a Content-Length
/// (a chunked upload is counted as it arrives and never buffered past the limit).
pub struct BodyLimit {
    pub max_bytes: usize,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint {
            inner: ep,
            max_bytes: self.max_bytes,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_bytes as u64) {
            return Err(ApiError::PayloadTooLarge.into());
        }
        if declared != Some(0) {
            let mut buffered = Vec::new();
            req.take_body()
                .into_async_read()
                .take(self.max_bytes as u64 + 1)
                .read_to_end(&mut buffered)
                .await
                .map_err(|err| {
                    ApiError::Malformed(format!("could not read the request body: {err}"))
                })?;
            if buffered.len() > self.max_bytes {
                return Err(ApiError::PayloadTooLarge.into());
            }
            req.set_body(buffered);
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
