//! Backup and restore with the real binary (`cargo test -- backup`): `passbroker backup`
//! while the server takes requests, no ciphertext of an ended request in the file, `restore`
//! refusing a running database and a backup made under another master key, and the requests
//! in flight at backup time finishing after a restore.

mod support;

use base64::Engine;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{encrypt, master_key, serve_demo};

fn passbroker(dir: &Path, key: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("PASSBROKER_CONFIG")
        .env("PASSBROKER_MASTER_KEY", key)
        .env("PASSBROKER_WORKERS", "2")
        .env("PASSBROKER_LEASE_SECS", "2")
        .env("PASSBROKER_RATE_LIMIT_REQUESTS", "100000")
        .env("PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS", "100000")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(dir: &Path, base: &str) -> Api {
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("demo-credentials.json")).unwrap(),
        )
        .unwrap();
        let http = reqwest::Client::new();
        let tok: Value = http
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", creds["clientId"].as_str().unwrap()),
                ("client_secret", creds["clientSecret"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            http,
            base: base.to_owned(),
            token: tok["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn info(&self) -> Value {
        self.http
            .post(format!("{}/v3/query-password-info", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"userName": "Backup.User", "sourceName": "Slow"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts a change; returns (request id, the ciphertext sent).
    async fn change(&self, info: &Value, i: usize) -> (String, String) {
        let ct = encrypt(
            info["publicKey"].as_str().unwrap(),
            format!("Backup-Passw0rd-{i}").as_bytes(),
        );
        let body = json!({"identityId": info["identityId"], "encryptedPassword": ct,
            "publicKeyId": info["publicKeyId"], "accountId": info["accounts"][0]["accountId"],
            "sourceId": info["sourceId"]});
        let r = self
            .http
            .post(format!("{}/v3/set-password", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: Value = r.json().await.unwrap();
        (v["requestId"].as_str().unwrap().to_owned(), ct)
    }

    async fn state(&self, id: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}/v3/password-change-status/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        (status, v["state"].as_str().unwrap_or_default().to_owned())
    }

    async fn wait_finished(&self, ids: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(120);
        for id in ids {
            loop {
                let (status, state) = self.state(id).await;
                assert_eq!(status, 200, "request {id} lost");
                if state != "IN_PROGRESS" {
                    assert_eq!(state, "FINISHED", "request {id}");
                    break;
                }
                assert!(Instant::now() < deadline, "request {id} never finished");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether a ciphertext (as sent, base64) is in `bytes`, raw or as text.
fn holds(bytes: &[u8], ct_b64: &str) -> bool {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(ct_b64)
        .unwrap();
    contains(bytes, &raw) || contains(bytes, ct_b64.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_and_finishes_requests_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let key = master_key();
    let tenant = dir.join("tenant.yaml");
    std::fs::write(
        &tenant,
        format!(
            "identities:\n  - userName: Backup.User\nsources:\n  - name: Slow\n    features: [PASSWORD]\n    connector: simulated\n    config: {{ latencyMs: 150, logFile: \"{}\" }}\naccounts:\n  - {{ identity: Backup.User, source: Slow, accountId: backup-user }}\n",
            dir.join("delivered.log").display()
        ),
    )
    .unwrap();
    let mut apply = passbroker(&dir, &key);
    apply.args(["tenant", "apply", tenant.to_str().unwrap()]);
    let o = run(apply);
    assert!(o.status.success(), "{}", text(&o));

    let log = tmp.path().join("server.log");
    let server = serve_demo(passbroker(&dir, &key), &log, Duration::from_secs(30)).await;
    let api = Arc::new(Api::new(&dir, &server.base).await);
    let info = Arc::new(api.info().await);

    // Requests that end before the backup: their ciphertexts must not be in it.
    let mut ended = Vec::new();
    for i in 0..3 {
        ended.push(api.change(&info, i).await);
    }
    let ended_ids: Vec<String> = ended.iter().map(|(id, _)| id.clone()).collect();
    api.wait_finished(&ended_ids).await;

    // Load: changes keep arriving while the backup runs (2 workers, 150 ms a change, so
    // a backlog builds up).
    let mut before = Vec::new();
    for i in 100..120 {
        before.push(api.change(&info, i).await);
    }
    let load = {
        let (api, info) = (api.clone(), info.clone());
        tokio::spawn(async move {
            let mut i = 1000;
            loop {
                api.change(&info, i).await;
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let file = tmp.path().join("passbroker.backup");
    let mut cmd = passbroker(&dir, &key);
    cmd.args(["backup", file.to_str().unwrap()]);
    let o = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    load.abort();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("request(s) in flight"), "{}", text(&o));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup is private to its owner");
    }

    let bytes = std::fs::read(&file).unwrap();
    for (id, ct) in &ended {
        assert!(
            !holds(&bytes, ct),
            "ended request {id}'s ciphertext is in the backup"
        );
    }
    let in_flight = before.iter().filter(|(_, ct)| holds(&bytes, ct)).count();
    assert!(
        in_flight > 0,
        "some requests were in flight at backup time (their ciphertexts are needed to finish them)"
    );

    // A backup is not written over an existing file.
    let mut again = passbroker(&dir, &key);
    again.args(["backup", file.to_str().unwrap()]);
    let o = run(again);
    assert!(
        !o.status.success() && text(&o).contains("exists"),
        "{}",
        text(&o)
    );

    // Restore refuses while the server has the database open.
    let mut busy = passbroker(&dir, &key);
    busy.args(["restore", file.to_str().unwrap()]);
    let o = run(busy);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("in use"), "{}", text(&o));

    drop(api);
    drop(server); // SIGKILL: the disaster the backup is for
                  // Fold the WAL the kill left into the database file, so its bytes can be compared.
    let mut fold = passbroker(&dir, &key);
    fold.arg("migrate");
    let o = run(fold);
    assert!(o.status.success(), "{}", text(&o));
    let db = dir.join("passbroker.db");
    let db_before = std::fs::read(&db).unwrap();

    // A different master key: refused, nothing changed.
    let mut wrong = passbroker(&dir, &master_key());
    wrong.args(["restore", file.to_str().unwrap()]);
    let o = run(wrong);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("master key"), "{}", text(&o));
    assert!(
        std::fs::read(&db).unwrap() == db_before,
        "a refused restore changes nothing"
    );

    // A damaged backup: refused.
    let damaged = tmp.path().join("damaged.backup");
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let mut cmd = passbroker(&dir, &key);
    cmd.args(["restore", damaged.to_str().unwrap()]);
    let o = run(cmd);
    assert!(!o.status.success(), "{}", text(&o));

    let mut restore = passbroker(&dir, &key);
    restore.args(["restore", file.to_str().unwrap()]);
    let o = run(restore);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("the database it replaced is at"),
        "{}",
        text(&o)
    );

    // Every request accepted before the backup began is there and finishes.
    let server = serve_demo(passbroker(&dir, &key), &log, Duration::from_secs(30)).await;
    let api = Api::new(&dir, &server.base).await;
    let ids: Vec<String> = before.iter().map(|(id, _)| id.clone()).collect();
    api.wait_finished(&ids).await;
    api.wait_finished(&ended_ids).await;
    server.stop_gracefully();
}
