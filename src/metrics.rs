//! Prometheus metrics in the text exposition format, written by hand: a few counters and one
//! latency histogram need no client library. Route labels are the API's path templates
//! (`/customers/{id}`), so a client probing random paths cannot grow the series.

use poem::http::Method;
use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// A request's method as a label: the standard ones by name, any other as `OTHER`, since a
/// client may invent a new method per request.
/// The index of the first of `templates` that `path` (without slashes at either end) belongs
/// to; `templates.len()` if none.
fn scan(templates: &[(String, Vec<Option<String>>)], path: &str) -> usize {
    templates
        .iter()
        .position(|(_, template)| {
            // A template ending in `*` (Envoy's ext_authz under `/auth/forward/`) takes any
            // path below it, so the original request's ids do not become labels.
            let open_ended = matches!(template.last(), Some(Some(last)) if last == "*");
            let fixed = &template[..template.len() - usize::from(open_ended)];
            let mut segments = path.split('/');
            fixed.iter().all(|want| {
                segments
                    .next()
                    .is_some_and(|got| want.as_deref().is_none_or(|want| want == got))
            }) && (open_ended || segments.next().is_none())
        })
        .unwrap_or(templates.len())
}

fn method_label(method: &Method) -> Method {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if STANDARD.contains(method) {
        method.clone()
    } else {
        Method::from_bytes(b"OTHER").unwrap_or(Method::GET)
    }
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    /// Per bucket (not cumulative); rendered cumulative.
    buckets: [u64; BUCKETS.len()],
}

/// Counters of what the token service did, for dashboards and alerts.
#[derive(Default)]
pub struct TokenCounters {
    pub issued_login: AtomicU64,
    pub issued_register: AtomicU64,
    pub issued_anonymous: AtomicU64,
    pub issued_client_credentials: AtomicU64,
    pub refreshed: AtomicU64,
    pub revoked: AtomicU64,
    pub reuse_detected: AtomicU64,
    pub login_failures: AtomicU64,
    pub client_auth_failures: AtomicU64,
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub struct Metrics {
    /// Path templates of the service's API, segment by segment (`None` matches any segment).
    templates: Vec<(String, Vec<Option<String>>)>,
    /// The index each template without parameters resolves to, by its path without slashes
    /// at either end: most requests find their route in one lookup instead of a scan.
    fixed: HashMap<String, usize>,
    /// By (template index, `templates.len()` for unmatched; method; status): once a series
    /// exists, counting a request allocates nothing.
    requests: Mutex<BTreeMap<(usize, Method, u16), Series>>,
    pub tokens: TokenCounters,
}

impl Metrics {
    /// `templates` are OpenAPI paths such as `/customers/{id}`.
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a str>) -> Self {
        let templates: Vec<(String, Vec<Option<String>>)> = templates
            .into_iter()
            .map(|template| {
                let segments = template
                    .trim_matches('/')
                    .split('/')
                    .map(|segment| (!segment.starts_with('{')).then(|| segment.to_owned()))
                    .collect();
                (template.to_owned(), segments)
            })
            .collect();
        let fixed = (templates.iter())
            .filter(|(_, segments)| {
                segments
                    .iter()
                    .all(|s| s.as_ref().is_some_and(|s| s != "*"))
            })
            .map(|(template, _)| {
                let path = template.trim_matches('/');
                (path.to_owned(), scan(&templates, path))
            })
            .collect();
        Self {
            templates,
            fixed,
            requests: Mutex::new(BTreeMap::new()),
            tokens: TokenCounters::default(),
        }
    }

    /// The index of the template `path` belongs to; `templates.len()` if none.
    fn route_index(&self, path: &str) -> usize {
        let path = path.trim_matches('/');
        match self.fixed.get(path) {
            Some(&index) => index,
            None => scan(&self.templates, path),
        }
    }

    fn route_name(&self, index: usize) -> &str {
        self.templates
            .get(index)
            .map_or("unmatched", |(template, _)| template.as_str())
    }

    /// The template `path` belongs to, or `unmatched`.
    pub fn route_of(&self, path: &str) -> &str {
        self.route_name(self.route_index(path))
    }

    pub fn observe(&self, path: &str, method: &Method, status: u16, elapsed: Duration) {
        let route = self.route_index(path);
        let seconds = elapsed.as_secs_f64();
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let series = requests
            .entry((route, method_label(method), status))
            .or_default();
        series.count += 1;
        series.sum_seconds += seconds;
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            series.buckets[bucket] += 1;
        }
    }

    /// The exposition text; `extra` appends a service's own metrics.
    pub fn render(&self, extra: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP tessera_http_requests_total Requests answered, by route template, method and status.\n");
        out.push_str("# TYPE tessera_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((route, method, status), series) in requests.iter() {
            let route = self.route_name(*route);
            let _ = writeln!(
                out,
                "tessera_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                series.count
            );
        }
        out.push_str("# HELP tessera_http_request_duration_seconds Time to answer, by route template, method and status.\n");
        out.push_str("# TYPE tessera_http_request_duration_seconds histogram\n");
        for ((route, method, status), series) in requests.iter() {
            let route = self.route_name(*route);
            let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(series.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                series.count
            );
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_sum{{{labels}}} {}",
                series.sum_seconds
            );
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_count{{{labels}}} {}",
                series.count
            );
        }
        for (name, help, value) in extra {
            let family = name.split('{').next().unwrap_or(name);
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            }
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }

    /// The token service's own counters, as `render` takes them.
    pub fn token_lines(&self) -> Vec<(&'static str, &'static str, u64)> {
        let t = &self.tokens;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        vec![
            (
                "tessera_tokens_issued_total{via=\"login\"}",
                "Token pairs issued, by how.",
                get(&t.issued_login),
            ),
            (
                "tessera_tokens_issued_total{via=\"register\"}",
                "",
                get(&t.issued_register),
            ),
            (
                "tessera_tokens_issued_total{via=\"anonymous\"}",
                "",
                get(&t.issued_anonymous),
            ),
            (
                "tessera_tokens_issued_total{via=\"client_credentials\"}",
                "",
                get(&t.issued_client_credentials),
            ),
            (
                "tessera_tokens_refreshed_total",
                "Successful refreshes.",
                get(&t.refreshed),
            ),
            (
                "tessera_sessions_revoked_total",
                "Sessions (refresh families) ended by a logout, logout-all, revocation or account change.",
                get(&t.revoked),
            ),
            (
                "tessera_refresh_reuse_detected_total",
                "Spent refresh tokens presented again; each revoked its family.",
                get(&t.reuse_detected),
            ),
            (
                "tessera_login_failures_total",
                "Logins refused for wrong credentials or an inactive account.",
                get(&t.login_failures),
            ),
            (
                "tessera_client_auth_failures_total",
                "Client authentications refused at the token endpoint or introspection.",
                get(&t.client_auth_failures),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_labelled_by_their_template() {
        let metrics = Metrics::new(["/customers", "/customers/{id}", "/auth/token"]);
        assert_eq!(metrics.route_of("/customers/42/"), "/customers/{id}");
        assert_eq!(metrics.route_of("/customers"), "/customers");
        assert_eq!(metrics.route_of("/auth/token/"), "/auth/token");
        assert_eq!(metrics.route_of("/wp-admin/x.php"), "unmatched");
        assert_eq!(metrics.route_of("/customers/1/2"), "unmatched");
    }

    #[test]
    fn an_open_ended_template_takes_every_path_below_it() {
        let metrics = Metrics::new(["/auth/forward", "/auth/forward/*"]);
        assert_eq!(metrics.route_of("/auth/forward/"), "/auth/forward");
        assert_eq!(
            metrics.route_of("/auth/forward/customers/1/"),
            "/auth/forward/*"
        );
        assert_eq!(metrics.route_of("/auth/forwarded/x"), "unmatched");
    }

    #[test]
    fn invented_methods_share_one_series() {
        let metrics = Metrics::new(["/healthz"]);
        for n in 0..100 {
            let method = Method::from_bytes(format!("FOO{n}").as_bytes()).unwrap();
            metrics.observe("/healthz", &method, 405, Duration::from_millis(1));
        }
        let series = metrics.requests.lock().unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series.keys().next().unwrap().1.as_str(), "OTHER");
    }

    #[test]
    fn histograms_are_cumulative() {
        let metrics = Metrics::new(["/healthz"]);
        metrics.observe("/healthz", &Method::GET, 200, Duration::from_micros(500));
        metrics.observe("/healthz", &Method::GET, 200, Duration::from_millis(30));
        let text = metrics.render(&[]);
        assert!(
            text.contains(
                r#"tessera_http_requests_total{route="/healthz",method="GET",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"le="0.001"} 1"#)
                && text.contains(r#"le="0.05"} 2"#)
                && text.contains(r#"le="+Inf"} 2"#)
        );
    }
}
