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
    // A syntax error inside a JSON array hides every record after it: no import, even when
    // bad rows may be skipped (the rest of the file would silently be left out).
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        "[\n  {\"userName\": \"Ann\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"x1\"},\n  {\"userName\": \"Dee\" \"sourceName\": \"Sim\"},\n  {\"userName\": \"Dee\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"x2\"}\n]\n",
    )
    .unwrap();
    let out = passbroker(
        &data,
        &[
            "tenant",
            "import",
            "accounts",
            broken.to_str().unwrap(),
            "--skip-bad-rows",
        ],
        &key,
    );
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("line 3:") && t.contains("cannot be read"),
        "{t}"
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

/// Imports larger than one chunk (2,000 records): a bad last record or a repeat across chunks
/// writes nothing; a re-import updates in place and keeps every id; accounts resolve their
/// identities by name or id in bulk.
#[test]
fn imports_span_chunks_stay_all_or_nothing_and_keep_ids_on_reimport() {
    let dir = tempfile::tempdir().unwrap();
    let key = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .args(["master-key", "generate"])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let data = dir.path().join("data");
    let file = dir.path().join("people.csv");
    let people = |display: &str, last: &str| {
        let mut csv = String::from("name,displayName,emailAddress\n");
        for n in 0..4_999 {
            csv.push_str(&format!("p{n:05},{display} {n},p{n}@example.com\n"));
        }
        csv.push_str(last);
        csv
    };
    let import = |kind: &str, path: &std::path::Path| {
        passbroker(
            &data,
            &["tenant", "import", kind, path.to_str().unwrap()],
            &key,
        )
    };

    std::fs::write(&file, people("P", "p04999,Last,not-an-email\n")).unwrap();
    let out = import("identities", &file);
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("line 5001:") && t.contains("emailAddress"),
        "{t}"
    );
    assert_eq!(identity_count(&data, &key), 0, "no chunk was committed");

    std::fs::write(&file, people("P", "P00001,Again,again@example.com\n")).unwrap();
    let out = import("identities", &file);
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("line 5001: repeats the record of line 3"),
        "{t}"
    );
    assert_eq!(identity_count(&data, &key), 0);

    std::fs::write(&file, people("P", "p04999,Last,last@example.com\n")).unwrap();
    let out = import("identities", &file);
    assert!(
        out.status.success() && text(&out).contains("imported 5000 record(s)"),
        "{}",
        text(&out)
    );
    // The directory as stored (the export leaves ids out).
    let stored = |data: &std::path::Path| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use passbroker_store::Store;
            let store = passbroker_store::sqlite::SqliteStore::open(
                &data.join("passbroker.db"),
                passbroker_store::sqlite::Durability::Normal,
            )
            .await
            .unwrap();
            let (people, _) = store
                .list_identities(passbroker_store::Page::all())
                .await
                .unwrap();
            let (accounts, _) = store
                .list_accounts(passbroker_store::Page::all())
                .await
                .unwrap();
            store.close().await;
            (people, accounts)
        })
    };
    let ids = |data: &std::path::Path| -> std::collections::BTreeMap<String, (String, String)> {
        stored(data)
            .0
            .into_iter()
            .map(|i| {
                (
                    i.login_name.as_str().to_owned(),
                    (i.id.as_str().to_owned(), i.display_name),
                )
            })
            .collect()
    };
    let before = ids(&data);
    assert_eq!(before.len(), 5000);

    std::fs::write(&file, people("Q", "p04999,Last,last@example.com\n")).unwrap();
    let out = import("identities", &file);
    assert!(out.status.success(), "{}", text(&out));
    let after = ids(&data);
    assert_eq!(after.len(), 5000, "a re-import updates, it does not add");
    for (name, (id, display)) in &after {
        assert_eq!(&before[name].0, id, "{name} kept its id");
        if name != "p04999" {
            assert!(display.starts_with("Q "), "{name} was updated: {display}");
        }
    }

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
    let accounts = dir.path().join("accounts.jsonl");
    let mut lines = String::new();
    for (n, (name, (id, _))) in after.iter().enumerate() {
        if n % 2 == 0 {
            lines.push_str(&format!("{{\"userName\": \"{}\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"uid={name}\"}}\n", name.to_uppercase()));
        } else {
            lines.push_str(&format!("{{\"identityId\": \"{id}\", \"sourceName\": \"Sim\", \"nativeIdentity\": \"uid={name}\"}}\n"));
        }
    }
    std::fs::write(&accounts, &lines).unwrap();
    let out = import("accounts", &accounts);
    assert!(
        out.status.success() && text(&out).contains("imported 5000 record(s)"),
        "{}",
        text(&out)
    );
    let accounts = stored(&data).1;
    assert_eq!(accounts.len(), 5000);
    let by_id: std::collections::HashMap<&str, &str> = after
        .iter()
        .map(|(name, (id, _))| (id.as_str(), name.as_str()))
        .collect();
    for a in &accounts {
        assert_eq!(
            a.native_id.as_str(),
            format!("uid={}", by_id[a.identity_id.as_str()]),
            "{a:?}"
        );
    }
}
