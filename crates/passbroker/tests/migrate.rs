//! `passbroker migrate --from sqlite://… --to postgres://…` as an operator runs it, and the
//! admin commands against the PostgreSQL database afterwards. PostgreSQL comes from
//! `passbroker-store/tests/support/postgres.rs` (skipped loudly when not installed, unless
//! PASSBROKER_REQUIRE_SERVICES=1).

#[path = "../../passbroker-store/tests/support/postgres.rs"]
mod pg;

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
