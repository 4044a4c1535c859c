//! The simulated connector: changes nothing, for integrators' tests. Latency, failure rate
//! and failure message are configurable per source; outcomes are deterministic for a seed.
//! With `logFile`, every call is appended to a durable log (one JSON line per call) so tests
//! can count deliveries across crashes.

use crate::{Connector, ConnectorError, SetPasswordCall};
use async_trait::async_trait;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::io::Write;
use std::path::PathBuf;
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
    /// Append-only log of calls (no passwords: task id, account, attempt, outcome).
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
    /// Tasks the log already shows as delivered (loaded from the log on first use): the
    /// simulated target is idempotent per task, like a real API with an idempotency key.
    delivered: std::sync::Mutex<Option<std::collections::HashSet<String>>>,
}

impl SimulatedConnector {
    pub fn new(config: SimulatedConfig) -> Self {
        Self {
            config,
            delivered: std::sync::Mutex::new(None),
        }
    }

    /// True when the durable log already records this task as delivered.
    fn already_delivered(&self, task_id: &str) -> bool {
        let Some(path) = &self.config.log_file else {
            return false;
        };
        let mut guard = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
        let set = guard.get_or_insert_with(|| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["outcome"] == "SUCCEEDED")
                .filter_map(|v| v["taskId"].as_str().map(str::to_owned))
                .collect()
        });
        set.contains(task_id)
    }

    fn remember(&self, task_id: &str) {
        if let Some(set) = self
            .delivered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            set.insert(task_id.to_owned());
        }
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

    fn log(&self, call: &SetPasswordCall<'_>, outcome: &str) -> Result<(), ConnectorError> {
        let Some(path) = &self.config.log_file else {
            return Ok(());
        };
        let line = serde_json::json!({
            "taskId": call.task_id,
            "accountId": call.account.native_id.as_str(),
            "attempt": call.attempt,
            "outcome": outcome,
        });
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| ConnectorError::Transient(format!("simulated connector log: {e}")))?;
        // One write per record, starting with a newline: a record torn by a crash stays on a
        // line of its own and never swallows the next one.
        file.write_all(format!("\n{line}").as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| ConnectorError::Transient(format!("simulated connector log: {e}")))
    }
}

#[async_trait]
impl Connector for SimulatedConnector {
    async fn set_password(&self, call: SetPasswordCall<'_>) -> Result<(), ConnectorError> {
        if self.already_delivered(call.task_id) {
            return Ok(());
        }
        if self.config.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.latency_ms)).await;
        }
        if self.fails(call.account.native_id.as_str(), call.attempt) {
            self.log(&call, "FAILED")?;
            let msg = self.config.failure_message.clone();
            return Err(if self.config.transient_failures {
                ConnectorError::Transient(msg)
            } else {
                ConnectorError::Permanent(msg)
            });
        }
        self.log(&call, "SUCCEEDED")?;
        self.remember(call.task_id);
        Ok(())
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
        let c = SimulatedConnector::new(SimulatedConfig {
            failure_rate: 0.5,
            seed: 7,
            ..Default::default()
        });
        let first: Vec<bool> = (0..64).map(|n| c.fails(&format!("acct{n}"), 1)).collect();
        let again: Vec<bool> = (0..64).map(|n| c.fails(&format!("acct{n}"), 1)).collect();
        assert_eq!(first, again);
        let failures = first.iter().filter(|f| **f).count();
        assert!((16..=48).contains(&failures), "about half fail: {failures}");
        let always = SimulatedConnector::new(SimulatedConfig {
            failure_rate: 1.0,
            ..Default::default()
        });
        assert!(always.fails("x", 1));
    }

    #[test]
    fn bad_config_is_refused_with_the_field() {
        let err = SimulatedConfig::from_json(&serde_json::json!({"failureRate": 2.0})).unwrap_err();
        assert!(err.to_string().contains("failureRate"));
        let err = SimulatedConfig::from_json(&serde_json::json!({"latency": 5})).unwrap_err();
        assert!(err.to_string().contains("latency"), "{err}");
    }
}
