//! TLS with the real binary (`cargo test -- tls`): `serve` over HTTPS with a CA made at run
//! time, the official SailPoint Python SDK (unmodified, verifying against that CA) running
//! the whole ISC flow, `healthcheck --ca-file`, and SIGHUP reloading the certificate.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::certs::Ca;
use support::{free_port, master_key, Server};

fn require_services() -> bool {
    std::env::var("PASSBROKER_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The Python of the venv with the official SDK (sailpoint 1.4.2), as scripts/conformance.sh
/// (or scripts/install-test-deps.sh) sets it up.
fn sdk_python() -> Option<PathBuf> {
    let dir =
        std::env::var("PASSBROKER_VENV_DIR").unwrap_or_else(|_| "/opt/passbroker-venvs".into());
    let python = Path::new(&dir).join("sdk1/bin/python");
    python.is_file().then_some(python)
}

struct TlsServer {
    server: Server,
    ca: Ca,
    dir: PathBuf,
    log: PathBuf,
    port: u16,
}

/// `serve --demo` over TLS on a free port; ready when `healthcheck --ca-file` says so.
async fn serve_tls(tmp: &Path) -> TlsServer {
    let ca = Ca::new();
    let (cert, key) = ca.leaf();
    let dir = tmp.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(tmp.join("cert.pem"), cert).unwrap();
    std::fs::write(tmp.join("key.pem"), key).unwrap();
    std::fs::write(tmp.join("ca.pem"), ca.pem()).unwrap();
    let port = free_port();
    let log = tmp.join("server.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .env_remove("PASSBROKER_CONFIG")
        .env("PASSBROKER_MASTER_KEY", master_key())
        .env("PASSBROKER_TLS_CERT_FILE", tmp.join("cert.pem"))
        .env("PASSBROKER_TLS_KEY_FILE", tmp.join("key.pem"))
        .env("PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS", "100000")
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("https://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if healthcheck(&server.base, &tmp.join("ca.pem")).0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the TLS server did not become ready:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    TlsServer {
        server,
        ca,
        dir,
        log,
        port,
    }
}

fn healthcheck(base: &str, ca: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .args([
            "healthcheck",
            "--url",
            base,
            "--ca-file",
            ca.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_official_python_sdk_runs_the_flow_verifying_the_ca() {
    let Some(python) = sdk_python() else {
        let why = "the SailPoint Python SDK venv is missing (scripts/install-test-deps.sh makes it; PASSBROKER_VENV_DIR)";
        assert!(!require_services(), "{why}");
        eprintln!("SKIPPED tls_official_python_sdk_runs_the_flow_verifying_the_ca: {why}");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = serve_tls(tmp.path()).await;
    let creds: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(t.dir.join("demo-credentials.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        creds["baseUrl"], t.server.base,
        "the credentials name https://"
    );
    let driver =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/sailpoint_sdk_py.py");
    let run = |ca: &Path| {
        Command::new(&python)
            .arg(&driver)
            .env("SSL_CERT_FILE", ca)
            .env("SAIL_BASE_URL", &t.server.base)
            .env("SAIL_CLIENT_ID", creds["clientId"].as_str().unwrap())
            .env(
                "SAIL_CLIENT_SECRET",
                creds["clientSecret"].as_str().unwrap(),
            )
            .env("CONF_PASSWORD", "Blue7-Kite-Rum9")
            .env("CONF_API_VERSIONS", "v3")
            .env("CONF_NEGATIVE", "0")
            .env("CONF_POLL_INTERVAL_S", "0.25")
            .env("CONF_DEADLINE_S", "90")
            .env("CONF_REQUEST_TIMEOUT_S", "5")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let started = Instant::now();
    let out = run(&tmp.path().join("ca.pem"));
    eprintln!("the SDK flow over TLS took {:?}", started.elapsed());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("PASS") && !text.contains("FAIL"),
        "the SDK over TLS:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The SDK's HTTP stack (urllib3, system trust from SSL_CERT_FILE), trusting another CA,
    // refuses the server; trusting the test CA, it reaches it.
    let stranger = tmp.path().join("other-ca.pem");
    std::fs::write(&stranger, Ca::new().pem()).unwrap();
    let probe = |ca: &Path| {
        Command::new(&python)
            .args([
                "-c",
                "import sys, urllib3; urllib3.PoolManager(retries=False).request('GET', sys.argv[1])",
            ])
            .arg(format!("{}/health/live", t.server.base))
            .env("SSL_CERT_FILE", ca)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = probe(&stranger);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("CERTIFICATE_VERIFY_FAILED"),
        "an unknown CA must not be trusted: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = probe(&tmp.path().join("ca.pem"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(t.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sighup_reloads_the_certificate_and_healthcheck_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let t = serve_tls(tmp.path()).await;
    let (ok, out) = healthcheck(&t.server.base, &tmp.path().join("ca.pem"));
    assert!(ok, "{out}");
    // Without --url the probe goes to the configured listen address over https.
    let out = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .arg("healthcheck")
        .env("PASSBROKER_LISTEN", format!("127.0.0.1:{}", t.port))
        .env("PASSBROKER_TLS_CERT_FILE", tmp.path().join("cert.pem"))
        .env("PASSBROKER_TLS_KEY_FILE", tmp.path().join("key.pem"))
        .env_remove("PASSBROKER_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Without the CA the healthcheck cannot verify the server.
    let other = tmp.path().join("other-ca.pem");
    std::fs::write(&other, Ca::new().pem()).unwrap();
    let (ok, out) = healthcheck(&t.server.base, &other);
    assert!(!ok, "{out}");

    // A certificate from a second CA, then SIGHUP: new connections get it.
    let ca2 = Ca::new();
    let (cert, key) = ca2.leaf();
    std::fs::write(tmp.path().join("ca2.pem"), ca2.pem()).unwrap();
    std::fs::write(tmp.path().join("key.pem"), key).unwrap();
    std::fs::write(tmp.path().join("cert.pem"), cert).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &t.server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !healthcheck(&t.server.base, &tmp.path().join("ca2.pem")).0 {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(&t.log).unwrap();
    assert!(
        log.contains("SIGHUP: reloading the TLS certificate"),
        "{log}"
    );
    let mut server = t.server;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop the server"
    );
    assert!(!healthcheck(&server.base, &tmp.path().join("ca.pem")).0);
    let _ = t.ca;
}
