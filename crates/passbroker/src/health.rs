//! `passbroker healthcheck`: exit 0 when the server's `/health/ready` answers 200.

use passbroker_server::config::Config;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Where `serve` with this configuration answers, asked from this machine: the listen
/// address (a wildcard address asked on loopback), over https when TLS is on.
pub fn url_from(config: &Config) -> String {
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

/// How the server's certificate is checked.
pub enum Trust<'a> {
    /// The system's roots.
    System,
    /// Only this CA (PEM).
    CaFile(&'a Path),
    /// Not at all: a probe of this machine's own configured server on its listen address,
    /// which sends nothing secret and learns only "ready or not" (its certificate names the
    /// public host, not the loopback address, and may come from a private CA).
    OwnServer,
}

pub async fn check(url: &str, trust: Trust<'_>, wait_secs: u64) -> anyhow::Result<ExitCode> {
    let ready = format!("{}/health/ready", url.trim_end_matches('/'));
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(5));
    match trust {
        Trust::System => {}
        Trust::CaFile(ca) => {
            let pem = std::fs::read(ca)
                .map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", ca.display()))?;
            client = client
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        Trust::OwnServer => client = client.danger_accept_invalid_certs(true),
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

#[cfg(test)]
mod tests {
    use super::*;
    use passbroker_server::config::Overrides;

    fn config(env: &[(&str, &str)]) -> Config {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load(None, &env, &Overrides::default()).unwrap()
    }

    #[test]
    fn the_url_follows_the_listen_address_and_tls() {
        assert_eq!(url_from(&config(&[])), "http://127.0.0.1:8080");
        assert_eq!(
            url_from(&config(&[("PASSBROKER_LISTEN", "0.0.0.0:9443")])),
            "http://127.0.0.1:9443"
        );
        assert_eq!(
            url_from(&config(&[("PASSBROKER_LISTEN", "[::]:9443")])),
            "http://[::1]:9443"
        );
        let tls = config(&[
            ("PASSBROKER_LISTEN", "10.0.0.5:8443"),
            ("PASSBROKER_TLS_CERT_FILE", "/c.pem"),
            ("PASSBROKER_TLS_KEY_FILE", "/k.pem"),
        ]);
        assert_eq!(url_from(&tls), "https://10.0.0.5:8443");
    }
}
