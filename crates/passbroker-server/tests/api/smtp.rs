//! A real SMTP server for the tests: `tests/smtp/smtp_sink.py` (aiosmtpd, installed into the
//! test venv by `scripts/install-services.sh`) on 127.0.0.1, storing each message it receives
//! as a file the test reads. Without Python's aiosmtpd the test skips loudly, and fails under
//! `PASSBROKER_REQUIRE_SERVICES=1`.

use crate::python::{missing, python_with};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/smtp/smtp_sink.py")
}

pub enum Mode {
    Plain,
    /// STARTTLS required, with this certificate and key (PEM files).
    StartTls(PathBuf, PathBuf),
    /// Implicit TLS.
    Tls(PathBuf, PathBuf),
}

pub struct SmtpSink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl SmtpSink {
    /// Starts a sink; `None` (after a loud skip) when aiosmtpd is not installed.
    pub async fn start(mode: Mode, auth: Option<(&str, &str)>) -> Option<SmtpSink> {
        Self::start_on(0, mode, auth).await
    }

    pub async fn start_on(port: u16, mode: Mode, auth: Option<(&str, &str)>) -> Option<SmtpSink> {
        let Some(python) = python_with("aiosmtpd") else {
            missing("no Python with aiosmtpd for the test SMTP server");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = tokio::process::Command::new(python);
        cmd.arg(script())
            .arg("--dir")
            .arg(dir.path())
            .arg("--port")
            .arg(port.to_string())
            .arg("--exit-on-eof");
        match &mode {
            Mode::Plain => {}
            Mode::StartTls(cert, key) | Mode::Tls(cert, key) => {
                let name = if matches!(mode, Mode::Tls(..)) {
                    "tls"
                } else {
                    "starttls"
                };
                cmd.args(["--mode", name])
                    .arg("--cert")
                    .arg(cert)
                    .arg("--key")
                    .arg(key);
            }
        }
        if let Some((user, password)) = auth {
            cmd.args(["--user", user, "--password", password]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the SMTP sink prints its port")
        .expect("read the port");
        let port = line.trim().parse().expect("a port number");
        Some(SmtpSink {
            port,
            dir,
            _child: child,
        })
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read the sink dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read a message"))
            .collect()
    }

    /// Waits (polling, up to 30 s) until at least `n` messages arrived; returns message `n-1`.
    pub async fn wait_for(&self, n: usize) -> String {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self.messages();
            if all.len() >= n {
                return all[n - 1].clone();
            }
            assert!(
                Instant::now() < end,
                "the SMTP sink received {} message(s), expected {n}",
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The environment that points passbroker at a sink.
pub fn smtp_env(port: u16, tls: &str) -> Vec<(String, String)> {
    vec![
        ("PASSBROKER_SMTP_HOST".into(), "127.0.0.1".into()),
        ("PASSBROKER_SMTP_PORT".into(), port.to_string()),
        ("PASSBROKER_SMTP_TLS".into(), tls.into()),
        (
            "PASSBROKER_SMTP_FROM".into(),
            "passbroker <noreply@example.com>".into(),
        ),
    ]
}

/// A message's body as text (quoted-printable decoded, as lettre sends long or non-ASCII
/// lines).
pub fn body_of(message: &str) -> String {
    let (head, body) = message
        .split_once("\r\n\r\n")
        .or_else(|| message.split_once("\n\n"))
        .unwrap_or(("", message));
    if !head.to_ascii_lowercase().contains("quoted-printable") {
        return body.to_owned();
    }
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first run of `digits` digits in a message body (the code).
pub fn code_in(message: &str, digits: usize) -> String {
    let body = body_of(message);
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == digits {
                return chars[start..i].iter().collect();
            }
        } else {
            i += 1;
        }
    }
    panic!("no {digits}-digit code in the message:\n{message}");
}

/// A self-signed certificate for 127.0.0.1 (and localhost), written to `dir`: (cert, key).
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "127.0.0.1").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .dns("localhost")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let cert_path = dir.join("smtp-cert.pem");
    let key_path = dir.join("smtp-key.pem");
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert_path, key_path)
}
