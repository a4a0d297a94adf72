//! The accept loop and connections in front of both services' endpoints (HTTP/1.1). poem's own server
//! has no header timeout, no connection cap, and retries a failing `accept` (EMFILE) at once,
//! so one client holding idle or slow connections could take the service down; this one
//! bounds each of those.

use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use hyper::{body::Incoming, service::service_fn};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown};
use poem::{
    Addr, Endpoint, EndpointExt,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
    time::Instant,
};

/// How long a client may take over each part of its connection, and how many it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections per service; past it the newest is answered 503 and closed.
    pub max_connections: usize,
    /// From a connection's first byte (or its opening) to the end of a request's headers.
    pub header_read_timeout: Duration,
    /// To receive a whole request body, once its headers are in.
    pub body_read_timeout: Duration,
    /// A kept-alive connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// Request bodies buffered at once, across all connections, beyond the first
    /// [`FREE_BODY_BYTES`] of each; a body that finds none left gets 503.
    pub max_buffered_body_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_buffered_body_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Each request may buffer this much body without drawing on the shared budget: every body
/// this API expects is smaller, so a flood of large bodies never starves ordinary requests.
pub const FREE_BODY_BYTES: usize = 16 * 1024;

/// File descriptors kept back from connections: database pools, Redis, the listeners, logs.
const RESERVED_FDS: u64 = 64;

/// The largest a connection's read buffer grows (headers over it get 431): hyper's default
/// is 400 KiB a connection.
const MAX_CONNECTION_BUFFER: usize = 64 * 1024;

/// The answer to a connection over the cap, written without waiting before it is closed.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
Content-Type: application/json\r\nContent-Length: 86\r\nConnection: close\r\n\r\n\
{\"code\":\"service_unavailable\",\"detail\":\"Too many connections; try again shortly.\"}";

/// Raises the open-file limit to its hard maximum (as Go's runtime does), and says how many
/// connections each of `services` can hold with what remains, at most `wanted`.
pub fn fit_connections_to_open_file_limit(
    wanted: usize,
    services: u64,
    also_reserved: u64,
) -> usize {
    let available =
        raise_open_file_limit().saturating_sub(RESERVED_FDS + also_reserved) / services.max(1);
    let fitted = wanted
        .min(usize::try_from(available).unwrap_or(usize::MAX))
        .max(1);
    if fitted < wanted {
        tracing::warn!(
            max_connections = fitted,
            wanted,
            "max_connections lowered to fit the open-file limit (ulimit -n)"
        );
    }
    fitted
}

fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// Serves `endpoint` on `listener` until `shutdown` completes, then stops accepting, lets
/// requests in flight finish for up to `drain_deadline`, and closes what is left.
pub async fn serve(
    listener: TcpListener,
    endpoint: impl Endpoint + 'static,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_deadline: Duration,
) -> io::Result<()> {
    let endpoint = Arc::new(endpoint.map_to_response());
    let local = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let (force_close, forced) = watch::channel(false);
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff.reset();
                    accepted
                }
                Err(err) => {
                    if let Some(delay) = backoff.after(&err) {
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // The newest is shed: those already connected are mid-conversation.
            let _ = stream.try_write(OVER_CAPACITY);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new(limits));
        let service = {
            let (endpoint, activity) = (endpoint.clone(), activity.clone());
            service_fn(move |request: hyper::Request<Incoming>| {
                let in_flight = activity.request_started();
                let endpoint = endpoint.clone();
                async move {
                    let request = poem::Request::from((
                        request,
                        LocalAddr(Addr::SocketAddr(local)),
                        RemoteAddr(Addr::SocketAddr(peer)),
                        Scheme::HTTP,
                    ));
                    let response = endpoint.get_response(request).await;
                    drop(in_flight);
                    Ok::<_, Infallible>(hyper::Response::from(response))
                }
            })
        };
        // HTTP/1.1 only: every limit here is per request, and cleartext HTTP/2 would let one
        // connection hold a hundred requests' headers and bodies at once. Gateways speak
        // HTTP/1.1 to their upstreams (nginx, Envoy's ext_authz, Traefik), and TLS, where
        // browsers negotiate HTTP/2, ends at the proxy.
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.max_buf_size(MAX_CONNECTION_BUFFER);
        let io = TokioIo::new(WatchedStream {
            inner: stream,
            activity: activity.clone(),
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        let mut forced = forced.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = connection => {}
                () = activity.expired() => {}
                _ = forced.wait_for(|forced| *forced) => {}
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at the drain deadline were cut off");
        let _ = force_close.send(true);
    }
    Ok(())
}

/// Go's net/http policy: errors that concern one connection are retried at once; others
/// (out of file descriptors or memory) back off from 5 ms to 1 s, so the loop never spins.
#[derive(Default)]
struct AcceptBackoff {
    delay: Option<Duration>,
}

impl AcceptBackoff {
    fn reset(&mut self) {
        self.delay = None;
    }

    /// How long to wait before accepting again after `err`; `None`: at once.
    fn after(&mut self, err: &io::Error) -> Option<Duration> {
        if matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        ) {
            return None;
        }
        let delay = self.delay.map_or(Duration::from_millis(5), |delay| {
            (delay * 2).min(Duration::from_secs(1))
        });
        if self.delay.is_none() {
            tracing::warn!(error = %err, "cannot accept connections; backing off");
        }
        self.delay = Some(delay);
        Some(delay)
    }
}

/// Where a connection is in its conversation, and so which timeout applies to it.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Between requests: waiting for the first byte of the next one.
    Idle { since: Instant },
    /// Some of a request has arrived but not all its headers (or the connection is new).
    ReadingHead { since: Instant },
    /// Requests are being answered; their bodies are timed by the body reader.
    Busy { in_flight: usize },
}

struct Activity {
    limits: ConnectionLimits,
    phase: Mutex<Phase>,
}

impl Activity {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            phase: Mutex::new(Phase::ReadingHead {
                since: Instant::now(),
            }),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match *self.phase.lock().unwrap_or_else(|p| p.into_inner()) {
            Phase::Idle { since } => Some(since + self.limits.idle_timeout),
            Phase::ReadingHead { since } => Some(since + self.limits.header_read_timeout),
            Phase::Busy { .. } => None,
        }
    }

    /// Moves to the phase `next` gives, if it gives one.
    fn update(&self, next: impl FnOnce(Phase) -> Option<Phase>) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        let Some(next) = next(*phase) else { return };
        *phase = next;
    }

    fn bytes_arrived(&self) {
        self.update(|phase| match phase {
            Phase::Idle { .. } => Some(Phase::ReadingHead {
                since: Instant::now(),
            }),
            _ => None,
        });
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.update(|phase| {
            Some(Phase::Busy {
                in_flight: match phase {
                    Phase::Busy { in_flight } => in_flight + 1,
                    _ => 1,
                },
            })
        });
        InFlight(self.clone())
    }

    /// Completes when the connection has overstayed the timeout of its phase. A request
    /// changes phase three times, and waking this watch at each change cost an eighth of a
    /// small request; instead it looks again at least once per shortest timeout, so it sees a
    /// phase before that phase can expire, and then sleeps until its deadline.
    async fn expired(&self) {
        let look_every = (self.limits.header_read_timeout)
            .min(self.limits.idle_timeout)
            .max(Duration::from_millis(1));
        loop {
            let now = Instant::now();
            let next_look = now + look_every;
            match self.deadline() {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => tokio::time::sleep_until(deadline.min(next_look)).await,
                None => tokio::time::sleep_until(next_look).await,
            }
        }
    }
}

/// One request being answered; dropping it (answered, or cancelled by a closed connection)
/// starts the idle clock once no other request is in flight.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|phase| {
            Some(match phase {
                Phase::Busy { in_flight } if in_flight > 1 => Phase::Busy {
                    in_flight: in_flight - 1,
                },
                _ => Phase::Idle {
                    since: Instant::now(),
                },
            })
        });
    }
}

/// A TCP stream that tells its connection's [`Activity`] when bytes arrive.
struct WatchedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new connection's activity, and its timeout watch running.
    fn watched(
        header_read_timeout: Duration,
        idle_timeout: Duration,
    ) -> (Arc<Activity>, tokio::task::JoinHandle<()>) {
        let activity = Arc::new(Activity::new(ConnectionLimits {
            header_read_timeout,
            idle_timeout,
            ..ConnectionLimits::default()
        }));
        let watch = tokio::spawn({
            let activity = activity.clone();
            async move { activity.expired().await }
        });
        (activity, watch)
    }

    /// The watch is not told of phase changes: a head that starts while it sleeps on the
    /// (longer) idle deadline must still be cut at the header timeout, not at the idle one.
    #[tokio::test]
    async fn a_head_begun_while_the_watch_sleeps_is_timed_from_its_start() {
        let (activity, watch) = watched(Duration::from_millis(300), Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(50)).await;
        activity.bytes_arrived();
        drop(activity.request_started()); // answered: idle from here, for up to 3 s
        tokio::time::sleep(Duration::from_millis(400)).await;
        let head_began = Instant::now();
        activity.bytes_arrived(); // a head begins, and stalls
        watch.await.unwrap();
        let cut_after = head_began.elapsed();
        assert!(
            cut_after >= Duration::from_millis(300) && cut_after < Duration::from_millis(1500),
            "cut {cut_after:?} after the head began; the header timeout is 300 ms"
        );
    }

    /// ...and a connection that keeps sending requests within the idle timeout stays open,
    /// however many phases it goes through between two looks.
    #[tokio::test]
    async fn a_connection_kept_busy_within_its_timeouts_stays_open() {
        let (activity, watch) = watched(Duration::from_millis(300), Duration::from_millis(1000));
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            activity.bytes_arrived();
            drop(activity.request_started());
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert!(!watch.is_finished(), "closed while within its idle timeout");
        }
        let last_answer = Instant::now();
        watch.await.unwrap();
        assert!(last_answer.elapsed() >= Duration::from_millis(350));
    }
}
