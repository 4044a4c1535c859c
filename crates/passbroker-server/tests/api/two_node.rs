//! Several nodes on one PostgreSQL database (`cargo test --test api -- two_node`): two
//! Applications share the database and nothing else. A token from one node works on the
//! other, a request one node accepted is finished by the other's worker after the first
//! stops mid-request, the per-token rate limit holds across both, idempotency and key
//! rotations hold across both, and a SQLite tenant migrated with requests in flight finishes
//! them on PostgreSQL.
//!
//! PostgreSQL comes from `passbroker-store/tests/support/postgres.rs`: one throwaway
//! cluster for this test binary (or PASSBROKER_TEST_POSTGRES_URL), a fresh database per
//! test. Without PostgreSQL the tests print SKIP and pass, unless
//! PASSBROKER_REQUIRE_SERVICES=1.

#[path = "../../../passbroker-store/tests/support/postgres.rs"]
pub(crate) mod pg;

use crate::helpers::*;
use passbroker_core::time::Millis;
use serde_json::{json, Value};
use std::time::Duration;

/// The environment of a node on `url`, all nodes sharing `master_key`.
fn node_env(url: &str, master_key: &str) -> Vec<(String, String)> {
    vec![
        ("PASSBROKER_DATABASE_URL".into(), url.into()),
        ("PASSBROKER_MASTER_KEY".into(), master_key.into()),
        ("PASSBROKER_DATABASE_MAX_CONNECTIONS".into(), "8".into()),
    ]
}

fn master_key() -> String {
    passbroker_crypto::MasterKey::generate()
        .to_base64()
        .to_string()
}

/// A new database and the environment for its nodes, or None (skipped).
async fn cluster() -> Option<Vec<(String, String)>> {
    let url = pg::fresh_database().await?;
    Some(node_env(&url, &master_key()))
}

async fn node(env: &[(String, String)], workers: bool) -> TestApp {
    spawn_app_with(Options {
        workers,
        env: env.to_vec(),
    })
    .await
}

async fn status(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .get(&format!("/v3/password-change-status/{id}"), token)
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn two_node_a_token_from_node_a_works_on_node_b_and_keys_and_idempotency_are_shared() {
    let Some(env) = cluster().await else { return };
    let a = node(&env, true).await;
    let b = node(&env, true).await;
    assert!(a
        .state
        .store
        .get_client(&a.demo.client_id)
        .await
        .unwrap()
        .is_some());

    // A token node A issued verifies on node B (the signing keys are in the store).
    let token = a.token().await;
    let info = b.query_info(&token, "Abby.Smith", "My-AD").await;
    assert_eq!(
        info["publicKeyId"],
        a.query_info(&token, "Abby.Smith", "My-AD").await["publicKeyId"],
        "one RSA key ring"
    );

    // A set-password accepted by B is visible on A; with the same Idempotency-Key, a
    // re-post to the other node returns the first request.
    let body = a
        .change_body(&token, "Abby.Smith", "My-AD", "Tw0-Nodes-One-Db")
        .await;
    let post = |app: &TestApp| {
        app.http
            .post(app.url("/v3/set-password"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "cross-node-1")
            .json(&body)
            .send()
    };
    let first = post(&b).await.unwrap();
    assert_eq!(first.status(), 202);
    let id = first.json::<Value>().await.unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = post(&a).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(
        again.json::<Value>().await.unwrap()["requestId"],
        json!(id),
        "idempotent across nodes"
    );
    assert_eq!(a.wait_terminal(&token, &id).await["state"], "FINISHED");
    assert_eq!(a.state.store.count_requests(None).await.unwrap(), 1);

    // Node A rotates its token-signing key: B has never seen the new kid, reloads, verifies.
    for mut k in a.state.store.list_signing_keys().await.unwrap() {
        if k.state == passbroker_core::keys::KeyState::Active {
            k.state = passbroker_core::keys::KeyState::DecryptOnly;
            k.deactivated = Some(a.state.clock.now());
            a.state.store.update_signing_key(&k).await.unwrap();
        }
    }
    a.state.tokens.init(a.state.clock.now()).await.unwrap();
    let fresh = a.token().await;
    assert_ne!(kid(&fresh), kid(&token), "signed with the new key");
    assert_eq!(
        b.get(&format!("/v3/password-change-status/{id}"), &fresh)
            .await
            .status(),
        200,
        "B verifies A's new key"
    );
    assert_eq!(
        b.get(&format!("/v3/password-change-status/{id}"), &token)
            .await
            .status(),
        200,
        "and still the old one"
    );

    // Node A rotates the RSA key: a password encrypted to the new key is accepted by B (it
    // reloads on the unknown publicKeyId) and finished by whichever worker takes it.
    let new_key = a.state.keys.rotate(a.state.clock.now()).await.unwrap();
    let info = a.query_info(&fresh, "Abby.Smith", "My-AD").await;
    assert_eq!(info["publicKeyId"], json!(new_key.to_string()));
    let body = a
        .change_body(&fresh, "Abby.Smith", "My-AD", "R0tated-Key-Works")
        .await;
    let id2 = b.set_password(&fresh, &body).await;
    assert_eq!(b.wait_terminal(&fresh, &id2).await["state"], "FINISHED");
    b.stop().await;
    a.stop().await;
}

fn kid(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn two_node_a_change_accepted_by_node_a_is_finished_by_node_b_after_a_stops() {
    let Some(env) = cluster().await else { return };
    // Node A serves HTTP but its worker "dies" holding the request: it took the lease, then
    // the node went away before finishing.
    let a = node(&env, false).await;
    let token = a.token().await;
    let body = a
        .change_body(&token, "Abby.Smith", "My-AD", "Fail0ver-Works")
        .await;
    let id = a.set_password(&token, &body).await;
    let lease_ms = 2_000;
    let leased_at = a.state.clock.now();
    let taken = a
        .state
        .store
        .claim_request("node-a-worker-0", leased_at, lease_ms)
        .await
        .unwrap()
        .expect("A's worker takes it");
    assert_eq!(taken.id.to_string(), id);
    let demo = a.demo.clone();
    a.stop().await;

    // Node B starts with workers; it must wait for A's lease, then finish the request.
    let b = node(&env, true).await;
    let token_b = b.token_for(&demo.client_id, &demo.client_secret).await;
    let done = b.wait_terminal(&token_b, &id).await;
    assert_eq!(done["state"], "FINISHED", "{done}");
    let request = b
        .state
        .store
        .get_request(&passbroker_core::RequestId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.ciphertext, None, "erased when finished");
    let finished = request.finished.expect("finished time");
    assert!(
        finished >= Millis(leased_at.0 + lease_ms),
        "B waited for A's lease to run out ({} ms after the claim)",
        finished.0 - leased_at.0
    );
    b.stop().await;
}

#[tokio::test]
async fn two_node_a_burst_of_101_requests_over_both_nodes_on_one_token_gets_a_429() {
    let Some(env) = cluster().await else { return };
    let a = node(&env, true).await;
    let b = node(&env, true).await;
    // Another client's token: all tokens of one client also share a per-client budget.
    let setup = a.token_with_scopes(&["sp:scopes:all"]).await;
    let body = a
        .change_body(&setup, "Abby.Smith", "My-AD", "Burst-0f-101")
        .await;
    let id = a.set_password(&setup, &body).await;
    let path = format!("/v3/password-change-status/{id}");

    let token = a.token().await;
    let started = std::time::Instant::now();
    let mut burst = Vec::new();
    for n in 0..101 {
        let (http, url, token) = if n % 2 == 0 {
            (a.http.clone(), a.url(&path), token.clone())
        } else {
            (b.http.clone(), b.url(&path), token.clone())
        };
        burst.push(tokio::spawn(async move {
            http.get(url).bearer_auth(token).send().await.unwrap()
        }));
    }
    let mut ok = 0;
    let mut limited = Vec::new();
    for r in burst {
        let r = r.await.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => limited.push(r),
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the burst fits in one 10 s window"
    );
    assert_eq!(
        (ok, limited.len()),
        (100, 1),
        "100 pass, the 101st is refused, whichever node it reached"
    );
    let r = limited.pop().unwrap();
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("integer Retry-After");
    assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": " Rate Limit Exceeded "})
    );
    // Both nodes now refuse the token; another token is unaffected.
    assert_eq!(a.get(&path, &token).await.status(), 429);
    assert_eq!(b.get(&path, &token).await.status(), 429);
    assert_eq!(
        b.get(&path, &setup).await.status(),
        200,
        "the limit is per token"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn two_node_migrate_from_sqlite_to_postgres_keeps_counts_and_finishes_requests_in_flight() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    // A SQLite node accepts a change but never works it (no workers), then stops.
    let lite = spawn_app_with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let token = lite.token().await;
    let abby = lite.abby().await;
    let (pat_id, _) = lite.new_pat(&abby.identity.id, &["sp:scopes:all"]).await;
    lite.set_builtin_password(&abby.identity.id, "Bu1ltin-Pass")
        .await;
    let body = lite
        .change_body(&token, "Abby.Smith", "My-AD", "M1grated-In-Flight")
        .await;
    let id = lite.set_password(&token, &body).await;
    assert_eq!(status(&lite, &token, &id).await["state"], "IN_PROGRESS");
    let data_dir = lite.stop().await;

    // Copy everything into PostgreSQL.
    let sqlite = passbroker_store::sqlite::SqliteStore::open(
        &data_dir.path().join("passbroker.db"),
        passbroker_store::sqlite::Durability::Normal,
    )
    .await
    .unwrap();
    let target = passbroker_store::postgres::PostgresStore::connect(&url, 4)
        .await
        .unwrap();
    let counts = passbroker_store::copy::sqlite_to_postgres(&sqlite, &target)
        .await
        .unwrap();
    for c in &counts {
        assert_eq!(c.source, c.target, "{c:?}");
    }
    let of = |t: &str| {
        counts
            .iter()
            .find(|c| c.table == t)
            .map(|c| c.target)
            .unwrap_or_default()
    };
    assert_eq!((of("requests"), of("tasks")), (1, 1));
    assert!(
        of("rsa_keys") >= 1
            && of("signing_keys") >= 1
            && of("meta") >= 1
            && of("audit_events") >= 1
    );
    // Built-in logins: the demo's Abby and its help-desk agent.
    assert_eq!(
        (of("personal_access_tokens"), of("builtin_credentials")),
        (1, 2)
    );
    let lite_total: u64 = counts.iter().map(|c| c.source).sum();
    sqlite.close().await;
    target.close().await;

    // A PostgreSQL node on the same data dir (its master key and demo credentials) finishes
    // the request, and the old node's token still works: the signing keys came along.
    let env = vec![("PASSBROKER_DATABASE_URL".to_owned(), url.clone())];
    let node = spawn_in(data_dir, Options { workers: true, env }).await;
    let done = node.wait_terminal(&token, &id).await;
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert!(node.state.store.get_pat(&pat_id).await.unwrap().is_some());
    assert!(node
        .state
        .store
        .get_builtin_credential(&abby.identity.id)
        .await
        .unwrap()
        .is_some());
    assert!(lite_total > 0);
    node.stop().await;
}

#[tokio::test]
async fn two_node_prefer_wait_on_node_a_returns_when_node_b_finishes() {
    let Some(env) = cluster().await else { return };
    // A accepts but has no workers; B's worker is woken by A's notification and finishes the
    // change; A's waiting caller hears of it from B, not after the whole wait.
    let a = node(&env, false).await;
    let b = node(&env, true).await;
    let token = a.token().await;
    let body = a
        .change_body(&token, "Abby.Smith", "My-AD", "Wait-F0r-Other-Node")
        .await;
    let started = std::time::Instant::now();
    let r = a
        .http
        .post(a.url("/v3/set-password"))
        .bearer_auth(&token)
        .header("Prefer", "wait=30")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "FINISHED", "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered when B finished, not after the 30 s wait: {:?}",
        started.elapsed()
    );
    // A's back-pressure count follows the store, not only A's own workers.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while a.state.backlog.in_progress() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "A's backlog resyncs from the store"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.stop().await;
    a.stop().await;
}

/// Delivery records of the simulated target's log: (task id, outcome) per line.
fn deliveries(log: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            (
                v["taskId"].as_str().unwrap_or_default().to_owned(),
                v["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Points the demo's simulated `My-AD` at a delivery log, with this latency (the change lands
/// halfway through it) and room for every request at once. `log` is a path inside the data
/// dir (the only place the simulated connector may write).
async fn slow_logged_target(app: &TestApp, log: &std::path::Path, latency_ms: u64) {
    let mut source = app
        .state
        .store
        .find_source_by_name("My-AD")
        .await
        .unwrap()
        .unwrap();
    source.connector_config = json!({"latencyMs": latency_ms, "logFile": log});
    source.delivery.max_concurrency = 64;
    source.modified = Millis(source.modified.0 + 1);
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::UpsertSource(source)])
        .await
        .unwrap();
}

/// The ISC error shape of a 503 with a `Retry-After`.
async fn assert_unavailable(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 503, "{what} during the outage");
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{what}: a Retry-After"))
        .to_str()
        .unwrap()
        .parse()
        .expect("integer Retry-After");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body: Value = r.json().await.expect("a JSON body");
    assert_eq!(
        body["detailCode"], "503 Service Unavailable",
        "{what}: {body}"
    );
    assert!(body["trackingId"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["messages"][0]["text"].as_str().is_some(), "{body}");
    let cause = body["causes"][0]["text"].as_str().unwrap_or_default();
    assert!(cause.contains("unavailable"), "{what}: a cause: {body}");
}

/// Outages finding 2 and 3: PostgreSQL stops for 4 s (longer than the 2 s leases) while 40
/// requests are at a target that takes 1 s. Workers that have an outcome in hand keep it and
/// record it when the store is back; requests whose lease ran out are taken by the other
/// node, which asks the target before writing. Every request ends FINISHED and the target
/// log shows each change delivered exactly once. During the outage set-password and the
/// status answer 503 with ISC's error shape and a Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_node_outage_postgres_stop_with_requests_in_flight_writes_each_target_once() {
    let Some(mut cluster) = tokio::task::spawn_blocking(pg::OwnCluster::start)
        .await
        .unwrap()
    else {
        return;
    };
    let url = cluster.fresh_database().await;
    let mut env = node_env(&url, &master_key());
    env.push(("PASSBROKER_LEASE_SECS".into(), "2".into()));
    env.push(("PASSBROKER_WORKERS".into(), "24".into()));
    env.push(("PASSBROKER_RATE_LIMIT_REQUESTS".into(), "100000".into()));
    let a = node(&env, true).await;
    let b = node(&env, true).await;
    // One simulated target for both nodes: its delivery log is one file, linked into each
    // node's data dir (a hard link: a regular file in both, which the connector accepts).
    let log = a.data_dir.path().join("deliveries.log");
    std::fs::write(&log, b"").unwrap();
    std::fs::hard_link(&log, b.data_dir.path().join("deliveries.log")).unwrap();
    slow_logged_target(&a, std::path::Path::new("deliveries.log"), 1_000).await;
    let token = a.token().await;
    let info = a.query_info(&token, "Abby.Smith", "My-AD").await;
    let mut bodies: Vec<Value> = (0..41)
        .map(|n| {
            json!({
                "identityId": info["identityId"],
                "encryptedPassword": encrypt_pkcs1(
                    info["publicKey"].as_str().unwrap(),
                    format!("0utage-Passw0rd-{n}").as_bytes(),
                ),
                "publicKeyId": info["publicKeyId"],
                "accountId": info["accounts"][0]["accountId"],
                "sourceId": info["sourceId"],
            })
        })
        .collect();
    let during_outage = bodies.pop().unwrap();
    let mut posts = Vec::new();
    for (n, body) in bodies.into_iter().enumerate() {
        let (http, url) = if n % 2 == 0 {
            (a.http.clone(), a.url("/v3/set-password"))
        } else {
            (b.http.clone(), b.url("/v3/set-password"))
        };
        let token = token.clone();
        posts.push(tokio::spawn(async move {
            let r = http.post(url).bearer_auth(token).json(&body).send().await;
            let r = r.unwrap();
            assert_eq!(r.status(), 202);
            r.json::<Value>().await.unwrap()["requestId"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut ids = Vec::new();
    for p in posts {
        ids.push(p.await.unwrap());
    }
    // Stop PostgreSQL once the first changes have landed: the targets answer (after 1 s)
    // while it is down.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while deliveries(&log).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let finished_before = a
        .state
        .store
        .count_requests(Some(passbroker_core::request::RequestState::Finished))
        .await
        .unwrap();
    let mut cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    let stopped = std::time::Instant::now();
    assert!(
        finished_before < 40,
        "the stop came with requests in flight ({finished_before} finished)"
    );

    assert_unavailable(
        a.post_json("/v3/set-password", &token, &during_outage)
            .await,
        "set-password",
    )
    .await;
    assert_unavailable(
        b.get(&format!("/v3/password-change-status/{}", ids[0]), &token)
            .await,
        "password-change-status",
    )
    .await;

    // Down for 4 s in all: every lease (2 s) runs out.
    let outage = Duration::from_secs(4);
    if let Some(rest) = outage.checked_sub(stopped.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let mut cluster = tokio::task::spawn_blocking(move || {
        cluster.resume();
        cluster
    })
    .await
    .unwrap();

    // Every request ends FINISHED (polling through the first reconnects).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for id in &ids {
        loop {
            let r = a
                .get(&format!("/v3/password-change-status/{id}"), &token)
                .await;
            if r.status() == 200 {
                let v: Value = r.json().await.unwrap();
                if v["state"] != "IN_PROGRESS" {
                    assert_eq!(v["state"], "FINISHED", "{v}");
                    break;
                }
            } else {
                assert_eq!(r.status(), 503, "only 503 while reconnecting");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "request {id} did not finish within 30 s of the restart"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Each change reached the target exactly once.
    let mut per_task = std::collections::HashMap::<String, usize>::new();
    for (task, outcome) in deliveries(&log) {
        assert_eq!(outcome, "SUCCEEDED");
        *per_task.entry(task).or_default() += 1;
    }
    assert_eq!(per_task.len(), 40, "each request's target was changed");
    let doubles: Vec<_> = per_task.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubles.is_empty(), "changes delivered twice: {doubles:?}");
    let (_, verified) = a
        .state
        .store
        .list_audit(
            &passbroker_store::AuditFilter {
                action: Some("PASSWORD_CHANGE_TARGET_VERIFIED".into()),
                ..Default::default()
            },
            passbroker_store::Page::default(),
        )
        .await
        .unwrap();
    eprintln!(
        "outage: {finished_before} finished before the stop; {verified} verified at the target after it"
    );
    // The one refused during the outage was never accepted.
    assert_eq!(a.state.store.count_requests(None).await.unwrap(), 40);
    b.stop().await;
    a.stop().await;
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap();
}

/// The per-client budget and the per-address budget for failed authentication count in the
/// shared database: a client's tokens share one budget whichever node they reach, and bad
/// tokens sent to both nodes from one address exhaust one budget.
#[tokio::test]
async fn two_node_hardening_client_and_failed_auth_budgets_are_shared() {
    let Some(mut env) = cluster().await else {
        return;
    };
    env.push(("PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS".into(), "10".into()));
    env.push(("PASSBROKER_AUTH_FAILURES_PER_IP".into(), "6".into()));
    let a = node(&env, false).await;
    let b = node(&env, false).await;
    let (id, secret) = a
        .new_client(&["sp:scopes:all"], &["client_credentials"])
        .await;
    let token_a = a.token_for(&id, &secret).await;
    let token_b = b.token_for(&id, &secret).await;
    let path = "/v3/password-change-status/2c9180835d2e5168015d32f890ca1581";
    let mut statuses = Vec::new();
    for n in 0..12 {
        let r = if n % 2 == 0 {
            a.get(path, &token_a).await
        } else {
            b.get(path, &token_b).await
        };
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[404; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");

    // Right shape, wrong signature.
    let mut parts: Vec<String> = token_a.split('.').map(str::to_owned).collect();
    parts[2] = "A".repeat(parts[2].len());
    let forged = parts.join(".");
    let mut statuses = Vec::new();
    for n in 0..8 {
        let node = if n % 2 == 0 { &a } else { &b };
        statuses.push(node.get(path, &forged).await.status().as_u16());
    }
    assert_eq!(&statuses[..6], &[401; 6], "{statuses:?}");
    assert_eq!(&statuses[6..], &[429, 429], "{statuses:?}");
    b.stop().await;
    a.stop().await;
}
