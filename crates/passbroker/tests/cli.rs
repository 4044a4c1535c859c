//! The `passbroker` command as an operator uses it.

mod support;

use std::process::{Command, Output, Stdio};

fn passbroker(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("PASSBROKER_CONFIG")
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

#[test]
fn malformed_config_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("PASSBROKER_WORKERS", "lots"),
        ("PASSBROKER_LISTEN", "nowhere"),
        ("PASSBROKER_RSA_KEY_BITS", "1024"),
        ("PASSBROKER_TOKEN_LIFETIME_SECS", "-5"),
    ] {
        let out = passbroker(dir.path(), &["serve", "--demo"], &[(key, value)]);
        assert!(!out.status.success(), "{key}={value} must stop start-up");
        let name = key.trim_start_matches("PASSBROKER_").to_lowercase();
        assert!(text(&out).contains(&name), "{key}: {}", text(&out));
    }
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "rate_limit_requests = \"many\"\n").unwrap();
    let out = passbroker(
        dir.path(),
        &["serve", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("rate_limit_requests"), "{}", text(&out));
}

#[test]
fn without_a_master_key_outside_demo_mode_it_refuses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = passbroker(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = passbroker(dir.path(), &["keys", "list"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("master key"), "{}", text(&out));
}

/// Run from the wrong directory, an admin command says where it looked for the database and
/// creates nothing (it used to blame the master key and leave an empty database behind).
#[test]
fn admin_commands_without_a_database_say_where_they_looked_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("passbroker-data");
    for args in [
        &["keys", "list"][..],
        &["clients", "list"],
        &["audit", "list"],
        &["tenant", "export"],
    ] {
        let out = passbroker(&data, args, &[]);
        assert!(!out.status.success(), "{args:?}");
        let t = text(&out);
        assert!(
            t.contains("no database at") && t.contains("--data-dir"),
            "{args:?}: {t}"
        );
        assert!(
            !data.join("passbroker.db").exists(),
            "{args:?} created a database"
        );
    }
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .arg("--version")
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        t.starts_with(&format!("passbroker {} (", env!("CARGO_PKG_VERSION"))),
        "{t}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(head) if std::env::var("PASSBROKER_BUILD_COMMIT").is_err() => {
            assert!(t.contains(&format!("commit {head}")), "{t} (HEAD {head})")
        }
        _ => assert!(t.contains("commit"), "{t}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_password_without_input_points_at_password_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passbroker"));
    cmd.arg("--data-dir")
        .arg(&data)
        .env_remove("PASSBROKER_CONFIG");
    let server = support::serve_demo(
        cmd,
        &dir.path().join("server.log"),
        std::time::Duration::from_secs(30),
    )
    .await;
    let out = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .arg("set-password")
        .arg("--credentials-file")
        .arg(data.join("demo-credentials.json"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--password-stdin"), "{}", text(&out));
    drop(server);
}

#[test]
fn tenant_apply_is_idempotent_and_admin_commands_work() {
    let dir = tempfile::tempdir().unwrap();
    let key = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .args(["master-key", "generate"])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    assert_eq!(key.len(), 44);
    let env = [("PASSBROKER_MASTER_KEY", key.as_str())];
    let file = dir.path().join("tenant.yaml");
    std::fs::write(
        &file,
        "identities:\n  - userName: Ann\n    userLevel: ORG_ADMIN\nsources:\n  - name: Sim\n    connector: simulated\n    features: [PASSWORD]\naccounts:\n  - identity: Ann\n    source: Sim\n    accountId: ann\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = passbroker(&data, &["tenant", "apply", file.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("3 created, 0 updated, 0 unchanged"),
        "{}",
        text(&out)
    );
    let out = passbroker(&data, &["tenant", "apply", file.to_str().unwrap()], &env);
    assert!(
        text(&out).contains("0 created, 0 updated, 3 unchanged"),
        "{}",
        text(&out)
    );
    let out = passbroker(
        &data,
        &["clients", "create", "--name", "ci", "--json"],
        &env,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["clientId"].as_str().unwrap().len(), 32);
    assert!(v["clientSecret"].as_str().unwrap().len() >= 40);
    let out = passbroker(
        &data,
        &[
            "pats", "create", "--user", "Ann", "--name", "laptop", "--json",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = passbroker(&data, &["keys", "rotate"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let out = passbroker(&data, &["keys", "list"], &env);
    let listing = text(&out);
    assert_eq!(listing.matches("ACTIVE").count(), 1, "{listing}");
    assert_eq!(listing.matches("DECRYPT_ONLY").count(), 1, "{listing}");
    let out = passbroker(&data, &["sources", "check", "Sim"], &env);
    assert!(
        out.status.success() && text(&out).contains("OK"),
        "{}",
        text(&out)
    );
    let export = text(&passbroker(&data, &["tenant", "export"], &env));
    assert!(export.contains("userName: Ann"), "{export}");
    assert!(
        !export.contains(v["clientSecret"].as_str().unwrap()),
        "no secrets in exports"
    );
    // A wrong master key is refused by name.
    let other = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_passbroker"))
            .args(["master-key", "generate"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let out = passbroker(
        &data,
        &["keys", "list"],
        &[("PASSBROKER_MASTER_KEY", other.trim())],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("does not match"), "{}", text(&out));
    // Master key rotation re-wraps everything; the new key then opens the store.
    let new_key = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_passbroker"))
            .args(["master-key", "generate"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let new_key_file = dir.path().join("new.key");
    std::fs::write(&new_key_file, new_key.trim()).unwrap();
    let out = passbroker(
        &data,
        &[
            "master-key",
            "rotate",
            "--new-key-file",
            new_key_file.to_str().unwrap(),
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = passbroker(
        &data,
        &["keys", "list"],
        &[("PASSBROKER_MASTER_KEY", new_key.trim())],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = passbroker(&data, &["keys", "list"], &env);
    assert!(
        !out.status.success(),
        "the old key no longer opens the store"
    );
}
