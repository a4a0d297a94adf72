use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{Uri, header},
};
use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

use super::server::FREE_BODY_BYTES;
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

/// Refuses a request with more than one `Authorization` header (400): which one a gateway,
/// a verifier and Tessera would each read is anyone's guess.
pub struct SingleAuthorization;

impl<E: Endpoint> Middleware<E> for SingleAuthorization {
    type Output = SingleAuthorizationEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        SingleAuthorizationEndpoint(ep)
    }
}

pub struct SingleAuthorizationEndpoint<E>(E);

impl<E: Endpoint> Endpoint for SingleAuthorizationEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        if req
            .headers()
            .get_all(header::AUTHORIZATION)
            .iter()
            .nth(1)
            .is_some()
        {
            // A gateway's forward-auth check knows 200, 401 and 403 only (DESIGN.md).
            let error = if req.uri().path().starts_with(crate::auth::FORWARD_AUTH_PATH) {
                ApiError::BearerNotValid
            } else {
                ApiError::Malformed("Send at most one Authorization header.".into())
            };
            return Err(error.into());
        }
        self.0.call(req).await
    }
}

/// Refuses bodies over `max_bytes` with 413, whether or not they declare a Content-Length
/// (a chunked upload is counted as it arrives and never buffered past the limit); 408 for a
/// body that takes longer than `read_timeout`; 503 when the bytes buffered across all requests
/// would pass the shared `budget` (each request has [`FREE_BODY_BYTES`] of its own).
pub struct BodyLimit {
    pub max_bytes: usize,
    pub read_timeout: Duration,
    pub budget: Arc<Semaphore>,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint {
            inner: ep,
            max_bytes: self.max_bytes,
            read_timeout: self.read_timeout,
            budget: self.budget.clone(),
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
    read_timeout: Duration,
    budget: Arc<Semaphore>,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if let Some(length) = declared.filter(|length| *length > self.max_bytes as u64) {
            if length <= (self.max_bytes + DISCARD_AFTER_LIMIT) as u64 {
                let deadline = Instant::now() + self.read_timeout;
                let chunks = req.take_body().into_bytes_stream();
                discard_rest(chunks, deadline, DISCARD_AFTER_LIMIT + self.max_bytes).await;
            }
            return Err(ApiError::PayloadTooLarge.into());
        }
        // Held until the answer is made: the handler works on the buffered body.
        let mut drawn: Option<OwnedSemaphorePermit> = None;
        // HTTP/1.1 (the only version served): a request with neither a length nor a transfer
        // coding has no body, so there is nothing to read or time.
        let has_body = declared.is_some_and(|length| length > 0)
            || declared.is_none() && req.headers().contains_key(header::TRANSFER_ENCODING);
        if has_body {
            let mut chunks = req.take_body().into_bytes_stream();
            let mut buffered = Vec::new();
            let deadline = Instant::now() + self.read_timeout;
            while let Some(chunk) = tokio::time::timeout_at(deadline, chunks.next())
                .await
                .map_err(|_| ApiError::BodyTimeout)?
            {
                let chunk = chunk.map_err(|err| {
                    ApiError::Malformed(format!("could not read the request body: {err}"))
                })?;
                let needed = buffered.len() + chunk.len();
                if needed > self.max_bytes {
                    drop(buffered);
                    drop(drawn.take());
                    discard_rest(chunks, deadline, DISCARD_AFTER_LIMIT).await;
                    return Err(ApiError::PayloadTooLarge.into());
                }
                if needed > buffered.capacity() {
                    let capacity = needed.max(buffered.capacity() * 2).min(self.max_bytes);
                    self.draw(&mut drawn, capacity)?;
                    buffered.reserve_exact(capacity - buffered.len());
                }
                buffered.extend_from_slice(&chunk);
            }
            req.set_body(buffered);
        }
        let response = self.inner.call(req).await.map(IntoResponse::into_response);
        drop(drawn);
        response
    }
}

/// How much of an over-long body is read and thrown away after the limit, so that a client
/// still sending it reads the 413 instead of a reset connection (nginx's lingering close).
const DISCARD_AFTER_LIMIT: usize = 4 * 1024 * 1024;

async fn discard_rest<Chunk: AsRef<[u8]>>(
    mut chunks: impl futures_util::Stream<Item = std::io::Result<Chunk>> + Unpin,
    deadline: Instant,
    mut allowance: usize,
) {
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, chunks.next()).await {
        match allowance.checked_sub(chunk.as_ref().len()) {
            Some(left) => allowance = left,
            None => return,
        }
    }
}

impl<E> BodyLimitEndpoint<E> {
    /// Makes what `drawn` holds from the budget cover a buffer of `capacity` bytes.
    fn draw(&self, drawn: &mut Option<OwnedSemaphorePermit>, capacity: usize) -> Result<()> {
        let held = drawn.as_ref().map_or(0, |permit| permit.num_permits());
        let wanted = capacity.saturating_sub(FREE_BODY_BYTES);
        if wanted <= held {
            return Ok(());
        }
        let more = u32::try_from(wanted - held).map_err(|_| ApiError::PayloadTooLarge)?;
        let permit = self
            .budget
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| ApiError::Busy)?;
        match drawn {
            Some(held) => held.merge(permit),
            None => *drawn = Some(permit),
        }
        Ok(())
    }
}
