//! Connections and files that must not take the server down: slow or silent HTTP clients
//! (header, idle and request timeouts, the connection cap), and connector settings naming
//! files (the simulated connector's `logFile`: inside the data dir, regular files only,
//! never read or written on the async runtime).

use crate::admin_helpers::*;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Raises this process's soft open-file limit to `want` (within the hard limit): the test
/// holds both ends of every connection.
fn ensure_fd_limit(want: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|c| c < want) {
        let mut raised = limit;
        raised.current = Some(limit.maximum.map_or(want, |m| m.min(want)));
        setrlimit(Resource::Nofile, raised).expect("raise the open-file limit");
    }
    let now = getrlimit(Resource::Nofile).current;
    assert!(
        now.is_none_or(|c| c >= want),
        "this test needs {want} open files, the hard limit allows {now:?}"
    );
}

/// `GET /health/live` on a new connection, with plain blocking sockets (so it works even if
/// the server's runtime were frozen); returns how long the answer took, or why it failed.
fn live_on_new_connection(host: &str, within: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no answer within {within:?}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&out);
    if !text.starts_with("HTTP/1.1 200") || !text.contains("UP") {
        return Err(format!("unexpected answer: {text}"));
    }
    Ok(started.elapsed())
}

/// Whether the server has closed (or refused) a connection we hold: a non-blocking read
/// sees the end of the stream, a reset, or a refusal's 503.
fn closed_by_server(mut s: &std::net::TcpStream) -> bool {
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// Reads until the server closes the connection (or resets it), within `deadline`.
async fn read_until_closed(s: &mut TcpStream, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => {
                return Err(format!(
                    "still open at the deadline; read so far: {}",
                    String::from_utf8_lossy(&out)
                ))
            }
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_400_slow_connections_leave_the_server_answering() {
    ensure_fd_limit(4_096);
    // A cap well below 400, as when file descriptors are scarce.
    let app = spawn_app_with(Options {
        env: env(&[
            ("PASSBROKER_HTTP_MAX_CONNECTIONS", "100"),
            ("PASSBROKER_HTTP_HEADER_TIMEOUT_SECS", "60"),
        ]),
        ..Default::default()
    })
    .await;
    let host = host(&app);
    let mut slow = Vec::new();
    for _ in 0..400 {
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        // Headers that never end.
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .unwrap();
        s.set_nonblocking(true).unwrap();
        slow.push(s);
    }
    let mut took = Vec::new();
    for _ in 0..3 {
        let host = host.clone();
        let t = tokio::task::spawn_blocking(move || {
            live_on_new_connection(&host, Duration::from_secs(1))
        })
        .await
        .unwrap();
        took.push(t.expect("/health/live answers beside 400 slow connections"));
    }
    assert!(took.iter().all(|t| *t < Duration::from_secs(1)), "{took:?}");
    // The server holds no more than its cap (plus the few being displaced): the rest of the
    // slow connections were closed, not left to eat descriptors.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = slow.iter().filter(|s| !closed_by_server(s)).count();
        if open <= 100 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} slow connections are still held open by the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(rss_kb < 200 * 1024, "RSS {rss_kb} kB");
}

#[tokio::test]
async fn hardening_a_new_connection_at_the_cap_displaces_the_longest_waiting_one() {
    let app = spawn_app_with(Options {
        env: env(&[
            ("PASSBROKER_HTTP_MAX_CONNECTIONS", "8"),
            ("PASSBROKER_HTTP_HEADER_TIMEOUT_SECS", "60"),
        ]),
        ..Default::default()
    })
    .await;
    let host = host(&app);
    let connect = || {
        let s = std::net::TcpStream::connect(&host).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    };
    let old: Vec<_> = (0..8).map(|_| connect()).collect();
    // Three more silent ones, then a real client: each displaces one of the oldest.
    let new: Vec<_> = (0..3).map(|_| connect()).collect();
    let host2 = host.clone();
    tokio::task::spawn_blocking(move || live_on_new_connection(&host2, Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("answered at the cap");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let closed = old.iter().filter(|s| closed_by_server(s)).count();
        if closed == 4 {
            break;
        }
        assert!(
            closed < 4 && Instant::now() < deadline,
            "{closed} of the oldest connections were closed to make room for 4"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        new.iter().all(|s| !closed_by_server(s)),
        "the newest connections are kept"
    );
}

#[tokio::test]
async fn hardening_busy_connections_at_the_cap_shed_new_ones_and_time_out() {
    let app = spawn_app_with(Options {
        env: env(&[
            ("PASSBROKER_HTTP_MAX_CONNECTIONS", "4"),
            ("PASSBROKER_HTTP_HEADER_TIMEOUT_SECS", "60"),
            ("PASSBROKER_MAX_PREFER_WAIT_SECS", "1"),
            ("PASSBROKER_HTTP_REQUEST_TIMEOUT_SECS", "2"),
        ]),
        ..Default::default()
    })
    .await;
    let host = host(&app);
    // Four requests in flight: headers sent, the body announced but never sent. The
    // interim 100 Continue proves the handler is reading the body.
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(
            b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("100 Continue")
            .unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        busy.push(s);
    }
    let started = Instant::now();
    // A fifth connection finds no room: 503 in ISC's shape, and closed (before it could
    // even send its request).
    let mut s = TcpStream::connect(&host).await.unwrap();
    let out = read_until_closed(&mut s, Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["detailCode"], "503 Service Unavailable");
    // The stalled uploads end with the request timeout: 503, connection closed.
    for s in &mut busy {
        let out = read_until_closed(s, Instant::now() + Duration::from_secs(10))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("HTTP/1.1 503"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(1_500));
    let r = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn hardening_slow_headers_are_closed_after_the_header_timeout() {
    let app = spawn_app_with(Options {
        env: env(&[
            ("PASSBROKER_HTTP_HEADER_TIMEOUT_SECS", "1"),
            ("PASSBROKER_HTTP_IDLE_TIMEOUT_SECS", "30"),
        ]),
        ..Default::default()
    })
    .await;
    let host = host(&app);
    // A silent connection.
    let started = Instant::now();
    let mut silent = TcpStream::connect(&host).await.unwrap();
    read_until_closed(&mut silent, started + Duration::from_secs(10))
        .await
        .expect("a silent connection is closed");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A slowloris: a header byte every 100 ms, never finishing.
    let started = Instant::now();
    let mut s = TcpStream::connect(&host).await.unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let deadline = started + Duration::from_secs(10);
    let mut buf = [0u8; 256];
    let closed_after = loop {
        if s.write_all(b"x").await.is_err() {
            break started.elapsed();
        }
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            Ok(Ok(n)) => panic!(
                "an answer to unfinished headers: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
        }
        assert!(
            Instant::now() < deadline,
            "a slow-header connection is still open after 10 s"
        );
    };
    assert!(
        closed_after >= Duration::from_millis(900),
        "{closed_after:?}"
    );
}

#[tokio::test]
async fn hardening_idle_keep_alive_connections_are_closed() {
    let app = spawn_app_with(Options {
        env: env(&[
            ("PASSBROKER_HTTP_HEADER_TIMEOUT_SECS", "30"),
            ("PASSBROKER_HTTP_IDLE_TIMEOUT_SECS", "1"),
        ]),
        ..Default::default()
    })
    .await;
    let mut s = TcpStream::connect(host(&app)).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        // One response: headers, then a small body.
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains("UP") {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("an answer")
                .unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    }
    let idle_from = Instant::now();
    let rest = read_until_closed(&mut s, idle_from + Duration::from_secs(10))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(rest.is_empty());
    assert!(idle_from.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn hardening_request_timeout_leaves_prefer_wait_alone() {
    // No workers: the request stays IN_PROGRESS, so the wait runs to its end.
    let app = spawn_app_with(Options {
        workers: false,
        env: env(&[
            ("PASSBROKER_MAX_PREFER_WAIT_SECS", "2"),
            ("PASSBROKER_HTTP_REQUEST_TIMEOUT_SECS", "3"),
        ]),
    })
    .await;
    let token = app.token().await;
    let body = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let started = Instant::now();
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .bearer_auth(&token)
        .header("Prefer", "wait=2")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(started.elapsed() >= Duration::from_millis(1_900));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "IN_PROGRESS", "{v}");
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

#[tokio::test]
async fn hardening_log_file_outside_the_data_dir_or_not_regular_is_refused() {
    let app = spawn_app().await;
    let token = app.token().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let fifo = app.data_dir.path().join("calls.fifo");
    mkfifo(&fifo);
    std::os::unix::fs::symlink(elsewhere.path(), app.data_dir.path().join("out")).unwrap();
    let outside = elsewhere.path().join("calls.log");
    for (log_file, needle) in [
        (outside.display().to_string(), "outside the data dir"),
        ("../calls.log".to_owned(), "`..`"),
        ("out/calls.log".to_owned(), "outside the data dir"),
        ("calls.fifo".to_owned(), "FIFO"),
        (fifo.display().to_string(), "FIFO"),
        ("/dev/null".to_owned(), "outside the data dir"),
    ] {
        let body = json!({"name": "Logged", "connector": "simulated", "features": ["PASSWORD"],
            "connectorAttributes": {"logFile": log_file}});
        let (s, v) = call(&app, Method::POST, "/v3/sources", &token, Some(&body)).await;
        assert_400(s, &v, &["logFile", needle]);
    }
    assert!(
        !outside.exists(),
        "nothing was created outside the data dir"
    );
    // Inside the data dir it is accepted, and an update may not move it out.
    let body = json!({"name": "Logged", "connector": "simulated", "features": ["PASSWORD"],
        "connectorAttributes": {"logFile": "calls.log"}});
    let (s, v) = call(&app, Method::POST, "/v3/sources", &token, Some(&body)).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let mut doc = v.clone();
    doc["connectorAttributes"]["logFile"] = json!(outside.display().to_string());
    let (s, v) = call(
        &app,
        Method::PUT,
        &format!("/v3/sources/{id}"),
        &token,
        Some(&doc),
    )
    .await;
    assert_400(s, &v, &["logFile", "outside the data dir"]);
    doc["connectorAttributes"]["logFile"] = json!("calls.fifo");
    let (s, v) = call(
        &app,
        Method::PUT,
        &format!("/v3/sources/{id}"),
        &token,
        Some(&doc),
    )
    .await;
    assert_400(s, &v, &["logFile", "FIFO"]);
    assert!(!outside.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_a_log_file_swapped_for_a_fifo_fails_its_tasks_and_blocks_nothing() {
    let app = spawn_app().await;
    let yaml = "sources:\n  - name: Logged\n    features: [PASSWORD]\n    connector: simulated\n    config: { logFile: calls.log }\naccounts:\n  - identity: Abby.Smith\n    source: Logged\n    accountId: abby-logged\n";
    let file = passbroker_server::ops::tenant::parse(std::path::Path::new("t.yaml"), yaml).unwrap();
    let s = &app.state;
    passbroker_server::ops::tenant::apply(
        s.store.as_ref(),
        &s.secrets,
        &s.config.data_dir,
        file,
        s.clock.now(),
    )
    .await
    .unwrap();
    // Accepted as a regular file, then replaced by a FIFO nobody reads.
    let log = app.data_dir.path().join("calls.log");
    let _ = std::fs::remove_file(&log);
    mkfifo(&log);
    let token = app.token().await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let body = app
            .change_body(
                &token,
                "Abby.Smith",
                "Logged",
                &format!("Fifo-Passw0rd-{n}"),
            )
            .await;
        ids.push(app.set_password(&token, &body).await);
    }
    // The workers try the FIFO meanwhile; the server keeps answering.
    for _ in 0..5 {
        let host = host(&app);
        let took = tokio::task::spawn_blocking(move || {
            live_on_new_connection(&host, Duration::from_secs(1))
        })
        .await
        .unwrap()
        .expect("/health/live answers while the log is a FIFO");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    for id in &ids {
        let v = app.wait_terminal(&token, id).await;
        assert_eq!(v["state"], "FAILED", "{v}");
        assert!(v.to_string().contains("not a regular file"), "{v}");
    }
    let took = live_on_new_connection(&host(&app), Duration::from_secs(1)).unwrap();
    assert!(took < Duration::from_secs(1));
}
