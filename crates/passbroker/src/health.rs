//! `passbroker healthcheck`: exit 0 when the server's `/health/ready` answers 200.

use passbroker_server::config::Config;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The URL `serve` with this configuration answers on, from this machine: `public_url` when
/// TLS is on (the certificate names that host), else the listen address (a wildcard address
/// asked on loopback).
pub fn url_from(config: &Config) -> String {
    if config.tls() {
        if let Some(public) = &config.public_url {
            return public.trim_end_matches('/').to_owned();
        }
    }
    let addr = config.listen_addr();
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let scheme = if config.tls() { "https" } else { "http" };
    format!("{scheme}://{host}:{}", addr.port())
}

pub async fn check(url: &str, ca_file: Option<&Path>, wait_secs: u64) -> anyhow::Result<ExitCode> {
    let ready = format!("{}/health/ready", url.trim_end_matches('/'));
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(5));
    if let Some(ca) = ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", ca.display()))?;
        client = client
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    let client = client.build()?;
    let give_up = Instant::now() + Duration::from_secs(wait_secs);
    loop {
        let verdict = match client.get(&ready).send().await {
            Ok(r) if r.status().is_success() => {
                println!("ready");
                return Ok(ExitCode::SUCCESS);
            }
            Ok(r) => format!("not ready: HTTP {}", r.status()),
            Err(e) => format!("not reachable: {e}"),
        };
        if Instant::now() >= give_up {
            println!("{verdict}");
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
