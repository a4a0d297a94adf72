use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderName, HeaderValue},
};

use crate::{metrics::Metrics, telemetry::RequestLabel};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One label per request ([`RequestLabel`]: id, method, path), so every log line of the
/// request names it; one line when it ends (status, milliseconds). The id comes from
/// `X-Request-Id` when a proxy set a sane one, else is generated, and is echoed in the
/// response either way.
/// Each request is also counted and timed in [`Metrics`].
pub struct RequestLog {
    pub metrics: Arc<Metrics>,
}

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestLogEndpoint {
            inner: ep,
            metrics: self.metrics.clone(),
        }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
    metrics: Arc<Metrics>,
}

/// Up to 128 visible ASCII characters: anything else is replaced, not logged.
fn accepted_id(req: &Request) -> Option<String> {
    let raw = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    (!raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| raw.to_owned())
}

/// 32 hex digits: 64 random bits drawn once per process (so two instances' ids differ) and a
/// counter (so this process's never repeat). A random UUID per request cost a `getrandom`
/// system call; an id names a request in the logs, it guards nothing.
fn new_request_id() -> String {
    static PROCESS: std::sync::LazyLock<u64> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&PROCESS.to_be_bytes());
    bytes[8..].copy_from_slice(&count.to_be_bytes());
    crate::hex::encode(&bytes)
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let id = accepted_id(&req).unwrap_or_else(new_request_id);
        let echoed = HeaderValue::from_str(&id).ok();
        let label = RequestLabel {
            id,
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
        };
        let started = Instant::now();
        let mut response = label
            .scope(async {
                let response = match self.inner.call(req).await {
                    Ok(output) => output.into_response(),
                    Err(err) => err.into_response(),
                };
                let elapsed = started.elapsed();
                let status = response.status().as_u16();
                RequestLabel::with_current(|label| {
                    self.metrics
                        .observe(&label.path, &label.method, status, elapsed);
                });
                tracing::info!(
                    status,
                    ms = elapsed.as_micros() as f64 / 1000.0,
                    "request done"
                );
                response
            })
            .await;
        if let Some(value) = echoed {
            response.headers_mut().insert(REQUEST_ID.clone(), value);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_do_not_repeat() {
        let (first, second) = (super::new_request_id(), super::new_request_id());
        assert_ne!(first, second);
        assert_eq!(first[..16], second[..16], "one process, one random half");
        assert!(first.len() == 32 && first.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
