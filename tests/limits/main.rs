//! Bounds on what an unauthenticated client can make the server hold, measured on the built
//! `tessera` binary running as its own process: its resident memory, its connections, its CPU.
//! Margins are generous; no test depends on a tight race with the clock.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use serde_json::json;
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{Instant, sleep, timeout},
};

/// `tessera auth` on a SQLite file of its own, on a free port.
struct Server {
    child: Child,
    addr: SocketAddr,
    _data: TempDir,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Self {
        Self::start_with_open_file_limit(env, None)
    }

    /// `open_files`: the `ulimit -n` the server runs under.
    fn start_with_open_file_limit(env: &[(&str, &str)], open_files: Option<u32>) -> Self {
        let data = TempDir::new().unwrap();
        let binary = env!("CARGO_BIN_EXE_tessera");
        let mut command = match open_files {
            Some(limit) => {
                let mut shell = Command::new("bash");
                shell.args([
                    "-c",
                    &format!("ulimit -n {limit} && exec \"$0\" auth"),
                    binary,
                ]);
                shell
            }
            None => {
                let mut direct = Command::new(binary);
                direct.arg("auth");
                direct
            }
        };
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("TESSERA_")) {
            command.env_remove(name);
        }
        command
            .env("TESSERA_DATA_DIR", data.path().join("data"))
            .env("TESSERA_AUTH_LISTEN", "127.0.0.1:0")
            .env("TESSERA_KEY_SECRET", "limits-test-secret-of-32-characters!")
            .env("TESSERA_LOG", "warn,tessera::startup=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("starting tessera auth");
        let log = child.stderr.take().unwrap();
        let (found, address) = mpsc::channel();
        // Reads the log to its end, so a chatty server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(log).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("address=").nth(1) {
                    let _ = found.send(addr.trim().to_owned());
                }
                if std::env::var_os("TEST_LOG").is_some() {
                    println!("{line}");
                }
            }
        });
        let addr = address
            .recv_timeout(Duration::from_secs(60))
            .expect("tessera auth said where it listens")
            .parse()
            .expect("a socket address");
        Self {
            child,
            addr,
            _data: data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn proc_field(&self, file: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).unwrap()
    }

    fn rss_mib(&self) -> f64 {
        let status = self.proc_field("status");
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib / 1024.0
    }

    /// User plus system CPU time used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = self.proc_field("stat");
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        // SAFETY: sysconf only reads a configuration value.
        ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }

    async fn served_within(&self, limit: Duration) -> bool {
        let client = reqwest::Client::builder().timeout(limit).build().unwrap();
        matches!(client.get(self.url("/healthz")).send().await, Ok(r) if r.status() == 200)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the server closes the connection (or `limit` passes); returns what arrived.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start(&[]);
    // A write, so that SQLite has made its -wal and -shm files.
    let client = reqwest::Client::new();
    client
        .post(server.url("/auth/token/anonymous/"))
        .send()
        .await
        .unwrap();
    let data = server._data.path().join("data");
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap_or_else(|err| panic!("{name}: {err}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    for file in ["tessera.db", "tessera.db-wal", "tessera.db-shm"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_with_huge_usernames_leave_memory_where_it_was() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let login = |username: String| {
        client
            .post(server.url("/auth/token/"))
            .json(&json!({"username": username, "password": "whatever"}))
            .send()
    };
    for n in 0..3 {
        login(format!("warm{n}")).await.unwrap();
    }
    let before = server.rss_mib();
    // U+FDFA is 3 bytes of UTF-8 and 18 characters after NFKC: just under 1 MiB of body.
    let huge = "\u{FDFA}".repeat(349_000);
    for _ in 0..60 {
        let status = login(huge.clone()).await.unwrap().status();
        assert!(
            status == 400 || status == 429,
            "a 1 MiB username got {status}"
        );
    }
    let after = server.rss_mib();
    eprintln!("60 logins with 1 MiB usernames: RSS {before:.1} -> {after:.1} MiB");
    assert!(
        after - before < 10.0,
        "RSS went from {before:.1} to {after:.1} MiB"
    );
}

/// argon2id fills 19 MiB per hash: under a flood of logins memory grows by what the hashing
/// workers hold, and shrinks back when the flood ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_holds_only_the_hashing_workers_memory_and_gives_it_back() {
    const WORKERS: f64 = 2.0;
    const ARGON2_MIB: f64 = 19.0;
    let server = Server::start(&[
        ("TESSERA_HASH_CONCURRENCY", "2"),
        ("TESSERA_LOGIN_RATE_LIMIT", "off"),
        ("TESSERA_LOGIN_USERNAME_RATE_LIMIT", "off"),
    ]);
    let client = reqwest::Client::new();
    let login = |n: usize| {
        client
            .post(server.url("/auth/token/"))
            .json(&json!({"username": format!("user{n}"), "password": "wrong password"}))
            .send()
    };
    for n in 0..4 {
        assert_eq!(login(n).await.unwrap().status(), 401);
    }
    let idle = server.rss_mib();
    let flood_ends = Instant::now() + Duration::from_secs(4);
    let mut clients = Vec::new();
    for client_number in 0..32 {
        clients.push(async move {
            let mut n = client_number;
            while Instant::now() < flood_ends {
                assert_eq!(login(n).await.unwrap().status(), 401);
                n += 32;
            }
        });
    }
    let flood = futures_util::future::join_all(clients);
    tokio::pin!(flood);
    let mut peak = idle;
    loop {
        tokio::select! {
            _ = &mut flood => break,
            _ = sleep(Duration::from_millis(50)) => peak = peak.max(server.rss_mib()),
        }
    }
    // The last hash's worker gives its area back just after answering.
    sleep(Duration::from_millis(500)).await;
    let after = server.rss_mib();
    eprintln!(
        "32 clients logging in for 4 s: RSS idle {idle:.1}, peak {peak:.1}, after {after:.1} MiB"
    );
    assert!(
        peak <= idle + WORKERS * ARGON2_MIB + 16.0,
        "RSS peaked at {peak:.1} MiB from {idle:.1}"
    );
    assert!(
        after <= idle + 8.0,
        "RSS stayed at {after:.1} MiB after the flood, from {idle:.1}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_stay_within_the_buffer_budget_and_others_are_served() {
    let server = Server::start(&[("TESSERA_BODY_READ_TIMEOUT", "60s")]);
    let before = server.rss_mib();
    let body = vec![b'a'; 1024 * 1024 - 1];
    let mut held = Vec::new();
    for _ in 0..400 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = "POST /auth/token/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                    Content-Length: 1048576\r\n\r\n";
        let body = body.clone();
        held.push(tokio::spawn(async move {
            // Refused connections are closed under the writer: that is expected.
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            sleep(Duration::from_secs(30)).await;
            drop(stream);
        }));
    }
    sleep(Duration::from_secs(8)).await;
    let during = server.rss_mib();
    eprintln!("400 slow 1 MiB bodies: RSS {before:.1} -> {during:.1} MiB");
    assert!(
        during < 100.0,
        "RSS {during:.1} MiB with 400 slow 1 MiB bodies (from {before:.1})"
    );
    assert!(
        server.served_within(Duration::from_secs(1)).await,
        "another client waited over 1 s"
    );
    let login = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .post(server.url("/auth/token/"))
        .json(&json!({"username": "nobody", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        401,
        "a small body still reaches the handler"
    );
    for task in held {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_open_file_limit_are_shed_then_time_out() {
    let server =
        Server::start_with_open_file_limit(&[("TESSERA_HEADER_READ_TIMEOUT", "3s")], Some(256));
    let mut idle = Vec::new();
    for _ in 0..400 {
        if let Ok(stream) = TcpStream::connect(server.addr).await {
            idle.push(stream);
        }
    }
    sleep(Duration::from_millis(500)).await;
    let cpu_before = server.cpu_seconds();
    sleep(Duration::from_secs(5)).await;
    let cpu_spent = server.cpu_seconds() - cpu_before;
    eprintln!("400 idle connections under ulimit -n 256: {cpu_spent:.2} s CPU in 5 s");
    assert!(
        cpu_spent < 1.0,
        "the server used {cpu_spent:.2} s of CPU in 5 s holding idle connections"
    );
    // Every one of them has been answered or closed: shed at once, or timed out.
    let mut shed = 0;
    for stream in &mut idle {
        let answer = read_until_closed(stream, Duration::from_secs(5))
            .await
            .expect("an idle connection was held past the header timeout");
        if answer.starts_with(b"HTTP/1.1 503") {
            shed += 1;
        }
    }
    eprintln!("{shed} of 400 idle connections shed at once, the rest timed out");
    assert!(shed > 0, "none of 400 connections was over the cap");
    assert!(
        server.served_within(Duration::from_secs(1)).await,
        "a new client was not served once the idle connections timed out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let server = Server::start(&[
        ("TESSERA_HEADER_READ_TIMEOUT", "2s"),
        ("TESSERA_IDLE_TIMEOUT", "3s"),
    ]);
    let mut dribblers = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        dribblers.push(tokio::spawn(async move {
            // One header byte every 200 ms: always active, never done.
            let started = Instant::now();
            while stream.write_all(b"X").await.is_ok() {
                sleep(Duration::from_millis(200)).await;
                if started.elapsed() > Duration::from_secs(20) {
                    return false;
                }
            }
            true
        }));
    }
    let mut kept_alive = TcpStream::connect(server.addr).await.unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut kept_alive, Duration::from_secs(15))
        .await
        .expect("an idle kept-alive connection was held past the idle timeout");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    for dribbler in dribblers {
        assert!(
            dribbler.await.unwrap(),
            "a connection sending its headers a byte at a time was held for 20 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_408() {
    let server = Server::start(&[("TESSERA_BODY_READ_TIMEOUT", "2s")]);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /auth/token/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\":",
        )
        .await
        .unwrap();
    let answer = timeout(
        Duration::from_secs(15),
        read_until_closed(&mut stream, Duration::from_secs(15)),
    )
    .await
    .unwrap()
    .expect("the connection was closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
}

/// Every operation's query is parsed into pairs before the handler runs (poem-openapi's
/// extractors read them). What bounds it is hyper's: a URI of 64 KiB or more gets 414 (and a
/// head past the connection's 64 KiB buffer 431) before any of it is parsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_is_parsed_up_to_64_kib_and_refused_past_it() {
    let server = Server::start(&[]);
    for (query_bytes, status) in [(60 * 1024, "200"), (70 * 1024, "414")] {
        let query = "a=b&".repeat(query_bytes / 4);
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(
                format!("GET /healthz?{query} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(15))
            .await
            .expect("the connection was not closed");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{query_bytes} bytes of query: {answer}"
        );
    }
}
