//! The agent's local spool: captured changes the server did not take yet, as ciphertexts
//! only (encrypted to the server's key the moment they were captured). One 0600 JSON file
//! per change in a 0700 directory; bounded in files and bytes (the oldest make room, and
//! are reported); entries older than the TTL are dropped and reported.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One captured change, as posted to `captured-passwords` (and kept while undelivered).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The agent's key for this change (the server collapses repeats of it).
    pub idempotency_key: String,
    pub source_id: String,
    pub native_identity: String,
    pub encrypted_password: String,
    pub public_key_id: String,
    pub encryption: String,
    pub captured_at: String,
    /// When it was captured, in milliseconds since the epoch (drives the TTL).
    pub captured_ms: i64,
}

impl Entry {
    /// The request body (the entry minus the agent's bookkeeping).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "sourceId": self.source_id,
            "nativeIdentity": self.native_identity,
            "encryptedPassword": self.encrypted_password,
            "publicKeyId": self.public_key_id,
            "encryption": self.encryption,
            "capturedAt": self.captured_at,
            "idempotencyKey": self.idempotency_key,
        })
    }
    /// A short description for reports (no ciphertext).
    pub fn describe(&self) -> String {
        format!(
            "the change of {:?} captured at {} (key {})",
            self.native_identity, self.captured_at, self.idempotency_key
        )
    }
}

pub struct Spool {
    pub dir: PathBuf,
    pub max_entries: usize,
    pub max_bytes: u64,
    pub ttl_ms: i64,
}

/// A spooled entry and its file.
pub struct Spooled {
    pub path: PathBuf,
    pub entry: Entry,
    pub bytes: u64,
}

impl Spool {
    /// Creates the directory (0700) if needed.
    pub fn open(&self) -> anyhow::Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the spool {}", self.dir.display()))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict the spool {}", self.dir.display()))?;
        Ok(())
    }

    /// The entries, oldest first. Entries past the TTL (and unreadable files) are removed and
    /// described in `dropped`.
    pub fn load(&self, now_ms: i64, dropped: &mut Vec<String>) -> anyhow::Result<Vec<Spooled>> {
        let mut out = Vec::new();
        for item in fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read the spool {}", self.dir.display()))?
        {
            let path = item?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with(".c-") && name.ends_with(".tmp") {
                // A write that never finished (the entry it was for was not acknowledged).
                remove(&path);
                continue;
            }
            let is_entry = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("c-") && n.ends_with(".json"));
            if !is_entry {
                continue;
            }
            let parsed = fs::read(&path)
                .ok()
                .and_then(|b| Some((b.len() as u64, serde_json::from_slice::<Entry>(&b).ok()?)));
            match parsed {
                Some((_, entry)) if now_ms - entry.captured_ms > self.ttl_ms => {
                    dropped.push(format!(
                        "dropped {} from the spool: older than the spool TTL ({} s) and never delivered",
                        entry.describe(),
                        self.ttl_ms / 1000
                    ));
                    remove(&path);
                }
                Some((bytes, entry)) => out.push(Spooled { path, entry, bytes }),
                None => {
                    dropped.push(format!(
                        "dropped the unreadable spool file {}",
                        path.display()
                    ));
                    remove(&path);
                }
            }
        }
        out.sort_by(|a, b| (a.entry.captured_ms, &a.path).cmp(&(b.entry.captured_ms, &b.path)));
        Ok(out)
    }

    /// Adds an entry, first removing the oldest ones (reported in `dropped`) while the spool
    /// would hold too many files or bytes.
    pub fn add(
        &self,
        entry: &Entry,
        existing: &mut Vec<Spooled>,
        dropped: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let text = serde_json::to_vec(entry)?;
        let size = text.len() as u64;
        if size > self.max_bytes {
            anyhow::bail!("a spool entry of {size} bytes does not fit --spool-max-bytes");
        }
        while !existing.is_empty()
            && (existing.len() + 1 > self.max_entries
                || existing.iter().map(|s| s.bytes).sum::<u64>() + size > self.max_bytes)
        {
            let oldest = existing.remove(0);
            dropped.push(format!(
                "dropped {} from the spool to make room (the spool is full)",
                oldest.entry.describe()
            ));
            remove(&oldest.path);
        }
        let name = format!(
            "c-{:016}-{}.json",
            entry.captured_ms,
            hex_key(&entry.idempotency_key)
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        existing.push(Spooled {
            path,
            entry: entry.clone(),
            bytes: size,
        });
        Ok(())
    }
}

/// A file-name-safe form of an agent key.
fn hex_key(key: &str) -> String {
    hex::encode(&passbroker_crypto::random::sha256(key.as_bytes())[..12])
}

pub fn remove(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("passbroker capture: cannot remove {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, captured_ms: i64) -> Entry {
        Entry {
            idempotency_key: key.into(),
            source_id: "s".into(),
            native_identity: "carol".into(),
            encrypted_password: "QUJD".into(),
            public_key_id: "k".into(),
            encryption: "RSA-OAEP-256".into(),
            captured_at: "2026-12-02T13:00:00Z".into(),
            captured_ms,
        }
    }

    #[test]
    fn the_spool_is_bounded_and_drops_the_oldest_and_the_expired_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool {
            dir: dir.path().join("spool"),
            max_entries: 2,
            max_bytes: 1 << 20,
            ttl_ms: 10_000,
        };
        spool.open().unwrap();
        let mut dropped = Vec::new();
        let mut held = spool.load(1_000, &mut dropped).unwrap();
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            spool
                .add(&entry(key, 1_000 + i as i64), &mut held, &mut dropped)
                .unwrap();
        }
        assert_eq!(dropped.len(), 1, "{dropped:?}");
        assert!(dropped[0].contains("(key a)") && dropped[0].contains("full"));
        let keys = |v: &[Spooled]| {
            v.iter()
                .map(|s| s.entry.idempotency_key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&held), ["b", "c"]);
        let mut dropped = Vec::new();
        assert_eq!(keys(&spool.load(2_000, &mut dropped).unwrap()), ["b", "c"]);
        assert!(dropped.is_empty());
        // Past the TTL: dropped (and its file removed) with a report.
        let mut dropped = Vec::new();
        assert!(spool.load(1_002 + 10_001, &mut dropped).unwrap().is_empty());
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert!(dropped.iter().all(|d| d.contains("TTL")));
        assert!(spool.load(0, &mut Vec::new()).unwrap().is_empty());
        // Bytes bound too.
        let one = serde_json::to_vec(&entry("x", 1)).unwrap().len() as u64;
        let small = Spool {
            max_bytes: 2 * one - 1,
            ..spool
        };
        let mut held = Vec::new();
        let mut dropped = Vec::new();
        small.add(&entry("x", 1), &mut held, &mut dropped).unwrap();
        small.add(&entry("y", 2), &mut held, &mut dropped).unwrap();
        assert_eq!(keys(&held), ["y"], "{dropped:?}");
    }
}
