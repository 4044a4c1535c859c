//! What the binary's end-to-end tests share: a `passbroker serve --demo` child process on a
//! free 127.0.0.1 port (killed when dropped), a fresh master key, and ISC-style encryption.
#![allow(dead_code)] // each test binary uses its own part

pub mod certs;

use base64::Engine;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// SIGTERM, then wait (bounded) for the graceful shutdown to finish.
    pub fn stop_gracefully(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not stop within 20 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `cmd serve --demo` on a free port, its output appended to `log`, and waits (at most
/// `ready_within`) until `/health/ready` answers 200.
pub async fn serve_demo(cmd: Command, log: &Path, ready_within: Duration) -> Server {
    serve_with(cmd, &["--demo"], log, ready_within).await
}

/// Runs `cmd serve ARGS…` on a free port, as [`serve_demo`] does.
pub async fn serve_with(
    mut cmd: Command,
    args: &[&str],
    log: &Path,
    ready_within: Duration,
) -> Server {
    let port = free_port();
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = cmd
        .arg("serve")
        .args(args)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + ready_within;
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/health/ready")).await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Server { child, base }
}

/// A fresh master key from `passbroker master-key generate`.
pub fn master_key() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .args(["master-key", "generate"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// RSA PKCS#1 v1.5 with the base64 DER key query-password-info returns, base64 out (as the
/// ISC SDKs encrypt).
pub fn encrypt(public_key: &str, plaintext: &[u8]) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(public_key)
        .unwrap();
    let rsa = openssl::pkey::PKey::public_key_from_der(&der)
        .unwrap()
        .rsa()
        .unwrap();
    let mut out = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(plaintext, &mut out, openssl::rsa::Padding::PKCS1)
        .unwrap();
    out.truncate(n);
    base64::engine::general_purpose::STANDARD.encode(out)
}
