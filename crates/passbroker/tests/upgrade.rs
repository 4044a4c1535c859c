//! Upgrades (`cargo test -- upgrade`): every committed database of a released schema version
//! (`tests/fixtures/schema-vN/`) is migrated by this binary, served, and keeps working: its
//! finished request is still reported, the request it had in flight is picked up and ends
//! (past its deadline by now: it fails saying so), its API client still gets tokens, and a
//! new change goes through.
//!
//! Each release adds its fixture: `cargo test -p passbroker --test upgrade -- --ignored
//! make_schema_fixture` writes `schema-vN/` for the current schema (a demo tenant, one finished
//! change, one in flight on a target that answers after 3 s, taken with `passbroker backup`).
//! The fixtures' master key is a test key, public on purpose.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{encrypt, serve_with};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn passbroker(dir: &Path, key_file: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("PASSBROKER_CONFIG")
        .env_remove("PASSBROKER_MASTER_KEY")
        .env("PASSBROKER_MASTER_KEY_FILE", key_file)
        .env("PASSBROKER_LEASE_SECS", "2")
        .env("PASSBROKER_RATE_LIMIT_REQUESTS", "100000")
        .env("PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS", "100000")
        .stdin(Stdio::null());
    cmd
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
    async fn new(creds: &Value, base: &str) -> Api {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", creds["clientId"].as_str().unwrap()),
                ("client_secret", creds["clientSecret"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the fixture's API client gets a token");
        let tok: Value = r.json().await.unwrap();
        Api {
            http,
            base: base.to_owned(),
            token: tok["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn change(&self, user: &str, source: &str, password: &str) -> String {
        let info: Value = self
            .http
            .post(format!("{}/v3/query-password-info", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"userName": user, "sourceName": source}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let body = json!({"identityId": info["identityId"],
            "encryptedPassword": encrypt(info["publicKey"].as_str().unwrap(), password.as_bytes()),
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
        v["requestId"].as_str().unwrap().to_owned()
    }

    async fn state(&self, id: &str) -> String {
        let r = self
            .http
            .get(format!("{}/v3/password-change-status/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "request {id}");
        let v: Value = r.json().await.unwrap();
        v["state"].as_str().unwrap().to_owned()
    }

    async fn wait_terminal(&self, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = self.state(id).await;
            if state != "IN_PROGRESS" {
                return state;
            }
            assert!(Instant::now() < deadline, "request {id} never ended");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn schema_dirs() -> Vec<(i64, PathBuf)> {
    let mut dirs: Vec<(i64, PathBuf)> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let n = e
                .file_name()
                .to_str()?
                .strip_prefix("schema-v")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_every_released_schema_migrates_and_keeps_working() {
    let dirs = schema_dirs();
    assert!(!dirs.is_empty(), "no fixture in {}", fixtures().display());
    let latest = dirs.last().unwrap().0;
    for (version, fixture) in dirs {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::copy(fixture.join("passbroker.db"), data.join("passbroker.db")).unwrap();
        let key = fixture.join("master.key");
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture.join("credentials.json")).unwrap(),
        )
        .unwrap();
        let expect: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("expect.json")).unwrap())
                .unwrap();
        assert_eq!(expect["schemaVersion"], version, "{}", fixture.display());

        let mut migrate = passbroker(&data, &key);
        migrate.arg("migrate");
        let o = migrate.output().unwrap();
        assert!(o.status.success(), "v{version}: {}", text(&o));
        assert!(
            text(&o).contains("schema version"),
            "v{version}: {}",
            text(&o)
        );

        let log = tmp.path().join("server.log");
        let server = serve_with(passbroker(&data, &key), &[], &log, Duration::from_secs(30)).await;
        let api = Api::new(&creds, &server.base).await;
        let finished = expect["finished"].as_str().unwrap();
        assert_eq!(api.state(finished).await, "FINISHED", "v{version}");
        // The request in flight is picked up by the new binary and ends: it finishes, or, once
        // the fixture is older than its deadline (300 s), fails saying so, as every request
        // past its deadline does.
        let in_flight = expect["inFlight"].as_str().unwrap();
        let state = api.wait_terminal(in_flight).await;
        if state == "FAILED" {
            let v: Value = api
                .http
                .get(format!(
                    "{}/v3/password-change-status/{in_flight}",
                    api.base
                ))
                .bearer_auth(&api.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(
                v.to_string().contains("-second deadline"),
                "v{version}: the request in flight failed for another reason: {v}"
            );
        } else {
            assert_eq!(state, "FINISHED", "v{version}");
        }
        let id = api
            .change(
                expect["userName"].as_str().unwrap(),
                expect["sourceName"].as_str().unwrap(),
                "Upgraded-Passw0rd",
            )
            .await;
        assert_eq!(api.wait_terminal(&id).await, "FINISHED", "v{version}");
        server.stop_gracefully();
    }
    assert!(latest <= i64::from(u16::MAX));
}

/// Writes the fixture of the current schema version (run by hand at each release).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes a fixture; run at a release"]
async fn make_schema_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let key_file = tmp.path().join("master.key");
    std::fs::write(&key_file, support::master_key()).unwrap();
    let tenant = tmp.path().join("tenant.yaml");
    std::fs::write(
        &tenant,
        "identities:\n  - userName: Upgrade.User\nsources:\n  - name: Slow\n    features: [PASSWORD]\n    connector: simulated\n    config: { latencyMs: 3000, logFile: \"delivered.log\" }\naccounts:\n  - { identity: Upgrade.User, source: Slow, accountId: upgrade-user }\n",
    )
    .unwrap();
    let mut apply = passbroker(&data, &key_file);
    apply.args(["tenant", "apply", tenant.to_str().unwrap()]);
    let o = apply.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let log = tmp.path().join("server.log");
    let server = serve_with(
        passbroker(&data, &key_file),
        &["--demo"],
        &log,
        Duration::from_secs(30),
    )
    .await;
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap())
            .unwrap();
    let api = Api::new(&creds, &server.base).await;
    let finished = api
        .change("Upgrade.User", "Slow", "Released-Passw0rd-1")
        .await;
    assert_eq!(api.wait_terminal(&finished).await, "FINISHED");
    let in_flight = api
        .change("Upgrade.User", "Slow", "Released-Passw0rd-2")
        .await;
    let out = tmp.path().join("passbroker.db");
    let mut backup = passbroker(&data, &key_file);
    backup.args(["backup", out.to_str().unwrap()]);
    let o = backup.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        api.state(&in_flight).await,
        "IN_PROGRESS",
        "taken while in flight"
    );
    drop(server);

    let version = text(&o)
        .split("schema version ")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .and_then(|n| n.trim().parse::<i64>().ok())
        .unwrap();
    let dir = fixtures().join(format!("schema-v{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&out, dir.join("passbroker.db")).unwrap();
    std::fs::copy(&key_file, dir.join("master.key")).unwrap();
    let mut creds = creds;
    creds["baseUrl"] = Value::Null;
    creds["userPassword"] = Value::Null;
    std::fs::write(
        dir.join("credentials.json"),
        serde_json::to_string_pretty(&creds).unwrap() + "\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("expect.json"),
        serde_json::to_string_pretty(&json!({
            "schemaVersion": version,
            "release": env!("CARGO_PKG_VERSION"),
            "userName": "Upgrade.User",
            "sourceName": "Slow",
            "finished": finished,
            "inFlight": in_flight,
        }))
        .unwrap()
            + "\n",
    )
    .unwrap();
    println!("wrote {}", dir.display());
}
