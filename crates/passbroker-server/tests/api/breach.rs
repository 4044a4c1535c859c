//! Breached passwords (`cargo test -- breach`): a password the imported corpus has seen ends
//! FAILED with the breach rule and one it has not FINISHED; the range endpoint answers in the
//! Pwned Passwords format (padding, NTLM, public or token-protected); upstream mode consults
//! a second passbroker, with its timeout and both failure modes; a re-import under load loses
//! no request.

use crate::helpers::*;
use passbroker_breach::HashKind;
use serde_json::Value;

/// Writes a corpus of these passwords into `dir/breach` as the CLI would, then has the app
/// look again (it also does so by itself every 2 s).
fn import(app: &TestApp, kind: HashKind, entries: &[(&str, u64)]) {
    let mut lines: Vec<(String, u64)> = entries
        .iter()
        .map(|(p, c)| (hex::encode_upper(kind.hash(p)), *c))
        .collect();
    lines.sort();
    let file = app
        .data_dir
        .path()
        .join(format!("corpus-{}.txt", kind.name()));
    let text: String = lines.iter().map(|(h, c)| format!("{h}:{c}\r\n")).collect();
    std::fs::write(&file, text).unwrap();
    passbroker_breach::import(
        &file,
        &app.state.config.breach_dir(),
        Some(kind),
        &mut |_, _, _| {},
    )
    .unwrap();
    app.state.breach.refresh();
}

/// Turns the breach rule on in the demo's default policy.
async fn block_breached(app: &TestApp, min_count: i64) {
    let mut policy = app.state.store.default_policy().await.unwrap().unwrap();
    policy.block_breached_passwords = true;
    policy.breached_min_count = min_count;
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::UpsertPolicy(policy)])
        .await
        .unwrap();
}

async fn change(app: &TestApp, token: &str, password: &str) -> Value {
    let body = app
        .change_body(token, "Abby.Smith", "My-AD", password)
        .await;
    let id = app.set_password(token, &body).await;
    app.wait_terminal(token, &id).await
}

fn errors(status: &Value) -> String {
    status["errors"].to_string()
}

fn env(pairs: &[(&str, &str)]) -> Options {
    Options {
        env: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Options::default()
    }
}

#[tokio::test]
async fn breach_a_password_in_the_corpus_fails_with_the_breach_rule() {
    let app = spawn_app_with(env(&[("PASSBROKER_RATE_LIMIT_REQUESTS", "100000")])).await;
    import(
        &app,
        HashKind::Sha1,
        &[("Breached-Passw0rd", 1_234), ("Seen-0nce-Only", 1)],
    );
    block_breached(&app, 1).await;
    let token = app.token().await;
    let info = app.query_info(&token, "Abby.Smith", "My-AD").await;
    assert!(
        info["policies"]
            .to_string()
            .contains("passwordBlockBreached is 1"),
        "{info}"
    );
    let failed = change(&app, &token, "Breached-Passw0rd").await;
    assert_eq!(failed["state"], "FAILED", "{failed}");
    assert!(
        errors(&failed).contains("known data breaches (seen more than 1,000 times)"),
        "{failed}"
    );
    let finished = change(&app, &token, "Never-Breached-9x").await;
    assert_eq!(finished["state"], "FINISHED", "{finished}");
    // breachedMinCount: a password seen once passes a policy that refuses only the frequent.
    block_breached(&app, 2).await;
    assert_eq!(
        change(&app, &token, "Seen-0nce-Only").await["state"],
        "FINISHED"
    );
    assert_eq!(
        change(&app, &token, "Breached-Passw0rd").await["state"],
        "FAILED"
    );
}

#[tokio::test]
async fn breach_range_answers_in_the_pwned_passwords_format() {
    let app = spawn_app().await;
    import(&app, HashKind::Sha1, &[("password", 10_434_004)]);
    import(&app, HashKind::Ntlm, &[("password", 7)]);
    let token = app.token().await;
    let get = |path: &str, padding: bool, token: Option<&str>| {
        let mut r = app.http.get(app.url(path));
        if padding {
            r = r.header("Add-Padding", "true");
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = get("/passbroker/v1/pwned/range/5BAA6", false, None)
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "token-protected by default");
    let r = get("/passbroker/v1/pwned/range/5baa6", false, Some(&token))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    assert_eq!(
        r.text().await.unwrap(),
        "1E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004"
    );
    let padded = get("/passbroker/v1/pwned/range/5BAA6", true, Some(&token))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = padded.split("\r\n").collect();
    assert!((800..=1000).contains(&lines.len()), "{}", lines.len());
    assert!(lines.contains(&"1E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004"));
    assert!(lines
        .iter()
        .all(|l| l.len() >= 37 && l.as_bytes()[35] == b':'));
    let ntlm = get(
        "/passbroker/v1/pwned/range/8846F?mode=ntlm",
        false,
        Some(&token),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_eq!(ntlm, "7EAEE8FB117AD06BDD830B7586C:7");
    let empty = get("/passbroker/v1/pwned/range/00000", false, Some(&token))
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);
    assert_eq!(empty.text().await.unwrap(), "");
    for bad in ["5BAA", "5BAA6F", "XYZ12", "5BAA6?mode=md5"] {
        let r = get(
            &format!("/passbroker/v1/pwned/range/{bad}"),
            false,
            Some(&token),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.text().await.unwrap().contains("causes"));
    }
}

#[tokio::test]
async fn breach_a_public_range_needs_no_token_and_is_limited_per_address() {
    let app = spawn_app_with(env(&[
        ("PASSBROKER_BREACH_RANGE_PUBLIC", "true"),
        ("PASSBROKER_BREACH_RANGE_REQUESTS_PER_IP", "3"),
    ]))
    .await;
    import(&app, HashKind::Sha1, &[("password", 3)]);
    for _ in 0..3 {
        let r = app
            .http
            .get(app.url("/passbroker/v1/pwned/range/5BAA6"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = app
        .http
        .get(app.url("/passbroker/v1/pwned/range/5BAA6"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
}

/// A server that accepts connections and never answers (for the upstream timeout).
fn silent_server() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

#[tokio::test]
async fn breach_upstream_mode_consults_a_second_server() {
    let upstream = spawn_app_with(env(&[("PASSBROKER_BREACH_RANGE_PUBLIC", "true")])).await;
    import(&upstream, HashKind::Sha1, &[("Breached-Passw0rd", 50)]);
    let app = spawn_app_with(env(&[(
        "PASSBROKER_BREACH_UPSTREAM_URL",
        &upstream.url("/passbroker/v1/pwned"),
    )]))
    .await;
    block_breached(&app, 1).await;
    let token = app.token().await;
    let failed = change(&app, &token, "Breached-Passw0rd").await;
    assert_eq!(failed["state"], "FAILED", "{failed}");
    assert!(
        errors(&failed).contains("seen more than 10 times"),
        "{failed}"
    );
    assert_eq!(
        change(&app, &token, "Never-Breached-9x").await["state"],
        "FINISHED"
    );
    // The upstream's range route serves the second server's page too (proxied, cached).
    let r = app
        .http
        .get(app.url("/passbroker/v1/pwned/range/00000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn breach_an_unanswering_upstream_fails_closed_by_default_and_open_when_told() {
    let (_silent, url) = silent_server();
    let closed = spawn_app_with(env(&[
        ("PASSBROKER_BREACH_UPSTREAM_URL", &url),
        ("PASSBROKER_BREACH_UPSTREAM_TIMEOUT_MS", "300"),
        ("PASSBROKER_REQUEST_DEADLINE_SECS", "3"),
        ("PASSBROKER_RATE_LIMIT_REQUESTS", "100000"),
    ]))
    .await;
    block_breached(&closed, 1).await;
    let token = closed.token().await;
    let status = change(&closed, &token, "Never-Breached-9x").await;
    assert_eq!(status["state"], "FAILED", "{status}");
    assert!(
        errors(&status).contains("could not be checked against known data breaches"),
        "{status}"
    );
    assert!(errors(&status).contains("timed out"), "{status}");

    let open = spawn_app_with(env(&[
        ("PASSBROKER_BREACH_UPSTREAM_URL", &url),
        ("PASSBROKER_BREACH_UPSTREAM_TIMEOUT_MS", "300"),
        ("PASSBROKER_BREACH_UPSTREAM_FAILURE", "open"),
    ]))
    .await;
    block_breached(&open, 1).await;
    let token = open.token().await;
    let status = change(&open, &token, "Never-Breached-9x").await;
    assert_eq!(status["state"], "FINISHED", "{status}");
    let events = open.audit_events("BREACH_CHECK_SKIPPED").await;
    assert_eq!(events.len(), 1, "the skipped check is audited");
    assert_eq!(
        events[0].request_id.as_deref(),
        status["requestId"].as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn breach_an_atomic_reimport_under_load_loses_no_request() {
    let app = spawn_app_with(env(&[("PASSBROKER_RATE_LIMIT_REQUESTS", "100000")])).await;
    import(&app, HashKind::Sha1, &[("Breached-Passw0rd", 5)]);
    block_breached(&app, 1).await;
    let token = app.token().await;
    let mut posts = Vec::new();
    for n in 0..40 {
        let body = app
            .change_body(
                &token,
                "Abby.Smith",
                "My-AD",
                &format!("Fresh-Passw0rd-{n}"),
            )
            .await;
        posts.push(body);
    }
    // Re-import while the changes run: every re-import replaces the index file.
    let importer = {
        let dir = app.state.config.breach_dir();
        let file = app.data_dir.path().join("again.txt");
        let breach = app.state.breach.clone();
        std::thread::spawn(move || {
            for round in 0..5u64 {
                let mut lines: Vec<String> = ["Breached-Passw0rd", "Another-Breached-1"]
                    .iter()
                    .map(|p| {
                        format!(
                            "{}:{}",
                            hex::encode_upper(HashKind::Sha1.hash(p)),
                            round + 5
                        )
                    })
                    .collect();
                lines.sort();
                std::fs::write(&file, lines.join("\n")).unwrap();
                passbroker_breach::import(&file, &dir, None, &mut |_, _, _| {}).unwrap();
                breach.refresh();
            }
        })
    };
    let mut ids = Vec::new();
    for body in &posts {
        ids.push(app.set_password(&token, body).await);
    }
    importer.join().unwrap();
    for id in &ids {
        let status = app.wait_terminal(&token, id).await;
        assert_eq!(status["state"], "FINISHED", "{status}");
    }
    let failed = change(&app, &token, "Another-Breached-1").await;
    assert_eq!(
        failed["state"], "FAILED",
        "the last import is the one in use"
    );
}
