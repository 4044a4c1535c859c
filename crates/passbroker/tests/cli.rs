//! The `passbroker` command as an operator uses it.

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
    let out = passbroker(dir.path(), &["keys", "list"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("master key"), "{}", text(&out));
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
