//! Outbound mail: reset codes and change notices, queued durably and sent by a background
//! task over SMTP, never on a request's path.
//!
//! [`enqueue`] wraps the whole message (recipient, subject, text) under the master key and
//! inserts it into the store's `outbound_mail` queue, so a code never sits in the database in
//! clear. [`run`] (one task per node) leases due messages (`claim_mail`: on PostgreSQL
//! `SKIP LOCKED`, so nodes share the queue), sends each with `smtp_timeout_secs` per attempt,
//! deletes it once sent, and otherwise retries with exponential backoff (10 s doubling, at
//! most an hour apart) until [`MAX_ATTEMPTS`]. A message with no recipient (the no-op queued
//! for an unknown user, so both cost the same) is dropped unsent. Log lines name the message
//! id and the error, never the recipient's code or the text.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use passbroker_core::time::Millis;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::Notify;

/// Delivery attempts of one message before it is given up (about 21 hours of retries).
pub const MAX_ATTEMPTS: u32 = 12;
/// Messages one sender takes per round.
pub const BATCH: u32 = 20;
/// How often the sender looks at the queue when nothing wakes it (retries, other nodes).
pub const POLL_EVERY: Duration = Duration::from_secs(5);

/// A message as queued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mail {
    /// `None`: a no-op (dropped unsent).
    pub to: Option<String>,
    pub subject: String,
    pub text: String,
}

/// The SMTP side: the transport built from the configuration, or none (mail is off).
pub struct Mailer {
    transport: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    pub wake: Notify,
}

impl Mailer {
    /// A mailer with no transport: nothing is sent and flows that need mail are off.
    pub fn disabled() -> Self {
        Self {
            transport: None,
            wake: Notify::new(),
        }
    }

    /// Builds the transport from `smtp_*` (validated at start-up); an unreadable CA file or
    /// password file stops start-up.
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let Some(host) = config.smtp_host.as_deref() else {
            return Ok(Self::disabled());
        };
        let from: Mailbox = config
            .smtp_from
            .as_deref()
            .unwrap_or("")
            .parse()
            .map_err(|e| anyhow::anyhow!("key `smtp_from`: {e}"))?;
        let tls_params = || -> anyhow::Result<TlsParameters> {
            let mut b = TlsParameters::builder(host.to_owned());
            if let Some(path) = &config.smtp_ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("key `smtp_ca_file`: cannot read {}: {e}", path.display())
                })?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("key `smtp_ca_file`: {e}"))?;
                b = b.add_root_certificate(cert);
            }
            b.build()
                .map_err(|e| anyhow::anyhow!("SMTP TLS settings: {e}"))
        };
        let (tls, default_port) = match config.smtp_tls.as_str() {
            "tls" => (Tls::Wrapper(tls_params()?), 465),
            "starttls" => (Tls::Required(tls_params()?), 587),
            _ => (Tls::None, 25),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.smtp_port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(Duration::from_secs(config.smtp_timeout_secs)));
        if let Some(user) = &config.smtp_username {
            let password = config
                .smtp_password_text()
                .map_err(|e| anyhow::anyhow!(e))?
                .map(|p| secrecy::ExposeSecret::expose_secret(&p).to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            transport: Some((builder.build(), from)),
            wake: Notify::new(),
        })
    }

    /// Whether mail can be sent at all (an SMTP server is configured).
    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), String> {
        let Some((transport, from)) = &self.transport else {
            return Err("no SMTP server is configured".into());
        };
        let to: Mailbox = mail
            .to
            .as_deref()
            .unwrap_or("")
            .parse()
            .map_err(|_| "the recipient is not a mail address".to_owned())?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| format!("building the message: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// When a message that failed `attempts` times is due again.
pub fn backoff(now: Millis, attempts: u32) -> Millis {
    let secs = 10i64.saturating_mul(1i64 << attempts.min(9)).min(3600);
    now.plus_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let now = Millis(0);
        assert_eq!(backoff(now, 1), Millis(20_000));
        assert_eq!(backoff(now, 2), Millis(40_000));
        assert_eq!(backoff(now, 11), Millis(3_600_000));
    }
}
