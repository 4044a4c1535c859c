//! TLS in the server (`cargo test -- tls`): a CA and certificates made at run time, clients
//! that verify against that CA, TLS 1.2+ only, HTTP/2 by ALPN, HSTS and `Secure` cookies, a
//! certificate rotated under load with no failed request, and bad files refused.

use crate::helpers::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The CA and server certificates are the binary's TLS tests' own (one copy of that code).
#[path = "../../../passbroker/tests/support/certs.rs"]
mod certs;
pub use certs::Ca;

/// Writes `bytes` to `path` by renaming a sibling over it (as certificate tools do).
fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

struct TlsApp {
    app: TestApp,
    _dir: tempfile::TempDir,
    ca: Ca,
    cert_file: PathBuf,
    key_file: PathBuf,
    /// Verifies against the test CA only.
    client: reqwest::Client,
}

impl TlsApp {
    fn url(&self, path: &str) -> String {
        self.app.url(path).replacen("http://", "https://", 1)
    }
    fn host(&self) -> String {
        self.app.address.trim_start_matches("http://").to_owned()
    }
}

fn client_for(ca: &Ca, fresh_connections: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca.pem()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20));
    if fresh_connections {
        b = b.pool_max_idle_per_host(0);
    }
    b.build().unwrap()
}

async fn spawn_tls() -> TlsApp {
    spawn_tls_with(Vec::new()).await
}

async fn spawn_tls_with(extra_env: Vec<(String, String)>) -> TlsApp {
    let ca = Ca::new();
    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    let (cert, key) = ca.leaf();
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let app = spawn_app_with(Options {
        env: vec![
            (
                "PASSBROKER_TLS_CERT_FILE".into(),
                cert_file.display().to_string(),
            ),
            (
                "PASSBROKER_TLS_KEY_FILE".into(),
                key_file.display().to_string(),
            ),
        ]
        .into_iter()
        .chain(extra_env)
        .collect(),
        ..Options::default()
    })
    .await;
    let client = client_for(&ca, false);
    TlsApp {
        app,
        _dir: dir,
        ca,
        cert_file,
        key_file,
        client,
    }
}

/// A rustls client trusting only `ca`, offering `alpn`.
fn rustls_client(ca: &Ca, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(&ca.pem()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// The leaf certificate (DER) a new connection is served.
async fn served_certificate(t: &TlsApp) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(t.host()).await.unwrap();
    let tls = rustls_client(&t.ca, &[b"http/1.1"])
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der_of(pem: &[u8]) -> Vec<u8> {
    openssl::x509::X509::from_pem(pem)
        .unwrap()
        .to_der()
        .unwrap()
}

#[tokio::test]
async fn tls_serves_https_verified_against_the_ca_with_hsts() {
    let t = spawn_tls().await;
    let r = t.client.get(t.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000",
        "HSTS on every response over TLS"
    );

    // A client that does not trust the CA refuses the server.
    let stranger = client_for(&Ca::new(), false);
    assert!(stranger.get(t.url("/health/ready")).send().await.is_err());

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(t.app.url("/health/ready"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP must not be served on the TLS port"
    );

    // The demo credentials name the https:// URL.
    assert!(
        t.app.demo.base_url.starts_with("https://"),
        "{}",
        t.app.demo.base_url
    );

    // The whole ISC flow over TLS.
    let token = {
        let r = t
            .client
            .post(t.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", t.app.demo.client_id.as_str()),
                ("client_secret", t.app.demo.client_secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let info: serde_json::Value = t
        .client
        .post(t.url("/v3/query-password-info"))
        .bearer_auth(&token)
        .json(&json!({"userName": "Abby.Smith", "sourceName": "My-AD"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = json!({
        "identityId": info["identityId"],
        "encryptedPassword": encrypt_pkcs1(info["publicKey"].as_str().unwrap(), b"Tls-Rotat3d-Pass"),
        "publicKeyId": info["publicKeyId"],
        "accountId": info["accounts"][0]["accountId"],
        "sourceId": info["sourceId"],
    });
    let r = t
        .client
        .post(t.url("/v3/set-password"))
        .bearer_auth(&token)
        .header("Prefer", "wait=20")
        .json(&body)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["state"], "FINISHED", "{v}");
}

#[tokio::test]
async fn tls_offers_http2_by_alpn_and_refuses_tls_1_1() {
    let t = spawn_tls().await;
    // HTTP/2 when the client offers it.
    let tcp = tokio::net::TcpStream::connect(t.host()).await.unwrap();
    let tls = rustls_client(&t.ca, &[b"h2", b"http/1.1"])
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for _ in 0..3 {
        let req = hyper::Request::get(t.url("/health/live"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        assert_eq!(
            resp.headers()["strict-transport-security"],
            "max-age=31536000"
        );
    }

    // HTTP/1.1 when it does not.
    let tcp = tokio::net::TcpStream::connect(t.host()).await.unwrap();
    let tls = rustls_client(&t.ca, &[])
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    let r = t.client.get(t.url("/health/live")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);

    // TLS 1.1 (and older) is refused; TLS 1.2 is accepted.
    for (version, ok) in [
        (openssl::ssl::SslVersion::TLS1_1, false),
        (openssl::ssl::SslVersion::TLS1_2, true),
    ] {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        b.set_min_proto_version(Some(openssl::ssl::SslVersion::TLS1))
            .unwrap();
        b.set_max_proto_version(Some(version)).unwrap();
        // Old protocol versions need the lowest security level to be offered at all.
        b.set_security_level(0);
        b.cert_store_mut().add_cert(t.ca.cert.clone()).unwrap();
        let connector = b.build();
        let host = t.host();
        let result = tokio::task::spawn_blocking(move || {
            let tcp = std::net::TcpStream::connect(host).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            connector
                .connect("127.0.0.1", tcp)
                .map(|s| s.ssl().version_str().to_owned())
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap();
        assert_eq!(result.is_ok(), ok, "{version:?}: {result:?}");
        if let Err(e) = result {
            // The server's alert (rustls answers an unsupported version with
            // handshake_failure), not a client-side problem.
            assert!(e.contains("tls alert"), "refused for another reason: {e}");
        }
    }
}

#[tokio::test]
async fn tls_page_cookie_is_secure_and_host_prefixed() {
    let t = spawn_tls().await;
    let r = t
        .client
        .post(t.url("/passbroker/v1/session"))
        .json(&json!({
            "userName": t.app.demo.user_name,
            "password": t.app.demo.user_password.clone().unwrap(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-passbroker_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
}

/// Clients open a new verified connection for every request while the certificate is
/// replaced twice (once with a pair written in two steps, whose half-way state must be
/// refused); no request fails, and new connections get the new certificate.
#[tokio::test]
async fn tls_certificate_rotates_under_load_without_a_failed_request() {
    let t = Arc::new(spawn_tls().await);
    let first = served_certificate(&t).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (t, done, ok, failures) = (t.clone(), done.clone(), ok.clone(), failures.clone());
        load.push(tokio::spawn(async move {
            let client = client_for(&t.ca, true);
            while !done.load(Ordering::Acquire) {
                match client.get(t.url("/health/ready")).send().await {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures
                        .lock()
                        .unwrap()
                        .push(format!("HTTP {}", r.status())),
                    Err(e) => failures.lock().unwrap().push(format!("{e:?}")),
                }
            }
        }));
    }

    let wait_for = |want: Vec<u8>| {
        let t = t.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if served_certificate(&t).await == want {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "the new certificate was not picked up"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    // 1. Atomic replacement: key, then certificate, each renamed into place.
    let (cert2, key2) = t.ca.leaf();
    replace_file(&t.key_file, &key2);
    replace_file(&t.cert_file, &cert2);
    wait_for(der_of(&cert2)).await;
    assert_ne!(der_of(&cert2), first);

    // 2. A half-written pair (a new key beside the old certificate) is refused, and the
    // certificate in use stays until the pair matches again.
    let (cert3, key3) = t.ca.leaf();
    std::fs::write(&t.key_file, &key3).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !captured_logs().contains("TLS certificate not reloaded") {
        assert!(
            Instant::now() < deadline,
            "the mismatched pair was not seen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served_certificate(&t).await, der_of(&cert2));
    std::fs::write(&t.cert_file, &cert3).unwrap();
    wait_for(der_of(&cert3)).await;

    done.store(true, Ordering::Release);
    for l in load {
        l.await.unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(ok.load(Ordering::Relaxed) >= 20, "too little load to tell");
}

#[tokio::test]
async fn tls_bad_files_stop_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, _) = ca.leaf();
    let (_, other_key) = ca.leaf();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, other_key).unwrap();
    std::fs::write(&garbage, b"not PEM at all").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases: [(&Path, &Path, &str); 4] = [
        (&cert_file, &key_file, "do not make a usable pair"),
        (&garbage, &key_file, "tls_cert_file"),
        (&cert_file, &garbage, "tls_key_file"),
        (&missing, &key_file, "tls_cert_file"),
    ];
    for (cert, key, want) in cases {
        let env = vec![
            (
                "PASSBROKER_TLS_CERT_FILE".to_owned(),
                cert.display().to_string(),
            ),
            (
                "PASSBROKER_TLS_KEY_FILE".to_owned(),
                key.display().to_string(),
            ),
        ];
        let data = tempfile::tempdir().unwrap();
        let overrides = passbroker_server::config::Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data.path().to_path_buf()),
            demo: true,
            log_format: None,
        };
        let config = passbroker_server::config::Config::load(None, &env, &overrides).unwrap();
        let err = passbroker_server::app::Application::build(config)
            .await
            .err()
            .expect("bad TLS files must stop start-up")
            .to_string();
        assert!(err.contains(want), "{err}");
    }
    // One file without the other is a configuration error.
    let env = vec![(
        "PASSBROKER_TLS_CERT_FILE".to_owned(),
        cert_file.display().to_string(),
    )];
    let err = passbroker_server::config::Config::load(
        None,
        &env,
        &passbroker_server::config::Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tls_key_file"), "{err}");
}

/// A client that opens a connection and stalls in (or before) the TLS handshake is closed
/// after the header timeout; real clients are served meanwhile.
#[tokio::test]
async fn tls_hardening_stalled_handshakes_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = spawn_tls_with(vec![(
        "PASSBROKER_HTTP_HEADER_TIMEOUT_SECS".into(),
        "1".into(),
    )])
    .await;
    // Silent, and a ClientHello's first bytes only.
    let mut silent = tokio::net::TcpStream::connect(t.host()).await.unwrap();
    let mut partial = tokio::net::TcpStream::connect(t.host()).await.unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let r = t.client.get(t.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for (name, stream) in [("silent", &mut silent), ("partial", &mut partial)] {
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "{name}: the stalled handshake was not closed: {read:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{name}");
    }
}
