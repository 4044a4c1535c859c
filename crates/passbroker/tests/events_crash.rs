//! `kill -9` between a change and its event's delivery: the event is delivered after the
//! restart, once the receiver acknowledges it; a repeated delivery keeps its `webhook-id`.
//! The receiver is `tests/webhooks/receiver.py` (standardwebhooks verifies each delivery,
//! the CloudEvents SDK parses it).

#[path = "../../passbroker-server/tests/api/python.rs"]
mod python;
mod support;
#[path = "../../passbroker-server/tests/api/webhooks.rs"]
mod webhooks;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{encrypt, master_key, serve_demo, Server};
use webhooks::{types_for, Receiver};

fn passbroker(dir: &Path, key: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("PASSBROKER_CONFIG");
    for (k, v) in [
        ("PASSBROKER_MASTER_KEY", key),
        ("PASSBROKER_EVENTS_BACKOFF_MS", "20"),
        ("PASSBROKER_EVENTS_TIMEOUT_SECS", "1"),
        ("PASSBROKER_EVENTS_POLL_INTERVAL_MS", "50"),
        ("PASSBROKER_EVENTS_MAX_ATTEMPTS", "100"),
        ("PASSBROKER_LEASE_SECS", "2"),
    ] {
        cmd.env(k, v);
    }
    cmd
}

async fn token(http: &reqwest::Client, dir: &Path, base: &str) -> String {
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo-credentials.json")).unwrap())
            .unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", creds["clientId"].as_str().unwrap()),
        ("client_secret", creds["clientSecret"].as_str().unwrap()),
    ];
    let v: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_after_a_sigkill_between_commit_and_delivery() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    receiver.set_mode("500");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let key = master_key();
    let log = tmp.path().join("server.log");
    let server: Server = serve_demo(passbroker(&dir, &key), &log, Duration::from_secs(30)).await;
    let http = reqwest::Client::new();
    let tok = token(&http, &dir, &server.base).await;
    let created = post(
        &http,
        format!("{}/beta/trigger-subscriptions", server.base),
        &tok,
        json!({"name": "SIEM", "triggerId": "passbroker:all", "type": "HTTP",
               "httpConfig": {"url": receiver.url(), "httpDispatchMode": "SYNC"}}),
    )
    .await;
    receiver.set_secret(created["signingSecret"].as_str().unwrap());
    let info = post(
        &http,
        format!("{}/v3/query-password-info", server.base),
        &tok,
        json!({"userName": "Abby.Smith", "sourceName": "My-AD"}),
    )
    .await;
    let accepted = post(
        &http,
        format!("{}/v3/set-password", server.base),
        &tok,
        json!({"identityId": info["identityId"], "publicKeyId": info["publicKeyId"],
               "encryptedPassword": encrypt(info["publicKey"].as_str().unwrap(), b"Tq7#vLm2@pZx9!Rw"),
               "accountId": info["accounts"][0]["accountId"], "sourceId": info["sourceId"]}),
    )
    .await;
    let id = accepted["requestId"].as_str().unwrap().to_owned();
    // The change commits with its events; the receiver refuses them for now.
    receiver
        .wait_for(30, |d| d.iter().any(|x| x["answered"] == 500))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = http
            .get(format!("{}/v3/password-change-status/{id}", server.base))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        if v["state"] == "FINISHED" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL: nothing was acknowledged yet
    assert!(types_for(&receiver.deliveries(), &id).is_empty());
    receiver.set_mode("ok");
    let _server = serve_demo(passbroker(&dir, &key), &log, Duration::from_secs(30)).await;
    let got = receiver
        .wait_for(30, |d| {
            types_for(d, &id).last().map(String::as_str)
                == Some("passbroker.password.change.finished")
        })
        .await;
    let types = types_for(&got, &id);
    assert_eq!(
        types.first().map(String::as_str),
        Some("passbroker.password.change.accepted"),
        "{types:?}"
    );
    assert!(got.iter().all(|d| d["verified"] == true));
    // Every (event) was sent under one webhook-id, however often.
    let mut ids: HashMap<String, String> = HashMap::new();
    for d in &got {
        let ce = d["event"]["id"].as_str().unwrap().to_owned();
        let wh = d["webhookId"].as_str().unwrap().to_owned();
        assert_eq!(ids.entry(ce).or_insert_with(|| wh.clone()), &wh);
    }
}
