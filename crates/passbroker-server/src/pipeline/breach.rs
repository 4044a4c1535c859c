//! The breached-password check, for the workers' breach rule and the range endpoint:
//! - the local corpus index that `passbroker breach import` writes into `breach_dir`, picked up
//!   again within [`REFRESH_EVERY`] when a re-import replaces it (lookups in flight keep the
//!   index they opened, so a swap loses nothing);
//! - an upstream HIBP-compatible range API (`breach_upstream_url`): only the five-hex-digit
//!   prefix leaves the server, with padding asked for; answers are cached for a while;
//! - neither: the caller falls back to the built-in common-password list.

use passbroker_breach::{index_path, prefix_of, BreachIndex, HashKind};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often a server looks for a re-imported index.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);
/// Upstream answers kept at most (each a few tens of kilobytes).
const UPSTREAM_CACHE_ENTRIES: usize = 4_096;

/// What the corpus says of a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Seen this many times.
    Times(u32),
    NotSeen,
    /// No local index and no upstream: the caller uses the built-in list.
    NoCorpus,
}

/// Neither the local index nor the upstream could answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the breach corpus at {at} did not answer: {reason}")]
pub struct Unavailable {
    pub at: String,
    pub reason: String,
}

/// Identifies one index file, to notice that a re-import replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    len: u64,
}

struct Loaded {
    index: Arc<BreachIndex>,
    id: FileId,
}

struct Upstream {
    base: String,
    client: reqwest::Client,
    ttl: Duration,
    cache: Mutex<HashMap<(HashKind, usize), CachedRange>>,
}

/// An upstream range body and when it was fetched.
type CachedRange = (Instant, Arc<String>);

pub struct Breach {
    dir: PathBuf,
    local: RwLock<HashMap<HashKind, Loaded>>,
    upstream: Option<Upstream>,
    fail_open: bool,
}

impl Breach {
    pub fn new(config: &crate::config::Config) -> Breach {
        let timeout = Duration::from_millis(config.breach_upstream_timeout_ms);
        let upstream = config.breach_upstream_url.as_ref().map(|url| Upstream {
            base: url.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            ttl: Duration::from_secs(config.breach_upstream_cache_secs),
            cache: Mutex::new(HashMap::new()),
        });
        Breach {
            dir: config.breach_dir(),
            local: RwLock::new(HashMap::new()),
            upstream,
            fail_open: config.breach_upstream_failure == "open",
        }
    }

    /// [`Breach::refresh`] on a blocking thread, logging what changed (start-up and the
    /// periodic look for a re-imported index).
    pub async fn refresh_logged(self: &Arc<Self>) {
        let breach = self.clone();
        if let Ok(changed) = tokio::task::spawn_blocking(move || breach.refresh()).await {
            for line in changed {
                tracing::info!(what = %line, "breach corpus");
            }
        }
    }

    /// Whether an unreachable corpus lets changes through (`breach_upstream_failure`).
    pub fn fails_open(&self) -> bool {
        self.fail_open
    }

    /// Opens indexes that appeared or were replaced since the last look, and forgets removed
    /// ones. Blocking (file IO): call it off the async threads. Returns what changed.
    pub fn refresh(&self) -> Vec<String> {
        let mut changed = Vec::new();
        for kind in HashKind::ALL {
            let path = index_path(&self.dir, kind);
            let id = std::fs::metadata(&path).ok().map(|m| FileId {
                dev: m.dev(),
                ino: m.ino(),
                mtime: m.mtime(),
                mtime_nsec: m.mtime_nsec(),
                len: m.len(),
            });
            let current = self
                .local
                .read()
                .ok()
                .and_then(|l| l.get(&kind).map(|loaded| loaded.id));
            if id == current {
                continue;
            }
            let opened = id.map(|id| (id, BreachIndex::open(&path)));
            let Ok(mut local) = self.local.write() else {
                continue;
            };
            match opened {
                None => {
                    local.remove(&kind);
                    changed.push(format!("no {} index at {}", kind.name(), path.display()));
                }
                Some((id, Ok(index))) => {
                    changed.push(format!(
                        "{} index with {} hashes loaded from {}",
                        kind.name(),
                        index.records(),
                        path.display()
                    ));
                    let index = Arc::new(index);
                    local.insert(kind, Loaded { index, id });
                }
                Some((_, Err(e))) => {
                    changed.push(format!(
                        "{}: unusable, kept the previous one: {e}",
                        path.display()
                    ));
                }
            }
        }
        changed
    }

    fn local(&self, kind: HashKind) -> Option<Arc<BreachIndex>> {
        self.local
            .read()
            .ok()
            .and_then(|l| l.get(&kind).map(|loaded| loaded.index.clone()))
    }

    /// How many hashes the local index of a kind holds (for status output).
    pub fn local_records(&self, kind: HashKind) -> Option<u64> {
        self.local(kind).map(|i| i.records())
    }

    fn local_failure(&self, reason: String) -> Unavailable {
        Unavailable {
            at: self.dir.display().to_string(),
            reason,
        }
    }

    /// How often the corpus has seen `password` (its SHA-1).
    pub async fn seen(&self, password: &passbroker_core::Password) -> Result<Seen, Unavailable> {
        let hash = HashKind::Sha1.hash(password.expose());
        if let Some(index) = self.local(HashKind::Sha1) {
            // From the page cache on this thread when it can be; from the disk off it.
            let looked = match index.lookup_now(&hash) {
                Some(looked) => looked,
                None => tokio::task::spawn_blocking(move || index.lookup(&hash))
                    .await
                    .unwrap_or_else(|e| {
                        Err(passbroker_breach::BreachError::Format(format!(
                            "a read failed: {e}"
                        )))
                    }),
            };
            return match looked {
                Ok(Some(n)) => Ok(Seen::Times(n)),
                Ok(None) => Ok(Seen::NotSeen),
                Err(e) => Err(self.local_failure(e.to_string())),
            };
        }
        let Some(upstream) = &self.upstream else {
            return Ok(Seen::NoCorpus);
        };
        let body = upstream.range(HashKind::Sha1, prefix_of(&hash)).await?;
        let suffix = &hex::encode_upper(&hash)[5..];
        Ok(match passbroker_breach::range::find(&body, suffix) {
            Some(n) => Seen::Times(n),
            None => Seen::NotSeen,
        })
    }

    /// The records of one prefix (`None`: no corpus of this kind here or upstream).
    pub async fn range(
        &self,
        kind: HashKind,
        prefix: usize,
    ) -> Result<Option<Vec<(String, u32)>>, Unavailable> {
        if let Some(index) = self.local(kind) {
            let read = match index.range_now(prefix) {
                Some(read) => read,
                None => tokio::task::spawn_blocking(move || index.range(prefix))
                    .await
                    .unwrap_or_else(|e| {
                        Err(passbroker_breach::BreachError::Format(format!(
                            "a read failed: {e}"
                        )))
                    }),
            };
            return match read {
                Ok(entries) => Ok(Some(entries)),
                Err(e) => Err(self.local_failure(e.to_string())),
            };
        }
        let Some(upstream) = &self.upstream else {
            return Ok(None);
        };
        let body = upstream.range(kind, prefix).await?;
        let entries = body
            .lines()
            .filter_map(|line| {
                let (suffix, count) = line.trim().split_once(':')?;
                let count = count.trim().parse::<u32>().ok().filter(|c| *c > 0)?;
                Some((suffix.to_ascii_uppercase(), count))
            })
            .collect();
        Ok(Some(entries))
    }
}

impl Upstream {
    /// The upstream's range body for a prefix, padded, from the cache while it is fresh.
    async fn range(&self, kind: HashKind, prefix: usize) -> Result<Arc<String>, Unavailable> {
        let cached = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&(kind, prefix)).cloned());
        if let Some((at, body)) = cached {
            if at.elapsed() < self.ttl {
                return Ok(body);
            }
        }
        let mode = match kind {
            HashKind::Sha1 => "",
            HashKind::Ntlm => "?mode=ntlm",
        };
        let url = format!("{}/range/{prefix:05X}{mode}", self.base);
        let unavailable = |reason: String| Unavailable {
            at: self.base.clone(),
            reason,
        };
        let response = self
            .client
            .get(&url)
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| {
                unavailable(if e.is_timeout() {
                    "timed out".into()
                } else {
                    e.to_string()
                })
            })?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status().as_u16())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        // A range holds about a thousand short lines; refuse anything far larger.
        if bytes.len() > 1 << 20 {
            return Err(unavailable(
                "the answer is larger than a range can be".into(),
            ));
        }
        let body = Arc::new(String::from_utf8_lossy(&bytes).into_owned());
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= UPSTREAM_CACHE_ENTRIES {
                cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
                if cache.len() >= UPSTREAM_CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert((kind, prefix), (Instant::now(), body.clone()));
        }
        Ok(body)
    }
}

/// The breach rule's message: how often, in bands, never the exact count.
pub fn seen_message(times: u32) -> String {
    let band = [1_000_000u32, 100_000, 10_000, 1_000, 100, 10]
        .into_iter()
        .find(|b| times > *b);
    match band {
        Some(b) => format!(
            "The password appears in known data breaches (seen more than {} times); choose another.",
            group_thousands(b)
        ),
        None => "The password appears in known data breaches; choose another.".to_owned(),
    }
}

fn group_thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::seen_message;

    #[test]
    fn breach_messages_name_a_band_not_the_count() {
        assert_eq!(
            seen_message(1_234),
            "The password appears in known data breaches (seen more than 1,000 times); choose another."
        );
        assert!(seen_message(3).contains("known data breaches;"));
        assert!(seen_message(10_434_004).contains("more than 1,000,000 times"));
    }
}
