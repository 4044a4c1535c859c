//! `passbroker tenant import identities|accounts FILE`: CSV and JSON, every bad row reported
//! with its line, all or nothing unless --skip-bad-rows.

use std::process::{Command, Output, Stdio};

fn passbroker(data_dir: &std::path::Path, args: &[&str], key: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("PASSBROKER_CONFIG")
        .env("PASSBROKER_MASTER_KEY", key)
        .stdin(Stdio::null())
        .output()
        .expect("run passbroker")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn identity_count(data: &std::path::Path, key: &str) -> usize {
    let out = passbroker(data, &["tenant", "export", "--format", "json"], key);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["identities"].as_array().map_or(0, Vec::len)
}

#[test]
fn imports_are_all_or_nothing_and_name_each_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .args(["master-key", "generate"])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let data = dir.path().join("data");
    let bad = dir.path().join("people.csv");
    std::fs::write(&bad, "name,emailAddress,userLevel,department\nAnn,ann@example.com,ORG_ADMIN,IT\nBob,not-an-email,USER,Sales\nCid,cid@example.com,KING,Ops\n\"Dee\",dee@example.com,USER,\"R&D, Labs\"\n").unwrap();
    let out = passbroker(
        &data,
        &["tenant", "import", "identities", bad.to_str().unwrap()],
        &key,
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("line 3:")
            && t.contains("emailAddress")
            && t.contains("line 4:")
            && t.contains("userLevel"),
        "{t}"
    );
    assert!(t.contains("nothing changed"), "{t}");
    assert_eq!(identity_count(&data, &key), 0, "nothing was committed");

    let out = passbroker(
        &data,
        &[
            "tenant",
            "import",
            "identities",
            bad.to_str().unwrap(),
            "--skip-bad-rows",
        ],
        &key,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("imported 2 record(s)") && text(&out).contains("2 bad row(s) skipped"),
        "{}",
        text(&out)
    );
    assert_eq!(identity_count(&data, &key), 2);

    let sources = dir.path().join("tenant.yaml");
    std::fs::write(
        &sources,
        "sources:\n  - name: Sim\n    connector: simulated\n    features: [PASSWORD]\n",
    )
    .unwrap();
    assert!(
        passbroker(&data, &["tenant", "apply", sources.to_str().unwrap()], &key)
            .status
            .success()
    );
    let accounts = dir.path().join("accounts.json");
    std::fs::write(
        &accounts,
        "[\n  {\"userName\": \"Ann\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"ann\"},\n  {\"userName\": \"Zed\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"zed\"},\n  {\"userName\": \"Dee\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"ann\"}\n]\n",
    )
    .unwrap();
    let out = passbroker(
        &data,
        &["tenant", "import", "accounts", accounts.to_str().unwrap()],
        &key,
    );
    let t = text(&out);
    assert!(
        !out.status.success()
            && t.contains("line 3:")
            && t.contains("Zed")
            && t.contains("line 4:")
            && t.contains("repeats the record of line 2"),
        "{t}"
    );
    std::fs::write(&accounts, "{\"userName\": \"Ann\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"ann\", \"attributes\": {\"shell\": \"bash\"}}\n{\"userName\": \"Dee\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"dee\"}\n").unwrap();
    let out = passbroker(
        &data,
        &["tenant", "import", "accounts", accounts.to_str().unwrap()],
        &key,
    );
    assert!(
        out.status.success() && text(&out).contains("imported 2 record(s)"),
        "{}",
        text(&out)
    );
    // Importing again updates in place.
    let out = passbroker(
        &data,
        &["tenant", "import", "accounts", accounts.to_str().unwrap()],
        &key,
    );
    assert!(out.status.success(), "{}", text(&out));
    let export = passbroker(&data, &["tenant", "export", "--format", "json"], &key);
    let v: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(v["accounts"].as_array().unwrap().len(), 2, "{v}");
}
