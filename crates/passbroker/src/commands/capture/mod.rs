//! `passbroker capture …`: agents that report passwords changed where people log in to
//! passbroker's `POST /passbroker/v1/captured-passwords`, which sends them to the rest of the
//! source's password sync group.
//!
//! - `capture samba`: the script of Samba's `samba-tool user syncpasswords --script` (one
//!   changed account per call, as LDIF on standard input; answers `DONE-EXIT: …`).
//! - `capture pam`: called from a PAM `password` stack (the pam_python module of
//!   `packaging/pam/`, or `pam_exec.so expose_authtok`); the new
//!   password on standard input, the user in `PAM_USER`.
//! - `capture flush`: delivers what is spooled (e.g. from a timer).
//!
//! The password is encrypted to the server's published key at once (RSA-OAEP-256); only the
//! ciphertext is posted or, while the server cannot be reached, kept in the spool.

mod pam;
mod samba;
mod spool;

use anyhow::Context;
use clap::{Args, Subcommand};
use spool::{Entry, Spool, Spooled};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum CaptureCommand {
    /// The script of `samba-tool user syncpasswords --script` (on a Samba AD DC).
    Samba {
        #[command(flatten)]
        agent: AgentArgs,
        /// Which attribute of the LDIF names the account on the source: dn,
        /// sAMAccountName, userPrincipalName or objectGUID.
        #[arg(long, default_value = "dn")]
        identity_attribute: String,
    },
    /// Called from a PAM `password` stack (pam_python with the module in
    /// /usr/share/passbroker/pam/, or `pam_exec.so expose_authtok`; PAM_USER; the new
    /// password on standard input).
    Pam {
        #[command(flatten)]
        agent: AgentArgs,
        /// The account's native identity on the source, with `{user}` for PAM_USER, e.g.
        /// `uid={user},ou=people,dc=example,dc=com`.
        #[arg(long, default_value = "{user}")]
        identity_format: String,
    },
    /// Deliver the spooled changes (exit 0: none left; 75: some are still waiting; 2: some
    /// were dropped).
    Flush {
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Where the agent reports, as whom, for which source, and its spool.
#[derive(Args, Clone)]
pub struct AgentArgs {
    /// The passbroker server's base URL.
    #[arg(long, env = "PASSBROKER_URL")]
    server: String,
    /// The agent's API client (scope passbroker:password-capture:write, bound to the source).
    #[arg(long, env = "PASSBROKER_CLIENT_ID")]
    client_id: String,
    /// A file holding the client secret (or set PASSBROKER_CLIENT_SECRET).
    #[arg(long, env = "PASSBROKER_CLIENT_SECRET_FILE")]
    client_secret_file: Option<PathBuf>,
    /// The id of the source the passwords are changed at (the origin).
    #[arg(long, env = "PASSBROKER_CAPTURE_SOURCE_ID")]
    source_id: String,
    /// Where undelivered changes (ciphertexts) and the server's public key are kept.
    #[arg(
        long,
        env = "PASSBROKER_CAPTURE_SPOOL",
        default_value = "/var/spool/passbroker-capture"
    )]
    spool_dir: PathBuf,
    /// At most this many spooled changes (the oldest make room, and are reported).
    #[arg(long, default_value_t = 1000)]
    spool_max_entries: usize,
    /// At most this many bytes of spooled changes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    spool_max_bytes: u64,
    /// A spooled change not delivered within this many seconds is dropped and reported.
    #[arg(long, default_value_t = 86_400)]
    spool_ttl_secs: u64,
    /// Timeout of each HTTP call, in seconds.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    /// Trust only this CA (PEM) for an https:// server.
    #[arg(long, env = "PASSBROKER_CA_FILE")]
    ca_file: Option<PathBuf>,
}

pub async fn run(cmd: &CaptureCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CaptureCommand::Samba {
            agent,
            identity_attribute,
        } => samba::run(agent, identity_attribute).await,
        CaptureCommand::Pam {
            agent,
            identity_format,
        } => pam::run(agent, identity_format).await,
        CaptureCommand::Flush { agent } => {
            let a = Agent::new(agent)?;
            // Keeps the server's current key for changes captured while it is away.
            if let Err(e) = a.public_key().await {
                eprintln!("passbroker capture: {e:#}");
            }
            let outcome = a.deliver(None).await?;
            outcome.report_to_stderr();
            Ok(outcome.flush_code())
        }
    }
}

/// What a run did, for the caller's report.
#[derive(Default)]
pub struct Outcome {
    /// Changes the server took (request ids).
    pub delivered: Vec<String>,
    /// Changes still in the spool.
    pub waiting: usize,
    /// Changes dropped (TTL, a full spool, refused by the server), with why.
    pub dropped: Vec<String>,
    /// Why the server could not be reached, if it could not.
    pub unreachable: Option<String>,
    /// Whether this run's new change is delivered or safely spooled.
    pub new_change_kept: bool,
}

impl Outcome {
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .delivered
            .iter()
            .map(|id| format!("delivered: request {id}"))
            .collect();
        if let Some(why) = &self.unreachable {
            out.push(format!(
                "server unreachable ({why}); {} change(s) spooled",
                self.waiting
            ));
        }
        out.extend(self.dropped.iter().map(|d| format!("DROPPED: {d}")));
        out
    }
    fn report_to_stderr(&self) {
        for line in self.lines() {
            eprintln!("passbroker capture: {line}");
        }
    }
    fn flush_code(&self) -> ExitCode {
        if !self.dropped.is_empty() {
            ExitCode::from(2)
        } else if self.waiting > 0 {
            ExitCode::from(75)
        } else {
            ExitCode::SUCCESS
        }
    }
}

pub struct Agent {
    args: AgentArgs,
    http: reqwest::Client,
    spool: Spool,
}

/// How one post went.
enum Posted {
    Taken(String),
    /// Not now (the server is down, busy, or the agent's credentials failed): keep it.
    Later(String),
    /// Never (the server refused it for good): drop it and say why.
    Refused(String),
}

impl Agent {
    pub fn new(args: &AgentArgs) -> anyhow::Result<Agent> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(args.timeout_secs.clamp(1, 5)));
        if let Some(ca) = &args.ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        let spool = Spool {
            dir: args.spool_dir.clone(),
            max_entries: args.spool_max_entries.max(1),
            max_bytes: args.spool_max_bytes,
            ttl_ms: i64::try_from(args.spool_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        };
        spool.open()?;
        Ok(Agent {
            args: args.clone(),
            http: builder.build()?,
            spool,
        })
    }

    fn base(&self) -> &str {
        self.args.server.trim_end_matches('/')
    }

    /// Encrypts a captured password to the server's key (fetched now, or the copy kept from
    /// the last time the server answered).
    pub async fn seal(
        &self,
        native_identity: &str,
        password: &Zeroizing<String>,
    ) -> anyhow::Result<Entry> {
        let (key_id, key) = self.public_key().await?;
        let encrypted = crate::client::encrypt(&key, password, true)?;
        let now = time::OffsetDateTime::now_utc();
        let captured_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        Ok(Entry {
            idempotency_key: hex::encode(passbroker_crypto::random::random_bytes(16)),
            source_id: self.args.source_id.clone(),
            native_identity: native_identity.to_owned(),
            encrypted_password: encrypted,
            public_key_id: key_id,
            encryption: "RSA-OAEP-256".into(),
            captured_at: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            captured_ms,
        })
    }

    async fn public_key(&self) -> anyhow::Result<(String, String)> {
        let cache = self.spool.dir.join("public-key.json");
        let fetched = async {
            let r = self
                .http
                .get(format!("{}/passbroker/v1/public-key", self.base()))
                .send()
                .await?
                .error_for_status()?;
            r.json::<serde_json::Value>().await
        }
        .await;
        let v = match fetched {
            Ok(v) => {
                let _ = std::fs::write(&cache, v.to_string());
                v
            }
            Err(e) => {
                let text = std::fs::read_to_string(&cache).with_context(|| {
                    format!("the server's public key could not be fetched ({e}) and no copy is kept in {} (run `passbroker capture flush` once while the server is up)", cache.display())
                })?;
                serde_json::from_str(&text)?
            }
        };
        match (v["publicKeyId"].as_str(), v["publicKey"].as_str()) {
            (Some(id), Some(key)) => Ok((id.to_owned(), key.to_owned())),
            _ => anyhow::bail!("the server's public key answer lacks publicKeyId/publicKey"),
        }
    }

    fn secret(&self) -> anyhow::Result<Zeroizing<String>> {
        if let Ok(s) = std::env::var("PASSBROKER_CLIENT_SECRET") {
            return Ok(Zeroizing::new(s));
        }
        let path = self.args.client_secret_file.as_ref().context(
            "a client secret is required: --client-secret-file or PASSBROKER_CLIENT_SECRET",
        )?;
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        );
        Ok(Zeroizing::new(text.trim().to_owned()))
    }

    async fn token(&self) -> Result<String, String> {
        let secret = self.secret().map_err(|e| e.to_string())?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.args.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        let r = self
            .http
            .post(format!("{}/oauth/token", self.base()))
            .form(&form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("the token endpoint answered {}", r.status()));
        }
        let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        v["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the token answer has no access_token".to_owned())
    }

    async fn post(&self, token: &str, entry: &Entry) -> Posted {
        let sent = self
            .http
            .post(format!("{}/passbroker/v1/captured-passwords", self.base()))
            .bearer_auth(token)
            .json(&entry.body())
            .send()
            .await;
        let r = match sent {
            Ok(r) => r,
            Err(e) => return Posted::Later(e.to_string()),
        };
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        if status.is_success() {
            // "ID (QUEUED)", "ID (DUPLICATE)", or for an echo of passbroker's own change
            // "ID (ECHO)" with the request that made it.
            return Posted::Taken(format!(
                "{} ({})",
                body["requestId"].as_str().unwrap_or("?"),
                body["disposition"].as_str().unwrap_or("?")
            ));
        }
        let causes: Vec<&str> = body["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["text"].as_str())
            .collect();
        let why = format!("HTTP {status}: {}", causes.join("; "));
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 401 {
            Posted::Later(why)
        } else {
            Posted::Refused(why)
        }
    }

    /// Delivers the spool (oldest first) and then `new`; whatever the server cannot take now
    /// stays in (or goes to) the spool.
    pub async fn deliver(&self, new: Option<Entry>) -> anyhow::Result<Outcome> {
        let mut out = Outcome::default();
        let now_ms =
            i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
                .unwrap_or(0);
        let mut spooled = self.spool.load(now_ms, &mut out.dropped)?;
        let token = match self.token().await {
            Ok(t) => Some(t),
            Err(why) => {
                out.unreachable = Some(why);
                None
            }
        };
        if let Some(token) = &token {
            let mut kept: Vec<Spooled> = Vec::new();
            for s in spooled.drain(..) {
                if out.unreachable.is_some() {
                    kept.push(s);
                    continue;
                }
                match self.post(token, &s.entry).await {
                    Posted::Taken(id) => {
                        out.delivered.push(id);
                        spool::remove(&s.path);
                    }
                    Posted::Later(why) => {
                        out.unreachable = Some(why);
                        kept.push(s);
                    }
                    Posted::Refused(why) => {
                        out.dropped
                            .push(format!("the server refused {} ({why})", s.entry.describe()));
                        spool::remove(&s.path);
                    }
                }
            }
            spooled = kept;
        }
        if let Some(entry) = new {
            let posted = match (&token, &out.unreachable) {
                (Some(t), None) => self.post(t, &entry).await,
                (_, Some(why)) => Posted::Later(why.clone()),
                (None, None) => Posted::Later("no token".into()),
            };
            match posted {
                Posted::Taken(id) => {
                    out.delivered.push(id);
                    out.new_change_kept = true;
                }
                Posted::Later(why) => {
                    out.unreachable = Some(why);
                    self.spool.add(&entry, &mut spooled, &mut out.dropped)?;
                    out.new_change_kept = true;
                }
                Posted::Refused(why) => {
                    out.dropped
                        .push(format!("the server refused {} ({why})", entry.describe()));
                }
            }
        }
        out.waiting = spooled.len();
        Ok(out)
    }
}
