//! What the request log adds to each request: its label, its line and its metrics, around an
//! endpoint that does nothing. `cargo bench --bench request_log`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use poem::{Endpoint, EndpointExt, Request, endpoint::make_sync, http::Uri};
use tessera::{
    http::RequestLog,
    metrics::Metrics,
    telemetry::{self, LogFormat},
};

fn request_log(c: &mut Criterion) {
    telemetry::init("info", LogFormat::Text, false, std::io::sink);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let metrics = Arc::new(Metrics::new(["/healthz"]));
    let logged = make_sync(|_| "ok").with(RequestLog { metrics });
    c.bench_function("a request through the request log", |b| {
        b.iter(|| {
            let request = Request::builder()
                .uri(Uri::from_static("/healthz"))
                .finish();
            runtime.block_on(logged.call(request)).unwrap()
        })
    });
}

criterion_group!(benches, request_log);
criterion_main!(benches);
