//! A real webhook receiver for the event tests: `tests/webhooks/receiver.py` (Python's
//! `standardwebhooks` checks every signature, the `cloudevents` SDK parses every body;
//! installed into the test venv by `scripts/install-services.sh`) on 127.0.0.1, recording each
//! delivery as a JSON line the test reads. Without those libraries the test skips loudly, and
//! fails under `PASSBROKER_REQUIRE_SERVICES=1`.

#![allow(dead_code)]

use crate::python::{missing, python_with};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/webhooks/receiver.py")
}

pub struct Receiver {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
}

impl Receiver {
    /// Starts a receiver; `None` (after a loud skip) without the Python libraries.
    pub async fn start() -> Option<Receiver> {
        let Some(python) = python_with("standardwebhooks, cloudevents.v1.http") else {
            missing("no Python with standardwebhooks and cloudevents for the webhook receiver");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, child) = spawn(&python, dir.path(), 0).await;
        Some(Receiver {
            port,
            dir,
            child: Some(child),
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The signing secret the receiver verifies with.
    pub fn set_secret(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secret"), secret).expect("write the secret");
    }

    /// `ok`, `500` or `hang`.
    pub fn set_mode(&self, mode: &str) {
        std::fs::write(self.dir.path().join("mode"), mode).expect("write the mode");
    }

    /// Stops the receiver (connections are refused until `restart`).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        let python = python_with("standardwebhooks, cloudevents.v1.http").expect("python");
        let (_, child) = spawn(&python, self.dir.path(), self.port).await;
        self.child = Some(child);
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("deliveries.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Polls until `done` holds for the deliveries (at most `secs`), returning them.
    pub async fn wait_for(&self, secs: u64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let d = self.deliveries();
            if done(&d) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected within {secs} s; it got:\n{}",
                d.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn spawn(python: &Path, dir: &Path, port: u16) -> (u16, tokio::process::Child) {
    let mut child = tokio::process::Command::new(python)
        .arg(script())
        .arg("--dir")
        .arg(dir)
        .arg("--port")
        .arg(port.to_string())
        .arg("--exit-on-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the webhook receiver");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("the receiver prints its port")
    .expect("read the port");
    (line.trim().parse().expect("a port number"), child)
}

/// Events of one request (by `subject`) as their types, in arrival order of first
/// acknowledged delivery.
pub fn types_for(deliveries: &[Value], request_id: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    deliveries
        .iter()
        .filter(|d| d["answered"] == 204)
        .filter(|d| d["event"]["subject"] == request_id)
        .filter(|d| seen.insert(d["webhookId"].as_str().unwrap_or("").to_owned()))
        .map(|d| d["event"]["type"].as_str().unwrap_or("").to_owned())
        .collect()
}
