//! Key rotation as an operator does it: `passbroker keys rotate` and `keys retire` run by the
//! CLI while servers are running must take effect on every running node within the
//! documented time (`key_sync_interval_secs`, here 1 s; on PostgreSQL a notification makes it
//! near-immediate): the rotated key is the one published, and a retired key decrypts nowhere.
//! `cargo test -- rotation`. PostgreSQL comes from `passbroker-store/tests/support/postgres.rs`
//! (skipped loudly when not installed, unless PASSBROKER_REQUIRE_SERVICES=1).

#[path = "../../passbroker-store/tests/support/postgres.rs"]
mod pg;
mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{encrypt, master_key, serve_demo, Server};

/// The documented bound with this test's `key_sync_interval_secs` of 1, plus slack for a
/// loaded machine.
const TAKES_EFFECT_WITHIN: Duration = Duration::from_secs(6);

fn passbroker(dir: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("PASSBROKER_CONFIG")
        .env_remove("PASSBROKER_DATABASE_URL")
        .env("PASSBROKER_KEY_SYNC_INTERVAL_SECS", "1")
        .env("PASSBROKER_RATE_LIMIT_REQUESTS", "100000")
        .env("PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS", "100000")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn start(dir: &Path, env: &[(String, String)]) -> Server {
    let log = dir.join(format!("node-{}.log", support::free_port()));
    serve_demo(passbroker(dir, env), &log, Duration::from_secs(60)).await
}

/// Runs `passbroker keys ARGS` as an operator would; returns its standard output.
fn keys_cli(dir: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let out = passbroker(dir, env)
        .arg("keys")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn token(dir: &Path, base: &str) -> String {
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo-credentials.json")).unwrap())
            .unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", creds["clientId"].as_str().unwrap()),
        ("client_secret", creds["clientSecret"].as_str().unwrap()),
    ];
    let tok: Value = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tok["access_token"].as_str().unwrap().to_owned()
}

async fn info(base: &str, token: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{base}/v3/query-password-info"))
        .bearer_auth(token)
        .json(&json!({"userName": "Abby.Smith", "sourceName": "My-AD"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// A set-password body encrypted to the key `old_info` published.
fn change_body(old_info: &Value, password: &str) -> Value {
    json!({"identityId": old_info["identityId"],
           "encryptedPassword": encrypt(old_info["publicKey"].as_str().unwrap(), password.as_bytes()),
           "publicKeyId": old_info["publicKeyId"],
           "accountId": old_info["accounts"][0]["accountId"], "sourceId": old_info["sourceId"]})
}

async fn set_password_status(base: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v3/set-password"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls until every node publishes `key_id`, or fails after [`TAKES_EFFECT_WITHIN`].
async fn every_node_publishes(nodes: &[(&str, &str)], key_id: &str) -> Duration {
    let started = Instant::now();
    for (base, token) in nodes {
        loop {
            let published = info(base, token).await["publicKeyId"].clone();
            if published == json!(key_id) {
                break;
            }
            assert!(
                started.elapsed() < TAKES_EFFECT_WITHIN,
                "node {base} still publishes {published} {:?} after `keys rotate` made {key_id} active",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    started.elapsed()
}

/// Polls until every node refuses `body` (encrypted to a retired key) with 400.
async fn every_node_refuses(nodes: &[(&str, &str)], body: &Value) -> Duration {
    let started = Instant::now();
    for (base, token) in nodes {
        loop {
            let (status, answer) = set_password_status(base, token, body).await;
            if status == 400 {
                assert!(
                    answer.to_string().contains("retired"),
                    "the refusal names the cause: {answer}"
                );
                break;
            }
            assert_eq!(status, 202, "{answer}");
            assert!(
                started.elapsed() < TAKES_EFFECT_WITHIN,
                "node {base} still accepts a ciphertext for a retired key {:?} after `keys retire`",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    started.elapsed()
}

/// Rotates and retires with the CLI while `nodes` run, and checks each takes effect.
async fn rotate_and_retire(dir: &Path, env: &[(String, String)], nodes: &[(&str, &str)]) {
    let (base, token) = nodes[0];
    let old = info(base, token).await;
    let old_id = old["publicKeyId"].as_str().unwrap().to_owned();

    // "new active key ID; the previous key decrypts for … more seconds"
    let printed = keys_cli(dir, env, &["rotate"]);
    let new_id = printed
        .strip_prefix("new active key ")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("unexpected `keys rotate` output: {printed}"))
        .to_owned();
    assert_ne!(new_id, old_id);
    let took = every_node_publishes(nodes, &new_id).await;
    eprintln!("rotation published by every node within {took:?}");

    // The rotated-out key still decrypts during its grace period …
    for (base, token) in nodes {
        let (status, answer) =
            set_password_status(base, token, &change_body(&old, "Gr4ce-Period-Works")).await;
        assert_eq!(status, 202, "{answer}");
    }
    // … until it is retired, after which no node accepts it.
    keys_cli(dir, env, &["retire", &old_id]);
    let took = every_node_refuses(nodes, &change_body(&old, "Retired-K3y-Refused")).await;
    eprintln!("retirement refused by every node within {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_the_cli_reaches_a_running_sqlite_node() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("PASSBROKER_MASTER_KEY".to_owned(), master_key())];
    let node = start(dir.path(), &env).await;
    let token = token(dir.path(), &node.base).await;
    rotate_and_retire(dir.path(), &env, &[(&node.base, &token)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_the_cli_reaches_every_postgres_node() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("PASSBROKER_MASTER_KEY".to_owned(), master_key()),
        ("PASSBROKER_DATABASE_URL".to_owned(), url),
        (
            "PASSBROKER_DATABASE_MAX_CONNECTIONS".to_owned(),
            "4".to_owned(),
        ),
    ];
    // Both nodes share the data dir: on PostgreSQL it holds only the demo's credentials.
    let a = start(dir.path(), &env).await;
    let b = start(dir.path(), &env).await;
    let token_a = token(dir.path(), &a.base).await;
    let token_b = token(dir.path(), &b.base).await;
    rotate_and_retire(
        dir.path(),
        &env,
        &[(&a.base, &token_a), (&b.base, &token_b)],
    )
    .await;
}
