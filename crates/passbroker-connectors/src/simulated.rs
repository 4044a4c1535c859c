//! The simulated connector: changes nothing, for integrators' tests. Latency, failure rate
//! and failure message are configurable per source; outcomes are deterministic for a seed.
//! With `logFile`, every call is appended to a durable log (one JSON line per call) so tests
//! can count deliveries across crashes and nodes; every delivery is logged, a repeated one
//! too. `verify_password` answers from the log (or, without one, from this process's memory)
//! whether the task's change landed. A change takes effect halfway through the latency (a
//! real target's answer still has to travel back), so a crash or timeout can leave a change
//! made but unacknowledged. The log lives in the data dir (a relative path is taken from it)
//! and must be a regular file; its IO runs on blocking threads.

use crate::files;
use crate::{Connector, ConnectorError, SetPasswordCall, Verification};
use async_trait::async_trait;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SimulatedConfig {
    /// Delay of each call, in milliseconds.
    pub latency_ms: u64,
    /// Share of calls that fail, 0.0–1.0.
    pub failure_rate: f64,
    /// Message of a simulated failure.
    pub failure_message: String,
    /// Whether simulated failures are transient (retried) or permanent.
    pub transient_failures: bool,
    /// Seed for the failure draw; the same seed, account and attempt give the same outcome.
    pub seed: u64,
    /// Append-only log of calls (no passwords: task id, account, attempt, outcome), inside
    /// the data dir.
    pub log_file: Option<PathBuf>,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            failure_rate: 0.0,
            failure_message: "The simulated target refused the password.".into(),
            transient_failures: false,
            seed: 0,
            log_file: None,
        }
    }
}

impl SimulatedConfig {
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ConnectorError> {
        let config: SimulatedConfig = serde_json::from_value(value.clone())
            .map_err(|e| ConnectorError::Config(format!("simulated connector: {e}")))?;
        if !(0.0..=1.0).contains(&config.failure_rate) {
            return Err(ConnectorError::Config(
                "simulated connector: failureRate must be between 0 and 1".into(),
            ));
        }
        if config.latency_ms > 600_000 {
            return Err(ConnectorError::Config(
                "simulated connector: latencyMs must be at most 600000".into(),
            ));
        }
        Ok(config)
    }
}

pub struct SimulatedConnector {
    config: SimulatedConfig,
    /// The data dir, which holds `logFile` (a relative path is taken from it).
    data_dir: PathBuf,
    /// Tasks delivered by this process, for `verify_password` without a log. Only ever
    /// locked briefly, never across an await or file IO.
    delivered: std::sync::Mutex<HashSet<String>>,
}

/// The largest call log read back (its records are about 150 bytes each).
const MAX_LOG_BYTES: u64 = 256 * 1024 * 1024;

impl SimulatedConnector {
    pub fn new(config: SimulatedConfig, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            config,
            data_dir: data_dir.into(),
            delivered: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// Checks `logFile` against the data dir (blocking: call it off the runtime).
    pub(crate) fn check_log_file(&self) -> Result<(), ConnectorError> {
        match &self.config.log_file {
            Some(path) => log_path(&self.data_dir, path).map(|_| ()),
            None => Ok(()),
        }
    }

    /// True when this task's change landed: the durable log (read afresh, since other
    /// processes may append to it) or, without a log, this process's memory says so.
    async fn delivered(&self, task_id: &str) -> Result<bool, ConnectorError> {
        let Some(path) = self.config.log_file.clone() else {
            return Ok(self.lock_delivered().contains(task_id));
        };
        let data_dir = self.data_dir.clone();
        let task_id = task_id.to_owned();
        blocking(move || {
            let path = log_path(&data_dir, &path)?;
            if !path.exists() {
                return Ok(false);
            }
            let text = files::read_regular(&path, MAX_LOG_BYTES).map_err(log_error)?;
            Ok(text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .any(|v| v["outcome"] == "SUCCEEDED" && v["taskId"] == task_id.as_str()))
        })
        .await
    }

    fn lock_delivered(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.delivered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, task_id: &str) {
        self.lock_delivered().insert(task_id.to_owned());
    }

    fn fails(&self, account_id: &str, attempt: u32) -> bool {
        if self.config.failure_rate <= 0.0 {
            return false;
        }
        // FNV-1a over the account id mixes it into the seed without another dependency.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.config.seed;
        for b in account_id.bytes().chain(attempt.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        rand::rngs::StdRng::seed_from_u64(h).gen::<f64>() < self.config.failure_rate
    }

    async fn log(&self, call: &SetPasswordCall<'_>, outcome: &str) -> Result<(), ConnectorError> {
        let Some(path) = self.config.log_file.clone() else {
            return Ok(());
        };
        let line = serde_json::json!({
            "taskId": call.task_id,
            "accountId": call.account.native_id.as_str(),
            "attempt": call.attempt,
            "outcome": outcome,
        });
        let data_dir = self.data_dir.clone();
        blocking(move || {
            let path = log_path(&data_dir, &path)?;
            let mut file =
                files::open_regular(&path, std::fs::OpenOptions::new().create(true).append(true))
                    .map_err(log_error)?;
            // One write per record, starting with a newline: a record torn by a crash stays
            // on a line of its own and never swallows the next one.
            file.write_all(format!("\n{line}").as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| ConnectorError::Transient(format!("simulated connector log: {e}")))
        })
        .await
    }
}

/// `logFile` resolved inside the data dir, or why it is refused.
fn log_path(data_dir: &Path, path: &Path) -> Result<PathBuf, ConnectorError> {
    files::resolve_in_data_dir(data_dir, path)
        .map_err(|e| ConnectorError::Config(format!("simulated connector: logFile: {e}")))
}

fn log_error(e: String) -> ConnectorError {
    ConnectorError::Config(format!("simulated connector: logFile: {e}"))
}

/// Runs file IO on a blocking thread, off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConnectorError> + Send + 'static,
) -> Result<T, ConnectorError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ConnectorError::Transient("simulated connector: the log task failed".into()))?
}

#[async_trait]
impl Connector for SimulatedConnector {
    async fn set_password(&self, call: SetPasswordCall<'_>) -> Result<(), ConnectorError> {
        let half = Duration::from_millis(self.config.latency_ms / 2);
        let rest = Duration::from_millis(self.config.latency_ms) - half;
        if !half.is_zero() {
            tokio::time::sleep(half).await;
        }
        let outcome = if self.fails(call.account.native_id.as_str(), call.attempt) {
            self.log(&call, "FAILED").await?;
            let msg = self.config.failure_message.clone();
            Err(if self.config.transient_failures {
                ConnectorError::Transient(msg)
            } else {
                ConnectorError::Permanent(msg)
            })
        } else {
            self.log(&call, "SUCCEEDED").await?;
            self.remember(call.task_id);
            Ok(())
        };
        if !rest.is_zero() {
            tokio::time::sleep(rest).await;
        }
        outcome
    }

    async fn verify_password(
        &self,
        call: SetPasswordCall<'_>,
    ) -> Result<Verification, ConnectorError> {
        Ok(if self.delivered(call.task_id).await? {
            Verification::Current
        } else {
            Verification::NotCurrent
        })
    }

    async fn check(&self) -> Result<String, ConnectorError> {
        Ok(format!(
            "simulated target: latency {} ms, failure rate {}",
            self.config.latency_ms, self.config.failure_rate
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_deterministic_for_a_seed() {
        let c = SimulatedConnector::new(
            SimulatedConfig {
                failure_rate: 0.5,
                seed: 7,
                ..Default::default()
            },
            ".",
        );
        let first: Vec<bool> = (0..64).map(|n| c.fails(&format!("acct{n}"), 1)).collect();
        let again: Vec<bool> = (0..64).map(|n| c.fails(&format!("acct{n}"), 1)).collect();
        assert_eq!(first, again);
        let failures = first.iter().filter(|f| **f).count();
        assert!((16..=48).contains(&failures), "about half fail: {failures}");
        let always = SimulatedConnector::new(
            SimulatedConfig {
                failure_rate: 1.0,
                ..Default::default()
            },
            ".",
        );
        assert!(always.fails("x", 1));
    }

    fn account(native_id: &str) -> passbroker_core::account::Account {
        use passbroker_core::account::{Account, NativeAccountId};
        use passbroker_core::{AccountRef, IdentityId, SourceId};
        Account {
            id: AccountRef::generate(),
            source_id: SourceId::generate(),
            identity_id: IdentityId::generate(),
            native_id: NativeAccountId::parse(native_id).unwrap(),
            account_name: native_id.to_owned(),
            attributes: Default::default(),
            disabled: false,
        }
    }

    /// Runs one `set_password` on a runtime of its own, giving up after `limit`: a call that
    /// blocks its thread (as opening a FIFO did) shows up as `None`.
    fn set_password_within(
        connector: SimulatedConnector,
        task_id: &'static str,
        limit: Duration,
    ) -> Option<Result<(), ConnectorError>> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let account = account("acct");
            let password =
                passbroker_core::Password::new(zeroize::Zeroizing::new("Sim-Passw0rd".to_owned()));
            let out = rt.block_on(connector.set_password(SetPasswordCall {
                account: &account,
                password: &password,
                task_id,
                attempt: 1,
            }));
            let _ = tx.send(out);
        });
        rx.recv_timeout(limit).ok()
    }

    #[test]
    fn hardening_log_file_is_kept_in_the_data_dir_and_every_delivery_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let config =
            SimulatedConfig::from_json(&serde_json::json!({"logFile": "calls.log"})).unwrap();
        let c = SimulatedConnector::new(config.clone(), dir.path());
        c.check_log_file().unwrap();
        let out = set_password_within(c, "task-1", Duration::from_secs(10)).expect("returns");
        assert_eq!(out, Ok(()));
        let log = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        assert!(log.contains("\"taskId\":\"task-1\""), "{log}");
        // A repeated delivery is logged too, so a test can see a double.
        let c = SimulatedConnector::new(config, dir.path());
        assert_eq!(
            set_password_within(c, "task-1", Duration::from_secs(10)),
            Some(Ok(()))
        );
        let again = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        assert_eq!(again.matches("\"taskId\":\"task-1\"").count(), 2, "{again}");
        // Outside the data dir: refused when built.
        let outside = tempfile::tempdir().unwrap();
        let e = crate::build_blocking(
            passbroker_core::source::ConnectorKind::Simulated,
            &serde_json::json!({"logFile": outside.path().join("calls.log")}),
            None,
            dir.path(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("outside the data dir"), "{e}");
        assert!(!outside.path().join("calls.log").exists());
    }

    #[test]
    fn hardening_a_fifo_log_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path().join("calls.log"))
            .status()
            .unwrap();
        assert!(status.success());
        let config =
            SimulatedConfig::from_json(&serde_json::json!({"logFile": "calls.log"})).unwrap();
        // When the source is created or updated.
        let e = crate::build_blocking(
            passbroker_core::source::ConnectorKind::Simulated,
            &serde_json::json!({"logFile": "calls.log"}),
            None,
            dir.path(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("FIFO"), "{e}");
        // When a connector built earlier (before the file was swapped) is used.
        let c = SimulatedConnector::new(config, dir.path());
        let out = set_password_within(c, "task-1", Duration::from_secs(5))
            .expect("set_password returns instead of blocking on the FIFO");
        let e = out.unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    async fn call(c: &SimulatedConnector, task_id: &str, verify: bool) -> Verification {
        let account = account("sim-user");
        let password =
            passbroker_core::Password::new(zeroize::Zeroizing::new("Sim-Passw0rd".to_owned()));
        let call = SetPasswordCall {
            account: &account,
            password: &password,
            task_id,
            attempt: 1,
        };
        if verify {
            c.verify_password(call).await.unwrap()
        } else {
            c.set_password(call).await.unwrap();
            Verification::Current
        }
    }

    /// The log counts every delivery, a repeated one too (so a test can see a double), and
    /// `verify_password` answers from it, across instances sharing the file (nodes,
    /// restarts).
    #[tokio::test]
    async fn hardening_every_delivery_is_logged_and_verify_reads_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("deliveries.log");
        let config = SimulatedConfig {
            log_file: Some(log.clone()),
            ..Default::default()
        };
        let first = SimulatedConnector::new(config.clone(), dir.path());
        let second = SimulatedConnector::new(config, dir.path());
        assert_eq!(call(&second, "t1", true).await, Verification::NotCurrent);
        call(&first, "t1", false).await;
        assert_eq!(call(&second, "t1", true).await, Verification::Current);
        assert_eq!(call(&second, "t2", true).await, Verification::NotCurrent);
        call(&second, "t1", false).await;
        let text = std::fs::read_to_string(&log).unwrap();
        let t1 = text.lines().filter(|l| l.contains("\"t1\"")).count();
        assert_eq!(t1, 2, "both deliveries of t1 are in the log: {text}");
        assert!(!text.contains("Sim-Passw0rd"), "no password in the log");
        // Without a log, this process's memory answers.
        let plain = SimulatedConnector::new(SimulatedConfig::default(), dir.path());
        assert_eq!(call(&plain, "t3", true).await, Verification::NotCurrent);
        call(&plain, "t3", false).await;
        assert_eq!(call(&plain, "t3", true).await, Verification::Current);
    }

    #[test]
    fn bad_config_is_refused_with_the_field() {
        let err = SimulatedConfig::from_json(&serde_json::json!({"failureRate": 2.0})).unwrap_err();
        assert!(err.to_string().contains("failureRate"));
        let err = SimulatedConfig::from_json(&serde_json::json!({"latency": 5})).unwrap_err();
        assert!(err.to_string().contains("latency"), "{err}");
    }
}
