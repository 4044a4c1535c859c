//! The reliability and security suite, against the real `passbroker` binary:
//! - `hardening::crash_*`: SIGKILL mid-way loses no accepted request and delivers none twice,
//!   counted at the target (the simulated target logs every delivery, a repeated one too);
//!   a change that landed before the crash is verified at the target, not written again;
//! - `canary_*`: a unique password never appears at rest, in logs or in any response.

mod support;

use base64::Engine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{encrypt, master_key, serve_demo, Server};

fn env(master_key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PASSBROKER_MASTER_KEY", master_key.to_owned()),
        ("PASSBROKER_LEASE_SECS", "2".to_owned()),
        ("PASSBROKER_RATE_LIMIT_REQUESTS", "100000".to_owned()),
        ("PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS", "100000".to_owned()),
        ("PASSBROKER_WORKERS", "4".to_owned()),
        ("PASSBROKER_LOG", "debug,sqlx=warn,hyper=warn".to_owned()),
    ]
}

fn passbroker(dir: &Path, master_key: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("PASSBROKER_CONFIG");
    for (k, v) in env(master_key) {
        cmd.env(k, v);
    }
    cmd
}

async fn start(dir: &Path, master_key: &str, log: &Path) -> Server {
    serve_demo(passbroker(dir, master_key), log, Duration::from_secs(30)).await
}

fn apply(dir: &Path, master_key: &str, yaml: &str) {
    let file = dir.join("tenant.yaml");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&file, yaml).unwrap();
    let out = passbroker(dir, master_key)
        .args(["tenant", "apply", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Every response body seen, for the canary search.
    seen: std::sync::Mutex<Vec<u8>>,
    /// Every ciphertext sent, to prove none is kept once its request ended.
    sent: std::sync::Mutex<Vec<String>>,
}

impl Client {
    async fn new(dir: &Path, base: &str) -> Client {
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("demo-credentials.json")).unwrap(),
        )
        .unwrap();
        let http = reqwest::Client::new();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", creds["clientId"].as_str().unwrap()),
            ("client_secret", creds["clientSecret"].as_str().unwrap()),
        ];
        let tok: Value = http
            .post(format!("{base}/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Client {
            http,
            base: base.to_owned(),
            token: tok["access_token"].as_str().unwrap().to_owned(),
            seen: Default::default(),
            sent: Default::default(),
        }
    }
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            if let Some(ct) = b["encryptedPassword"].as_str() {
                self.sent.lock().unwrap().push(ct.to_owned());
            }
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap();
        self.seen.lock().unwrap().extend_from_slice(&bytes);
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
    async fn info(&self, user: &str, source: &str) -> Value {
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                "/v3/query-password-info",
                Some(&json!({"userName": user, "sourceName": source})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

fn body(info: &Value, encrypted: String) -> Value {
    json!({"identityId": info["identityId"], "encryptedPassword": encrypted, "publicKeyId": info["publicKeyId"],
           "accountId": info["accounts"][0]["accountId"], "sourceId": info["sourceId"]})
}

async fn wait_all_terminal(c: &Client, ids: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut out = Vec::new();
    for id in ids {
        loop {
            let (s, v) = c
                .call(
                    reqwest::Method::GET,
                    &format!("/v3/password-change-status/{id}"),
                    None,
                )
                .await;
            assert_eq!(s, 200, "request {id} lost: {v}");
            if v["state"] != "IN_PROGRESS" {
                out.push(v);
                break;
            }
            assert!(Instant::now() < deadline, "request {id} never finished");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    out
}

fn tenant(log: &Path) -> String {
    tenant_with_latency(log, 15)
}

/// The `Slow` source's target takes `latency_ms` a call; its change lands halfway through.
fn tenant_with_latency(log: &Path, latency_ms: u64) -> String {
    format!(
        "identities:\n  - userName: Crash.User\nsources:\n  - name: Slow\n    features: [PASSWORD]\n    connector: simulated\n    config: {{ latencyMs: {latency_ms}, logFile: \"{}\" }}\n  - name: Broken\n    features: [PASSWORD]\n    connector: simulated\n    config: {{ failureRate: 1.0, failureMessage: \"target refused\" }}\naccounts:\n  - {{ identity: Crash.User, source: Slow, accountId: crash-user }}\n  - {{ identity: Crash.User, source: Broken, accountId: crash-user }}\n",
        log.display()
    )
}

mod hardening {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn crash_sigkill_mid_way_loses_nothing_and_delivers_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let key = master_key();
        // The simulated connector's log lives in the data dir (the only place it may).
        let sim_log = dir.join("delivered.log");
        apply(&dir, &key, &tenant(&sim_log));
        let server_log = tmp.path().join("server.log");
        let server = start(&dir, &key, &server_log).await;
        let c = std::sync::Arc::new(Client::new(&dir, &server.base).await);
        let info = c.info("Crash.User", "Slow").await;
        let mut ids = Vec::new();
        let mut pending = futures_lite_join(&c, &info, 500).await;
        ids.append(&mut pending);
        assert_eq!(ids.len(), 500);
        // Kill the server while the backlog drains (the simulated target takes 15 ms a call).
        let delivered_before = std::fs::read_to_string(&sim_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .count();
        drop(server); // SIGKILL
        assert!(
            delivered_before < 500,
            "the crash must happen mid-way ({delivered_before} delivered)"
        );
        let server = start(&dir, &key, &server_log).await;
        let c = Client::new(&dir, &server.base).await;
        let states = wait_all_terminal(&c, &ids).await;
        assert!(
            states.iter().all(|s| s["state"] == "FINISHED"),
            "every accepted request finishes"
        );
        let per_task = delivered_per_task(&sim_log);
        assert_eq!(per_task.len(), 500, "each request's target was changed");
        let doubles: Vec<_> = per_task.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            doubles.is_empty(),
            "no target received a change twice: {doubles:?}"
        );
    }

    /// Successful deliveries per task in the simulated target's log (a record torn by a
    /// SIGKILL is a delivery that did not complete; it is skipped).
    fn delivered_per_task(log: &Path) -> std::collections::HashMap<String, usize> {
        let mut per_task = std::collections::HashMap::<String, usize>::new();
        for line in std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if v["outcome"] == "SUCCEEDED" {
                *per_task
                    .entry(v["taskId"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        per_task
    }

    /// Hardening finding 5, deterministically: the target (3 s a call) has taken the change
    /// (the log shows it) but not yet answered when the process is killed. The restarted
    /// worker finds the task's "attempt started" mark, asks the target, records the change
    /// as done without writing it again, and says so in the audit trail.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn crash_after_the_target_took_the_change_verifies_instead_of_writing_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let key = master_key();
        // The simulated connector's log lives in the data dir (the only place it may).
        let sim_log = dir.join("delivered.log");
        apply(&dir, &key, &tenant_with_latency(&sim_log, 3_000));
        let server_log = tmp.path().join("server.log");
        let server = start(&dir, &key, &server_log).await;
        let c = Client::new(&dir, &server.base).await;
        let info = c.info("Crash.User", "Slow").await;
        let b = body(
            &info,
            encrypt(info["publicKey"].as_str().unwrap(), b"Verified-0nce-Only"),
        );
        let (s, v) = c
            .call(reqwest::Method::POST, "/v3/set-password", Some(&b))
            .await;
        assert_eq!(s, 202, "{v}");
        let id = v["requestId"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        while delivered_per_task(&sim_log).is_empty() {
            assert!(
                Instant::now() < deadline,
                "the target never took the change"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(server); // SIGKILL, 1.5 s before the target would have answered
        let server = start(&dir, &key, &server_log).await;
        let c = Client::new(&dir, &server.base).await;
        let states = wait_all_terminal(&c, std::slice::from_ref(&id)).await;
        assert_eq!(states[0]["state"], "FINISHED", "{}", states[0]);
        let per_task = delivered_per_task(&sim_log);
        assert_eq!(per_task.len(), 1);
        assert!(
            per_task.values().all(|n| *n == 1),
            "the target received the change once: {per_task:?}"
        );
        server.stop_gracefully();
        let out = passbroker(&dir, &key)
            .args(["audit", "list", "--request-id", &id])
            .output()
            .unwrap();
        let audit = String::from_utf8_lossy(&out.stdout);
        assert!(
            audit.contains("PASSWORD_CHANGE_TARGET_VERIFIED")
                && audit.contains("not written again"),
            "the audit trail says the change was verified, not repeated:\n{audit}"
        );
        assert!(
            !audit.contains("PASSWORD_CHANGE_TARGET_SUCCEEDED"),
            "{audit}"
        );
    }
}

/// Posts `n` set-password requests, 16 at a time; returns the accepted request ids.
async fn futures_lite_join(c: &std::sync::Arc<Client>, info: &Value, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let c = c.clone();
        let b = body(
            info,
            encrypt(
                info["publicKey"].as_str().unwrap(),
                format!("Crash-Passw0rd-{i}").as_bytes(),
            ),
        );
        set.spawn(async move {
            let (s, v) = c
                .call(reqwest::Method::POST, "/v3/set-password", Some(&b))
                .await;
            assert_eq!(s, 202, "{v}");
            v["requestId"].as_str().unwrap().to_owned()
        });
        if set.len() >= 16 {
            ids.push(set.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(r) = set.join_next().await {
        ids.push(r.unwrap());
    }
    ids
}

fn forms(canary: &str) -> Vec<(String, Vec<u8>)> {
    let b = canary.as_bytes();
    let utf16: Vec<u8> = canary.encode_utf16().flat_map(u16::to_le_bytes).collect();
    vec![
        ("plain".into(), b.to_vec()),
        (
            "base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(b)
                .as_bytes()[..16]
                .to_vec(),
        ),
        ("hex".into(), hex_lower(b).into_bytes()),
        ("HEX".into(), hex_lower(b).to_uppercase().into_bytes()),
        ("utf16le".into(), utf16),
    ]
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canary_password_never_leaks_through_any_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let key = master_key();
    apply(&dir, &key, &tenant(&dir.join("delivered.log")));
    let server_log = tmp.path().join("server.log");
    let canary = format!(
        "Kanary{}Z9",
        &master_key()[..12].replace(['+', '/', '='], "q")
    );
    let server = start(&dir, &key, &server_log).await;
    let c = std::sync::Arc::new(Client::new(&dir, &server.base).await);
    let slow = c.info("Crash.User", "Slow").await;
    let broken = c.info("Crash.User", "Broken").await;
    let pk = slow["publicKey"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    // Success, target failure, policy failure (too long repeated run), bad padding.
    for (info, pw) in [
        (&slow, canary.clone()),
        (&broken, canary.clone()),
        (&slow, format!("{canary}aaaa")),
    ] {
        let (s, v) = c
            .call(
                reqwest::Method::POST,
                "/v3/set-password",
                Some(&body(info, encrypt(&pk, pw.as_bytes()))),
            )
            .await;
        assert_eq!(s, 202, "{v}");
        ids.push(v["requestId"].as_str().unwrap().to_owned());
    }
    let mut bad = encrypt(&pk, canary.as_bytes()).into_bytes();
    bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
    let (s, v) = c
        .call(
            reqwest::Method::POST,
            "/v3/set-password",
            Some(&body(&slow, String::from_utf8(bad).unwrap())),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    ids.push(v["requestId"].as_str().unwrap().to_owned());
    // And a crash while a change is in flight.
    let (_, v) = c
        .call(
            reqwest::Method::POST,
            "/v3/set-password",
            Some(&body(
                &slow,
                encrypt(&pk, format!("{canary}-crash").as_bytes()),
            )),
        )
        .await;
    ids.push(v["requestId"].as_str().unwrap().to_owned());
    drop(server);
    let server = start(&dir, &key, &server_log).await;
    let c2 = Client::new(&dir, &server.base).await;
    let states = wait_all_terminal(&c2, &ids).await;
    assert_eq!(states[0]["state"], "FINISHED");
    assert_eq!(states[1]["state"], "FAILED");
    assert_eq!(states[2]["state"], "FAILED");
    assert_eq!(states[3]["state"], "FAILED");
    for id in &ids {
        c2.call(
            reqwest::Method::GET,
            &format!("/passbroker/v1/audit-events?requestId={id}"),
            None,
        )
        .await;
    }
    server.stop_gracefully();
    let mut haystacks: Vec<(String, Vec<u8>)> = all_files(&dir)
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    haystacks.push(("server log".into(), std::fs::read(&server_log).unwrap()));
    haystacks.push((
        "HTTP responses".into(),
        [
            c.seen.lock().unwrap().clone(),
            c2.seen.lock().unwrap().clone(),
        ]
        .concat(),
    ));
    for (form, needle) in forms(&canary) {
        for (name, hay) in &haystacks {
            assert!(
                !hay.windows(needle.len()).any(|w| w == needle.as_slice()),
                "canary ({form}) found in {name}"
            );
        }
    }
    // The ciphertexts are erased once their requests ended: not in the database, its WAL or
    // its free space (raw bytes or base64).
    let sent = [
        c.sent.lock().unwrap().clone(),
        c2.sent.lock().unwrap().clone(),
    ]
    .concat();
    assert!(sent.len() >= 5);
    let held = ciphertexts_at_rest(&dir, &sent);
    assert!(held.is_empty(), "ciphertexts are still in {held:?}");
}

/// The database files (`passbroker.db*`) that still hold one of `sent`'s ciphertexts (raw
/// bytes or base64). Panics if there is no database file to search.
fn ciphertexts_at_rest(dir: &Path, sent: &[String]) -> Vec<String> {
    let files: Vec<(String, Vec<u8>)> = all_files(dir)
        .into_iter()
        .filter(|p| p.display().to_string().contains("passbroker.db"))
        // A file may vanish between listing and reading (SQLite deletes its WAL on close).
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect();
    assert!(!files.is_empty(), "the database files were searched");
    let mut holding = Vec::new();
    for ct in sent {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(ct)
            .unwrap_or_default();
        for needle in [&raw[..32.min(raw.len())], &ct.as_bytes()[..40]] {
            for (name, hay) in &files {
                if hay.windows(needle.len()).any(|w| w == needle) && !holding.contains(name) {
                    holding.push(name.clone());
                }
            }
        }
    }
    holding
}

/// After a SIGKILL, ended requests' ciphertexts may remain in the WAL (erased rows' old
/// page images). An idle restart must push them out by itself: before, only a request ending
/// after start-up triggered the flush, so they stayed until new traffic came.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hardening_crash_leaves_no_ciphertext_at_rest_after_an_idle_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let key = master_key();
    apply(
        &dir,
        &key,
        "identities:\n  - userName: Crash.User\nsources:\n  - name: Slow\n    features: [PASSWORD]\n    connector: simulated\n    config: { latencyMs: 300 }\naccounts:\n  - { identity: Crash.User, source: Slow, accountId: crash-user }\n",
    );
    let server_log = tmp.path().join("server.log");
    let mut attempts = 0;
    // Every request must have ended before the kill: one still in flight would end after the
    // restart and set off a flush the old way too. The kill follows the last end within
    // milliseconds; should the periodic flush (every 5 s) still slip in between, the premise
    // "ciphertexts are in the WAL" does not hold and the round is repeated.
    let sent = loop {
        attempts += 1;
        assert!(attempts <= 3, "the flush beat the kill {attempts} times");
        let server = start(&dir, &key, &server_log).await;
        let c = std::sync::Arc::new(Client::new(&dir, &server.base).await);
        let info = c.info("Crash.User", "Slow").await;
        let ids = futures_lite_join(&c, &info, 8).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        for id in &ids {
            loop {
                let (s, v) = c
                    .call(
                        reqwest::Method::GET,
                        &format!("/v3/password-change-status/{id}"),
                        None,
                    )
                    .await;
                assert_eq!(s, 200, "{v}");
                if v["state"] == "FINISHED" {
                    break;
                }
                assert_ne!(v["state"], "FAILED", "{v}");
                assert!(Instant::now() < deadline, "request {id} never finished");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        drop(server); // SIGKILL
        let sent = c.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 8);
        if !ciphertexts_at_rest(&dir, &sent).is_empty() {
            break sent;
        }
    };
    // Restart and send nothing: no set-password, no status query.
    let server = start(&dir, &key, &server_log).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = ciphertexts_at_rest(&dir, &sent);
        if held.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "30 s after an idle restart, ended requests' ciphertexts are still in {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}
