use super::*;

#[test]
fn layers_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nworkers = 3\n").unwrap();
    let env = vec![
        ("PASSBROKER_WORKERS".to_owned(), "5".to_owned()),
        ("OTHER".into(), "x".into()),
    ];
    let c = Config::load(Some(&file), &env, &Overrides::default()).unwrap();
    assert_eq!((c.listen.as_str(), c.workers), ("127.0.0.1:9000", 5));
    let o = Overrides {
        listen: Some("127.0.0.1:1".into()),
        ..Default::default()
    };
    assert_eq!(
        Config::load(Some(&file), &env, &o).unwrap().listen,
        "127.0.0.1:1"
    );
}

#[test]
fn postgres_urls_select_postgres_and_hide_their_password() {
    let env = vec![(
        "PASSBROKER_DATABASE_URL".to_owned(),
        "postgres://pb:s3cret@db.internal:5432/passbroker".to_owned(),
    )];
    let c = Config::load(None, &env, &Overrides::default()).unwrap();
    assert_eq!(
        c.database(),
        Database::Postgres {
            url: "postgres://pb:s3cret@db.internal:5432/passbroker".into()
        }
    );
    assert_eq!(
        c.database_display(),
        "postgres://pb:***@db.internal:5432/passbroker"
    );
    assert!(Config::default().database().is_sqlite());
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "from-file\n").unwrap();
    let env = vec![
        (
            "PASSBROKER_DATABASE_URL".to_owned(),
            "postgresql://pb@db/passbroker".to_owned(),
        ),
        (
            "PASSBROKER_DATABASE_PASSWORD_FILE".to_owned(),
            pw.display().to_string(),
        ),
    ];
    let c = Config::load(None, &env, &Overrides::default()).unwrap();
    assert_eq!(
        c.database_password()
            .unwrap()
            .map(|s| secrecy::ExposeSecret::expose_secret(&s).to_owned()),
        Some("from-file".into())
    );
    let env = vec![("PASSBROKER_DATABASE_URL".to_owned(), "mysql://x".to_owned())];
    assert!(Config::load(None, &env, &Overrides::default())
        .unwrap_err()
        .to_string()
        .contains("database_url"));
}

#[test]
fn bad_values_name_the_key() {
    let env = vec![("PASSBROKER_WORKERS".to_owned(), "many".to_owned())];
    let e = Config::load(None, &env, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("workers"), "{e}");
    let env = vec![("PASSBROKER_LISTEN".to_owned(), "nowhere".to_owned())];
    let e = Config::load(None, &env, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("listen"), "{e}");
    let env = vec![("PASSBROKER_RATE_LIMIT_REQUESTS".to_owned(), "0".to_owned())];
    let e = Config::load(None, &env, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("rate_limit_requests"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "listn = \"x\"\n").unwrap();
    let e = Config::load(Some(&file), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("listn"), "{e}");
}

#[test]
fn hardening_http_limits_are_layered_and_checked() {
    let env = vec![
        (
            "PASSBROKER_HTTP_MAX_CONNECTIONS".to_owned(),
            "500".to_owned(),
        ),
        (
            "PASSBROKER_HTTP_HEADER_TIMEOUT_SECS".to_owned(),
            "3".to_owned(),
        ),
        (
            "PASSBROKER_HTTP_IDLE_TIMEOUT_SECS".to_owned(),
            "4".to_owned(),
        ),
        (
            "PASSBROKER_HTTP_REQUEST_TIMEOUT_SECS".to_owned(),
            "70".to_owned(),
        ),
    ];
    let c = Config::load(None, &env, &Overrides::default()).unwrap();
    assert_eq!(
        (
            c.http_max_connections,
            c.http_header_timeout_secs,
            c.http_idle_timeout_secs,
            c.http_request_timeout_secs
        ),
        (500, 3, 4, 70)
    );
    let d = Config::default();
    assert!(d.http_request_timeout_secs > d.max_prefer_wait_secs);
    // A request timeout that would cut `Prefer: wait` short is refused.
    let env = vec![(
        "PASSBROKER_HTTP_REQUEST_TIMEOUT_SECS".to_owned(),
        "60".to_owned(),
    )];
    let e = Config::load(None, &env, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("http_request_timeout_secs"), "{e}");
    let env = vec![(
        "PASSBROKER_HTTP_HEADER_TIMEOUT_SECS".to_owned(),
        "0".to_owned(),
    )];
    let e = Config::load(None, &env, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("http_header_timeout_secs"), "{e}");
}

#[test]
fn zero_workers_make_an_intake_only_node_and_too_many_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passbroker.toml");
    std::fs::write(&file, "workers = 0\n").unwrap();
    let c = Config::load(Some(&file), &[], &Overrides::default()).unwrap();
    assert_eq!(c.workers, 0);
    std::fs::write(&file, "workers = 1025\n").unwrap();
    let err = Config::load(Some(&file), &[], &Overrides::default()).unwrap_err();
    assert!(err.to_string().contains("workers"), "{err}");
}
