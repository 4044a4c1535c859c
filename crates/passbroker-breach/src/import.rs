//! Streams a corpus into an index: one ordered file of `HASH:COUNT` lines, or a directory of
//! range files named by their five-hex-digit prefix holding `SUFFIX:COUNT` lines (what the
//! Pwned Passwords downloader writes). Memory stays flat whatever the corpus size.

use crate::{BreachError, HashKind, IndexWriter, PREFIXES};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub kind: HashKind,
    pub records: u64,
    /// The index file now in place.
    pub index: PathBuf,
    /// Range files a directory lacked (their prefixes are empty).
    pub missing_range_files: u64,
}

/// Told of progress now and then: (work done, work in all, records so far). For a file the
/// work is bytes; for a directory, range files.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64, u64);

/// The index file of a kind in a breach directory.
pub fn index_path(dir: &Path, kind: HashKind) -> PathBuf {
    dir.join(format!("{}.pbidx", kind.name()))
}

fn kind_of_hex_len(len: usize, whole_hash: bool) -> Option<HashKind> {
    HashKind::ALL.into_iter().find(|k| {
        let full = k.len() * 2;
        len == if whole_hash { full } else { full - 5 }
    })
}

fn parse_line<'a>(line: &'a str, what: &dyn Fn() -> String) -> Result<(&'a str, u64), BreachError> {
    let (hash, count) = line
        .split_once(':')
        .ok_or_else(|| BreachError::Format(format!("{}: expected HASH:COUNT", what())))?;
    let count = count
        .trim()
        .parse::<u64>()
        .map_err(|_| BreachError::Format(format!("{}: the count is not a number", what())))?;
    Ok((hash.trim(), count))
}

fn decode(hex_text: &str, what: &dyn Fn() -> String) -> Result<Vec<u8>, BreachError> {
    hex::decode(hex_text)
        .map_err(|_| BreachError::Format(format!("{}: the hash is not hexadecimal", what())))
}

/// Imports `input` (a file or a directory of range files) into `dest_dir`, replacing the
/// index of its kind atomically. `kind` is detected from the hash length when `None`.
pub fn import(
    input: &Path,
    dest_dir: &Path,
    kind: Option<HashKind>,
    progress: Progress<'_>,
) -> Result<ImportReport, BreachError> {
    if input.is_dir() {
        import_dir(input, dest_dir, kind, progress)
    } else {
        import_file(input, dest_dir, kind, progress)
    }
}

fn import_file(
    input: &Path,
    dest_dir: &Path,
    kind: Option<HashKind>,
    progress: Progress<'_>,
) -> Result<ImportReport, BreachError> {
    let total = std::fs::metadata(input)?.len();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(input)?);
    let mut writer: Option<IndexWriter> = None;
    let mut line = String::new();
    let (mut line_no, mut done) = (0u64, 0u64);
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| {
            BreachError::Format(format!("{}: line {}: {e}", input.display(), line_no + 1))
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        done += n as u64;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let what = || format!("{}: line {line_no}", input.display());
        let (hash_hex, count) = parse_line(text, &what)?;
        if writer.is_none() {
            let k = match kind {
                Some(k) => k,
                None => kind_of_hex_len(hash_hex.len(), true).ok_or_else(|| {
                    BreachError::Format(format!(
                        "{}: a hash of {} hex digits is neither SHA-1 (40) nor NTLM (32)",
                        what(),
                        hash_hex.len()
                    ))
                })?,
            };
            writer = Some(IndexWriter::create(
                &crate::import::index_path(dest_dir, k),
                k,
            )?);
        }
        let w = writer
            .as_mut()
            .ok_or_else(|| BreachError::Format("no writer".into()))?;
        if hash_hex.len() != w.kind().len() * 2 {
            return Err(BreachError::Format(format!(
                "{}: expected a {}-digit {} hash",
                what(),
                w.kind().len() * 2,
                w.kind().name()
            )));
        }
        w.push(&decode(hash_hex, &what)?, count)
            .map_err(|e| BreachError::Format(format!("{}: {e}", what())))?;
        if line_no % 1_000_000 == 0 {
            progress(done, total, line_no);
        }
    }
    let writer = writer
        .ok_or_else(|| BreachError::Format(format!("{}: holds no hashes", input.display())))?;
    let kind = writer.kind();
    let records = writer.finish()?;
    progress(total, total, records);
    Ok(ImportReport {
        kind,
        records,
        index: index_path(dest_dir, kind),
        missing_range_files: 0,
    })
}

/// The range files of a directory by prefix (`XXXXX`, either case, optionally `.txt`).
fn range_files(dir: &Path) -> Result<std::collections::HashMap<usize, PathBuf>, BreachError> {
    let mut files = std::collections::HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stem = name.strip_suffix(".txt").unwrap_or(name);
        if let Some(prefix) = crate::parse_prefix(stem) {
            files.insert(prefix, entry.path());
        }
    }
    Ok(files)
}

fn import_dir(
    input: &Path,
    dest_dir: &Path,
    kind: Option<HashKind>,
    progress: Progress<'_>,
) -> Result<ImportReport, BreachError> {
    let mut writer: Option<IndexWriter> = None;
    let (mut missing, mut records) = (0u64, 0u64);
    let files = range_files(input)?;
    for prefix in 0..PREFIXES {
        let Some(path) = files.get(&prefix) else {
            missing += 1;
            continue;
        };
        let text = std::fs::read_to_string(path)?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let what = || format!("{}: line {}", path.display(), n + 1);
            let (suffix, count) = parse_line(line, &what)?;
            if writer.is_none() {
                let k = match kind {
                    Some(k) => k,
                    None => kind_of_hex_len(suffix.len(), false).ok_or_else(|| {
                        BreachError::Format(format!(
                            "{}: a suffix of {} hex digits is neither SHA-1 (35) nor NTLM (27)",
                            what(),
                            suffix.len()
                        ))
                    })?,
                };
                writer = Some(IndexWriter::create(&index_path(dest_dir, k), k)?);
            }
            let w = writer
                .as_mut()
                .ok_or_else(|| BreachError::Format("no writer".into()))?;
            if suffix.len() != w.kind().len() * 2 - 5 {
                return Err(BreachError::Format(format!(
                    "{}: expected a {}-digit suffix",
                    what(),
                    w.kind().len() * 2 - 5
                )));
            }
            let hash = decode(&format!("{prefix:05X}{suffix}"), &what)?;
            w.push(&hash, count)
                .map_err(|e| BreachError::Format(format!("{}: {e}", what())))?;
            records += 1;
        }
        if prefix % 4096 == 0 {
            progress(prefix as u64, PREFIXES as u64, records);
        }
    }
    if missing == PREFIXES as u64 {
        return Err(BreachError::Format(format!(
            "{}: holds no range files (00000 … FFFFF)",
            input.display()
        )));
    }
    let writer = writer.ok_or_else(|| {
        BreachError::Format(format!(
            "{}: the range files hold no hashes",
            input.display()
        ))
    })?;
    let kind = writer.kind();
    let records = writer.finish()?;
    progress(PREFIXES as u64, PREFIXES as u64, records);
    Ok(ImportReport {
        kind,
        records,
        index: index_path(dest_dir, kind),
        missing_range_files: missing,
    })
}
