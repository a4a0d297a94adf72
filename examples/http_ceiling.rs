//! The machine's ceiling for a trivial request: hyper's HTTP/1.1 server on the same tokio
//! runtime answering every request with `/healthz`'s body, with no routing, middleware or
//! logs. `scripts/bench-requests.sh` loads it beside Tessera, so the trivial endpoint's figure
//! reads as a share of what this machine can do at all.
//!   cargo run --release --example http_ceiling -- 127.0.0.1:7199

use std::convert::Infallible;

use bytes::Bytes;
use hyper::{Request, Response, body::Incoming, header, service::service_fn};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7199".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    loop {
        // A failed accept (a client gone, no file descriptors left) pauses the loop, not the run.
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let answer = service_fn(|_: Request<Incoming>| async {
                let mut response = Response::new(http_body_util::Full::new(Bytes::from_static(
                    br#"{"status":"ok"}"#,
                )));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json; charset=utf-8"),
                );
                Ok::<_, Infallible>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), answer)
                .await;
        });
    }
}
