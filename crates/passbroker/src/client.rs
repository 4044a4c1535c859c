//! `passbroker set-password`: the whole ISC flow from a terminal. Works against passbroker
//! and against ISC itself. The password is never taken from the command line.

use anyhow::{bail, Context};
use base64::Engine;
use clap::Args;
use passbroker_wire::{
    PasswordChangeRequestDto, PasswordChangeResponse, PasswordInfo, PasswordInfoAccount,
    PasswordInfoQueryDto, PasswordStatus, TokenResponse,
};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

#[derive(Args)]
pub struct SetPasswordArgs {
    /// Server base URL (defaults to the credentials file's baseUrl).
    #[arg(long, env = "PASSBROKER_URL")]
    base_url: Option<String>,
    /// The identity's login name.
    #[arg(long)]
    user: Option<String>,
    /// The source's display name.
    #[arg(long)]
    source: Option<String>,
    /// The account to change when the identity has several on the source.
    #[arg(long)]
    account: Option<String>,
    /// OAuth client id (or a PAT's id).
    #[arg(long, env = "PASSBROKER_CLIENT_ID")]
    client_id: Option<String>,
    /// OAuth client secret; only from the environment or the credentials file.
    #[arg(skip)]
    client_secret: Option<String>,
    /// A JSON file with baseUrl, clientId, clientSecret (e.g. the demo's demo-credentials.json).
    #[arg(long, env = "PASSBROKER_CREDENTIALS_FILE")]
    credentials_file: Option<PathBuf>,
    /// Read the new password from this file (first line).
    #[arg(long, conflicts_with = "password_stdin")]
    password_file: Option<PathBuf>,
    /// Read the new password from standard input (first line).
    #[arg(long)]
    password_stdin: bool,
    /// API family: v3, beta, v2024, v2025 or v1.
    #[arg(long, default_value = "v3")]
    api: String,
    /// Encrypt with RSA-OAEP (SHA-256) instead of PKCS#1 v1.5 (passbroker only).
    #[arg(long)]
    oaep: bool,
    /// Give up waiting for the final state after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

struct Api {
    http: reqwest::Client,
    base: String,
    family: String,
    token: String,
}

impl Api {
    fn url(&self, op: &str, tail: &str) -> String {
        if self.family == "v1" {
            format!("{}/{op}/v1{tail}", self.base)
        } else {
            format!("{}/{}/{op}{tail}", self.base, self.family)
        }
    }
}

async fn check(resp: reqwest::Response, what: &str) -> anyhow::Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let mut detail: Vec<String> = body["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str().map(str::to_owned))
        .collect();
    if detail.is_empty() {
        detail.extend(
            ["error_description", "error", "message"]
                .iter()
                .filter_map(|k| body[*k].as_str().map(str::to_owned))
                .take(1),
        );
    }
    bail!(
        "{what} failed: HTTP {status}{}",
        if detail.is_empty() {
            String::new()
        } else {
            format!(": {}", detail.join("; "))
        }
    )
}

fn read_password(args: &SetPasswordArgs) -> anyhow::Result<Zeroizing<String>> {
    let mut raw = Zeroizing::new(String::new());
    if let Some(path) = &args.password_file {
        *raw = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    } else if args.password_stdin || !std::io::stdin().is_terminal() {
        std::io::stdin()
            .read_to_string(&mut raw)
            .context("cannot read standard input")?;
    } else {
        let first = Zeroizing::new(rpassword::prompt_password("New password: ")?);
        let second = Zeroizing::new(rpassword::prompt_password("Repeat it: ")?);
        if *first != *second {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let line = Zeroizing::new(raw.lines().next().unwrap_or("").to_owned());
    if line.is_empty() {
        if args.password_file.is_some() {
            bail!("the password file's first line is empty");
        }
        bail!(
            "the password is empty: standard input gave no line (without a terminal, pipe the password in, e.g. `printf '%s\\n' \"$PW\" | passbroker set-password --password-stdin …`, or use --password-file)"
        );
    }
    Ok(line)
}

pub(crate) fn encrypt(public_key_b64: &str, password: &str, oaep: bool) -> anyhow::Result<String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(public_key_b64)
        .context("publicKey is not base64")?;
    let key = openssl::pkey::PKey::public_key_from_der(&der)
        .context("publicKey is not a DER public key")?;
    let rsa = key.rsa().context("publicKey is not an RSA key")?;
    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&key)?;
    ctx.encrypt_init()?;
    if oaep {
        ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)?;
        ctx.set_rsa_oaep_md(openssl::md::Md::sha256())?;
        ctx.set_rsa_mgf1_md(openssl::md::Md::sha256())?;
    } else {
        ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1)?;
    }
    let limit = rsa.size() as usize - if oaep { 66 } else { 11 };
    if password.len() > limit {
        bail!(
            "the password is {} bytes in UTF-8; this key takes at most {limit}",
            password.len()
        );
    }
    let mut out = vec![];
    ctx.encrypt_to_vec(password.as_bytes(), &mut out)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Where and as whom `set-password` connects, from the flags, the environment and the
/// credentials file.
struct Settings {
    base: String,
    client_id: String,
    client_secret: Zeroizing<String>,
    user: String,
    source: String,
}

fn settings(args: &SetPasswordArgs) -> anyhow::Result<Settings> {
    let mut base = args.base_url.clone();
    let mut client_id = args.client_id.clone();
    let mut client_secret = std::env::var("PASSBROKER_CLIENT_SECRET")
        .ok()
        .or(args.client_secret.clone());
    let mut user = args.user.clone();
    let mut source = args.source.clone();
    if let Some(path) = &args.credentials_file {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )?;
        base = base.or(v["baseUrl"].as_str().map(str::to_owned));
        client_id = client_id.or(v["clientId"].as_str().map(str::to_owned));
        client_secret = client_secret.or(v["clientSecret"].as_str().map(str::to_owned));
        user = user.or(v["userName"].as_str().map(str::to_owned));
        source = source.or(v["sourceName"].as_str().map(str::to_owned));
    }
    let base = base
        .context("--base-url (or PASSBROKER_URL, or a credentials file) is required")?
        .trim_end_matches('/')
        .to_owned();
    let client_id =
        client_id.context("a client id is required: PASSBROKER_CLIENT_ID or --credentials-file")?;
    let client_secret =
        Zeroizing::new(client_secret.context(
            "a client secret is required: PASSBROKER_CLIENT_SECRET or --credentials-file",
        )?);
    let user = user.context("--user is required")?;
    let source = source.context("--source is required")?;
    if !["v3", "beta", "v2024", "v2025", "v1"].contains(&args.api.as_str()) {
        bail!("--api: use v3, beta, v2024, v2025 or v1");
    }
    Ok(Settings {
        base,
        client_id,
        client_secret,
        user,
        source,
    })
}

/// The account to change: the one `--account` names, or the user's only one on the source.
fn choose_account<'a>(
    account: Option<&str>,
    info: &'a PasswordInfo,
    user: &str,
    source: &str,
) -> anyhow::Result<&'a PasswordInfoAccount> {
    Ok(match (account, info.accounts.as_slice()) {
        (Some(a), list) => list
            .iter()
            .find(|x| x.account_id == a || x.account_name == a)
            .with_context(|| format!("--account: {user} has no account {a:?} on {source}"))?,
        (None, [only]) => only,
        (None, []) => bail!("{user} has no account on {source}"),
        (None, list) => bail!(
            "{user} has {} accounts on {source}; choose one with --account: {}",
            list.len(),
            list.iter()
                .map(|a| a.account_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Polls password-change-status until the request leaves IN_PROGRESS (at most `timeout`
/// seconds), showing a spinner.
async fn wait_for_end(api: &Api, id: &str, timeout: u64) -> anyhow::Result<PasswordStatus> {
    let started = Instant::now();
    let spinner = ['|', '/', '-', '\\'];
    let mut n = 0usize;
    let status = loop {
        let status: PasswordStatus = check(
            api.http
                .get(api.url("password-change-status", &format!("/{id}")))
                .bearer_auth(&api.token)
                .send()
                .await?,
            "password-change-status",
        )
        .await?
        .json()
        .await?;
        if status.state != "IN_PROGRESS" {
            break status;
        }
        if started.elapsed() > Duration::from_secs(timeout) {
            eprintln!();
            bail!(
                "request {id} is still IN_PROGRESS after {} s; check later with its id",
                timeout
            );
        }
        eprint!(
            "\r{} waiting for request {id} ({} s)",
            spinner[n % 4],
            started.elapsed().as_secs()
        );
        let _ = std::io::stderr().flush();
        n += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    Ok(status)
}

pub async fn set_password(args: &SetPasswordArgs) -> anyhow::Result<ExitCode> {
    let Settings {
        base,
        client_id,
        client_secret,
        user,
        source,
    } = settings(args)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.as_str()),
    ];
    let token: TokenResponse = check(
        http.post(format!("{base}/oauth/token"))
            .form(&form)
            .send()
            .await?,
        "getting a token",
    )
    .await?
    .json()
    .await?;
    let api = Api {
        http,
        base,
        family: args.api.clone(),
        token: token.access_token,
    };

    let query = PasswordInfoQueryDto {
        user_name: Some(user.clone()),
        source_name: Some(source.clone()),
    };
    let info: PasswordInfo = check(
        api.http
            .post(api.url("query-password-info", ""))
            .bearer_auth(&api.token)
            .json(&query)
            .send()
            .await?,
        "query-password-info",
    )
    .await?
    .json()
    .await?;
    let account = choose_account(args.account.as_deref(), &info, &user, &source)?;
    eprintln!(
        "Changing the password of {} on {source}.",
        account.account_id
    );
    if !info.policies.is_empty() {
        eprintln!("Policy: {}", info.policies.join(", "));
    }
    let password = read_password(args)?;
    let body = PasswordChangeRequestDto {
        identity_id: Some(info.identity_id.clone()),
        encrypted_password: Some(encrypt(&info.public_key, &password, args.oaep)?),
        public_key_id: Some(info.public_key_id.clone()),
        account_id: Some(account.account_id.clone()),
        source_id: Some(info.source_id.clone()),
        encryption: args.oaep.then(|| "RSA-OAEP-256".to_owned()),
    };
    drop(password);
    let idempotency = passbroker_core::ids::new_isc_id();
    let accepted: PasswordChangeResponse = check(
        // `Prefer: wait` lets passbroker answer with the final state at once; ISC ignores it.
        api.http
            .post(api.url("set-password", ""))
            .bearer_auth(&api.token)
            .header("Idempotency-Key", idempotency)
            .header("Prefer", "wait=5")
            .json(&body)
            .send()
            .await?,
        "set-password",
    )
    .await?
    .json()
    .await?;
    let id = accepted
        .request_id
        .context("the server returned no requestId")?;
    let status = wait_for_end(&api, &id, args.timeout).await?;
    eprint!("\r");
    println!("{}  request {id}", status.state);
    for e in &status.errors {
        println!("  - {e}");
    }
    Ok(if status.state == "FINISHED" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
