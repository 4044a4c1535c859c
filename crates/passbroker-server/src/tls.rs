//! TLS in the server (rustls): the certificate chain and key from `tls_cert_file` /
//! `tls_key_file` (PEM), TLS 1.2 and 1.3 only, HTTP/2 or HTTP/1.1 by ALPN.
//!
//! The files are read again, without a restart, when they change (checked every
//! [`RELOAD_EVERY`]: size, modification time and inode of each, so a rename over them counts
//! too) or on SIGHUP. A new pair that does not load (half written, a key that does not match
//! the certificate, not PEM) is refused with a warning and the pair in use stays: a
//! rotation never leaves the server without a certificate. Each new connection takes the
//! pair in use when it opens; open connections keep theirs.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How often the certificate and key files are checked for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// The largest certificate or key file read (a chain of a few certificates is a few KiB).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The ALPN protocols offered, in order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode: m.ino(),
    })
}

/// The server's TLS settings and the certificate in use, swapped on reload.
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
    /// The files' stamps when last read (whether or not they loaded).
    seen: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the pair once; an error names the file and what is wrong with it.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<Tls>, TlsError> {
        let seen = (stamp(cert_file), stamp(key_file));
        let config = server_config(cert_file, key_file)?;
        Ok(Arc::new(Tls {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            current: RwLock::new(Arc::new(config)),
            seen: Mutex::new(seen),
        }))
    }

    /// The acceptor for a new connection, with the pair in use now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        TlsAcceptor::from(config)
    }

    /// Reads the pair again if either file changed since it was last read (or always, with
    /// `force`). `Ok(true)`: a new pair is in use; `Ok(false)`: nothing changed; `Err`: the
    /// new files did not load, and the pair in use stays.
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        let now = (stamp(&self.cert_file), stamp(&self.key_file));
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *seen == now {
                return Ok(false);
            }
            *seen = now;
        }
        let config = server_config(&self.cert_file, &self.key_file)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        Ok(true)
    }

    fn reload_logged(&self, force: bool) {
        match self.reload(force) {
            Ok(true) => tracing::info!(
                cert_file = %self.cert_file.display(),
                "TLS certificate reloaded; new connections use it"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "TLS certificate not reloaded; the one in use stays"
            ),
        }
    }
}

/// Follows the files (and SIGHUP) until `stop`.
pub async fn watch_files(tls: Arc<Tls>, mut stop: watch::Receiver<bool>) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; the TLS files are still watched");
            None
        }
    };
    loop {
        let force = tokio::select! {
            _ = tokio::time::sleep(RELOAD_EVERY) => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
            _ = stop.changed() => return,
        };
        if force {
            tracing::info!("SIGHUP: reloading the TLS certificate");
        }
        let tls = tls.clone();
        // File reads and key parsing off the async threads.
        let _ = tokio::task::spawn_blocking(move || tls.reload_logged(force)).await;
    }
}

fn read_limited(path: &Path, key: &str) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| TlsError(format!("key `{key}`: cannot read {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TlsError(format!("key `{key}`: cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError(format!(
            "key `{key}`: {} is larger than {MAX_PEM_BYTES} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// A rustls server configuration from the two PEM files.
fn server_config(cert_file: &Path, key_file: &Path) -> Result<ServerConfig, TlsError> {
    let cert_pem = read_limited(cert_file, "tls_cert_file")?;
    let key_pem = zeroize::Zeroizing::new(read_limited(key_file, "tls_key_file")?);
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsError(format!(
                "key `tls_cert_file`: {} is not a PEM certificate chain: {e}",
                cert_file.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "key `tls_cert_file`: {} holds no certificate",
            cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        TlsError(format!(
            "key `tls_key_file`: {} is not a PEM private key: {e}",
            key_file.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(format!("TLS settings: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsError(format!(
                "keys `tls_cert_file` / `tls_key_file`: {} and {} do not make a usable pair: {e}",
                cert_file.display(),
                key_file.display()
            ))
        })?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
