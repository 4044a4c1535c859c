//! `passbroker migrate --from sqlite://… --to postgres://…` as an operator runs it, and the
//! admin commands against the PostgreSQL database afterwards. PostgreSQL comes from
//! `passbroker-store/tests/support/postgres.rs` (skipped loudly when not installed, unless
//! PASSBROKER_REQUIRE_SERVICES=1).

#[path = "../../passbroker-store/tests/support/postgres.rs"]
mod pg;
mod support;

use std::process::{Command, Output, Stdio};

fn passbroker(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("PASSBROKER_CONFIG")
        .env_remove("PASSBROKER_DATABASE_URL")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run passbroker")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `postgres://user:secret@host/db?q` → (`postgres://user@host/db?q`, `secret`).
fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    (format!("{scheme}://{user}@{host}"), password.to_owned())
}

#[tokio::test]
async fn postgres_migrate_copies_a_tenant_prints_counts_and_admin_commands_work_on_it() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .args(["master-key", "generate"])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let file = dir.path().join("tenant.yaml");
    std::fs::write(
        &file,
        "identities:\n  - userName: Ann\n    userLevel: ORG_ADMIN\n  - userName: Bob\nsources:\n  - name: Sim\n    connector: simulated\n    features: [PASSWORD]\naccounts:\n  - identity: Ann\n    source: Sim\n    accountId: ann\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let lite = [("PASSBROKER_MASTER_KEY", key.as_str())];
    let out = passbroker(&data, &["tenant", "apply", file.to_str().unwrap()], &lite);
    assert!(out.status.success(), "{}", text(&out));
    let keys_before = text(&passbroker(&data, &["keys", "list"], &lite));

    // The password comes from a file, not the URL, and appears nowhere in the output.
    let (bare_url, password) = split_password(&url);
    let pw_file = dir.path().join("db-password");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let pw_env = (
        "PASSBROKER_DATABASE_PASSWORD_FILE",
        pw_file.to_str().unwrap(),
    );
    let from = format!("sqlite://{}", data.join("passbroker.db").display());
    let out = passbroker(
        &data,
        &["migrate", "--from", &from, "--to", &bare_url],
        &[pw_env],
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(!shown.contains(&password), "the password is not printed");
    let row = |table: &str| {
        shown
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>())
    };
    assert_eq!(row("identities"), Some(vec!["2", "2"]), "{shown}");
    assert_eq!(row("accounts"), Some(vec!["1", "1"]), "{shown}");
    assert_eq!(row("meta").map(|r| r[0] == r[1]), Some(true), "{shown}");
    assert!(shown.contains("every count matches"), "{shown}");

    // A second copy into the same database is refused.
    let out = passbroker(
        &data,
        &["migrate", "--from", &from, "--to", &bare_url],
        &[pw_env],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));

    // The admin commands now run against PostgreSQL: the same keys, unwrapped with the same
    // master key; `migrate` alone reports the PostgreSQL schema without the password.
    let on_pg = [
        ("PASSBROKER_MASTER_KEY", key.as_str()),
        ("PASSBROKER_DATABASE_URL", bare_url.as_str()),
        pw_env,
    ];
    let out = passbroker(&data, &["keys", "list"], &on_pg);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out), keys_before, "the same key ring");
    let out = passbroker(&data, &["migrate"], &on_pg);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("schema version"), "{}", text(&out));
    let out = passbroker(
        &data,
        &["migrate"],
        &[("PASSBROKER_DATABASE_URL", url.as_str())],
    );
    assert!(text(&out).contains(":***@"), "{}", text(&out));
    assert!(!text(&out).contains(&password), "{}", text(&out));
}

/// PostgreSQL's own tools, as README's "Backup and restore" gives them: those of the newest installed PostgreSQL (`/usr/lib/postgresql/<newest>/bin`).
fn pg_tool(name: &str) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin").join(name)))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, p)| p)
}

/// README's PostgreSQL backup: `pg_dump --format=custom`, `pg_restore --no-owner` into a new
/// database, and the restored tenant works with the same master key (the key ring unwraps,
/// the API client gets a token, a change finishes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_with_pg_dump_and_pg_restore_keeps_a_working_tenant() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let (Some(pg_dump), Some(pg_restore)) = (pg_tool("pg_dump"), pg_tool("pg_restore")) else {
        pg::missing("pg_dump / pg_restore are not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = support::master_key();
    let file = dir.path().join("tenant.yaml");
    std::fs::write(
        &file,
        "identities:\n  - userName: Ann\nsources:\n  - name: Sim\n    connector: simulated\n    features: [PASSWORD]\naccounts:\n  - identity: Ann\n    source: Sim\n    accountId: ann\n",
    )
    .unwrap();
    let on = |db: &str| {
        [
            ("PASSBROKER_MASTER_KEY", key.clone()),
            ("PASSBROKER_DATABASE_URL", db.to_owned()),
        ]
    };
    let env1 = on(&url);
    let env1: Vec<(&str, &str)> = env1.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = passbroker(&data, &["tenant", "apply", file.to_str().unwrap()], &env1);
    assert!(out.status.success(), "{}", text(&out));
    let out = passbroker(
        &data,
        &["clients", "create", "--name", "ci", "--json"],
        &env1,
    );
    assert!(out.status.success(), "{}", text(&out));
    let client: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys_before = text(&passbroker(&data, &["keys", "list"], &env1));

    let dump = dir.path().join("passbroker.dump");
    let out = Command::new(&pg_dump)
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_dump: {}", text(&out));
    let restored = pg::fresh_database().await.unwrap();
    let out = Command::new(&pg_restore)
        .args(["--no-owner", "--exit-on-error", "-d", &restored])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_restore: {}", text(&out));

    let env2 = on(&restored);
    let env2: Vec<(&str, &str)> = env2.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = passbroker(&data, &["keys", "list"], &env2);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out), keys_before, "the same key ring, unwrapped");

    let mut serve = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    serve
        .arg("--data-dir")
        .arg(&data)
        .env_remove("PASSBROKER_CONFIG")
        .envs(env2.iter().copied());
    let server = support::serve_with(
        serve,
        &[],
        &dir.path().join("server.log"),
        std::time::Duration::from_secs(30),
    )
    .await;
    let http = reqwest::Client::new();
    let tok: serde_json::Value = http
        .post(format!("{}/oauth/token", server.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client["clientId"].as_str().unwrap()),
            ("client_secret", client["clientSecret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"]
        .as_str()
        .expect("a token from the restored database");
    let info: serde_json::Value = http
        .post(format!("{}/v3/query-password-info", server.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"userName": "Ann", "sourceName": "Sim"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = serde_json::json!({"identityId": info["identityId"],
        "encryptedPassword": support::encrypt(info["publicKey"].as_str().unwrap(), b"Restored-Passw0rd"),
        "publicKeyId": info["publicKeyId"], "accountId": info["accounts"][0]["accountId"],
        "sourceId": info["sourceId"]});
    let v: serde_json::Value = http
        .post(format!("{}/v3/set-password", server.base))
        .bearer_auth(token)
        .header("Prefer", "wait=20")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["state"], "FINISHED", "{v}");
    server.stop_gracefully();
}
