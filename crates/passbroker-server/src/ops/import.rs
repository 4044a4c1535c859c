//! Bulk import of identities and accounts (`passbroker tenant import identities|accounts FILE`).
//!
//! Files are CSV (a header row, then one record per line) or JSON (a top-level array of
//! objects, or JSON Lines with one object per line). Records are read in chunks on a thread of
//! their own and each bad one is reported with its line. A first pass checks every record
//! without writing; nothing is written when any record is bad, unless `skip_bad_rows`. The
//! second pass writes the good records a chunk per transaction, with one look-up per chunk
//! for the rows they refer to or update (see [`import`]).
//!
//! Columns / fields use the API's names: identities `name` (or `userName`), `displayName`,
//! `emailAddress` (or `email`), `userLevel`, `active`; accounts `userName` (or
//! `identityId`), `sourceName` (or `sourceId`), `nativeIdentity` (or `accountId`), `name`,
//! `disabled`. In CSV any other column is an attribute (`attributes.` prefix optional).

use crate::pipeline::directory::{assemble_account, build_identity, AccountFields, IdentityFields};
use passbroker_core::account::Account;
use passbroker_core::identity::Identity;
use passbroker_core::{IdentityId, SourceId};
use passbroker_store::{Page, Store, StoreResult, WriteOp};
use serde_json::{Map, Value};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Identities,
    Accounts,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Records written (created or updated).
    pub imported: usize,
    /// Problems of the records left out (with `skip_bad_rows`).
    pub skipped: Vec<String>,
}

/// One record: the line it starts on, and its fields (or why it could not be read).
type Record = (usize, Result<Map<String, Value>, String>);

/// Splits one CSV line (RFC 4180 quoting; no line breaks inside fields).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err(
            "a quoted field is not closed (line breaks inside fields are not supported)".into(),
        );
    }
    out.push(field);
    Ok(out)
}

/// Reads the records of a CSV file, one line at a time.
fn csv_records(reader: impl BufRead) -> impl Iterator<Item = Record> {
    let mut header: Option<Vec<String>> = None;
    reader.lines().enumerate().filter_map(move |(i, line)| {
        let line_no = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some((line_no, Err(format!("cannot be read: {e}")))),
        };
        let line = line
            .strip_prefix('\u{feff}')
            .unwrap_or(&line)
            .trim_end_matches('\r')
            .to_owned();
        if line.trim().is_empty() {
            return None;
        }
        let fields = match csv_fields(&line) {
            Ok(f) => f,
            Err(e) => return Some((line_no, Err(e))),
        };
        let Some(names) = &header else {
            header = Some(fields.iter().map(|f| f.trim().to_owned()).collect());
            return None;
        };
        if fields.len() != names.len() {
            return Some((
                line_no,
                Err(format!(
                    "has {} fields; the header has {}",
                    fields.len(),
                    names.len()
                )),
            ));
        }
        let mut map = Map::new();
        let mut attributes = Map::new();
        for (name, value) in names.iter().zip(fields) {
            if value.is_empty() {
                continue;
            }
            let typed = match value.as_str() {
                "true" if matches!(name.as_str(), "active" | "disabled") => Value::Bool(true),
                "false" if matches!(name.as_str(), "active" | "disabled") => Value::Bool(false),
                _ => Value::String(value),
            };
            if KNOWN_COLUMNS.contains(&name.as_str()) {
                map.insert(name.clone(), typed);
            } else {
                attributes.insert(
                    name.strip_prefix("attributes.").unwrap_or(name).to_owned(),
                    typed,
                );
            }
        }
        if !attributes.is_empty() {
            map.insert("attributes".into(), Value::Object(attributes));
        }
        Some((line_no, Ok(map)))
    })
}

const KNOWN_COLUMNS: &[&str] = &[
    "id",
    "name",
    "userName",
    "alias",
    "displayName",
    "email",
    "emailAddress",
    "userLevel",
    "active",
    "identityStatus",
    "identityId",
    "sourceId",
    "sourceName",
    "nativeIdentity",
    "accountId",
    "disabled",
];

/// Reads the records of a JSON file, one at a time: a top-level array, or JSON Lines.
struct JsonRecords {
    text: String,
    /// Byte offset of the next record (or of the separators before it).
    pos: usize,
    /// The line `counted_to` is on (counted incrementally: each byte is looked at once).
    line: usize,
    counted_to: usize,
    array: bool,
    done: bool,
}

impl JsonRecords {
    fn new(text: String) -> Self {
        let start = text.len() - text.trim_start().len();
        let array = text[start..].starts_with('[');
        let mut r = Self {
            text,
            pos: if array { start + 1 } else { 0 },
            line: 1,
            counted_to: 0,
            array,
            done: false,
        };
        r.line_at(r.pos);
        r
    }

    fn line_at(&mut self, offset: usize) -> usize {
        self.line += self.text.as_bytes()[self.counted_to..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.counted_to = offset;
        self.line
    }
}

impl Iterator for JsonRecords {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let as_object = |v: Value| match v {
            Value::Object(m) => Ok(m),
            _ => Err("must be a JSON object".to_owned()),
        };
        if self.done {
            return None;
        }
        if !self.array {
            // JSON Lines: the next non-blank line.
            loop {
                if self.pos >= self.text.len() {
                    self.done = true;
                    return None;
                }
                let end = self.text[self.pos..]
                    .find('\n')
                    .map_or(self.text.len(), |i| self.pos + i);
                let line_no = self.line_at(self.pos);
                let start = self.pos;
                self.pos = (end + 1).min(self.text.len());
                let line = &self.text[start..end];
                if line.trim().is_empty() {
                    continue;
                }
                return Some((
                    line_no,
                    serde_json::from_str(line)
                        .map_err(|e| format!("is not valid JSON: {e}"))
                        .and_then(as_object),
                ));
            }
        }
        let rest = &self.text[self.pos..];
        self.pos += rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_whitespace() || c == ',')
                .len();
        if self.pos >= self.text.len() || self.text[self.pos..].starts_with(']') {
            self.done = true;
            return None;
        }
        let line_no = self.line_at(self.pos);
        let mut stream =
            serde_json::Deserializer::from_str(&self.text[self.pos..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                self.pos += stream.byte_offset();
                Some((line_no, as_object(v)))
            }
            Some(Err(e)) => {
                self.done = true;
                Some((
                    line_no,
                    Err(format!("is not valid JSON: {e}{UNREADABLE_REST}")),
                ))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

/// Ends the problem of a record after which the file cannot be read (a syntax error inside a
/// JSON array): the records after it are unknown, so the import stops even with
/// `skip_bad_rows` rather than report success for part of the file.
const UNREADABLE_REST: &str = "; the records after it cannot be read, so nothing was imported";

/// Records per chunk: one batch of look-ups and one write transaction each.
const CHUNK: usize = 2_000;

/// A record's fields, typed (or why they are not).
enum Fields {
    Identity(IdentityFields),
    Account(AccountFields),
}

type Parsed = (usize, Result<Fields, Vec<String>>);

/// Reads and types the file's records on a thread of its own, a chunk at a time, so that
/// parsing overlaps the database work.
fn read_chunks(
    kind: ImportKind,
    path: &std::path::Path,
) -> Result<tokio::sync::mpsc::Receiver<Vec<Parsed>>, Vec<String>> {
    let is_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "json" | "jsonl" | "ndjson"));
    let open_error = |e: std::io::Error| vec![format!("{}: {e}", path.display())];
    let records: Box<dyn Iterator<Item = Record> + Send> = if is_json {
        Box::new(JsonRecords::new(
            std::fs::read_to_string(path).map_err(open_error)?,
        ))
    } else {
        Box::new(csv_records(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(path).map_err(open_error)?,
        )))
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    std::thread::spawn(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        for (line, record) in records {
            let typed = record.map_err(|e| vec![e]).and_then(|m| match kind {
                ImportKind::Identities => fields_of(m).map(Fields::Identity),
                ImportKind::Accounts => fields_of(m).map(Fields::Account),
            });
            chunk.push((line, typed));
            if chunk.len() == CHUNK
                && tx
                    .blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                    .is_err()
            {
                return; // the import stopped reading
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(chunk);
        }
    });
    Ok(rx)
}

/// The tenant's sources by id and by name (few; read once per import).
struct Sources {
    by_name: HashMap<String, SourceId>,
    ids: HashSet<SourceId>,
}

impl Sources {
    async fn load(store: &dyn Store) -> StoreResult<Self> {
        let (all, _) = store.list_sources(Page::all()).await?;
        Ok(Self {
            by_name: all
                .iter()
                .map(|s| (s.name.as_str().to_owned(), s.id.clone()))
                .collect(),
            ids: all.into_iter().map(|s| s.id).collect(),
        })
    }

    fn resolve(&self, f: &AccountFields) -> Result<SourceId, String> {
        match (&f.source_id, &f.source_name) {
            (Some(id), _) => SourceId::parse(id)
                .ok()
                .filter(|s| self.ids.contains(s))
                .ok_or_else(|| format!("sourceId: no source {id:?}")),
            (None, Some(n)) => self
                .by_name
                .get(n)
                .cloned()
                .ok_or_else(|| format!("sourceName: no source {n:?}")),
            (None, None) => Err("sourceId: is required (or sourceName)".to_owned()),
        }
    }
}

/// An account record with its identity and source resolved (or why not), by line.
type Resolved = (
    usize,
    AccountFields,
    Result<IdentityId, String>,
    Result<SourceId, String>,
);

/// A record made into a write (with the key that must be unique within the file), or its
/// problems.
type Built = (usize, Result<(String, WriteOp), Vec<String>>);

/// Builds a chunk's writes with one look-up per kind of reference. `for_write` also looks up
/// the rows that already exist (their ids and the values a record leaves out are kept);
/// the checking pass needs only what can make a record bad.
async fn build_chunk(
    store: &dyn Store,
    sources: &Sources,
    chunk: Vec<Parsed>,
    for_write: bool,
) -> StoreResult<Vec<Built>> {
    let mut identities = Vec::new();
    let mut accounts = Vec::new();
    let mut out = Vec::with_capacity(chunk.len());
    for (line, parsed) in chunk {
        match parsed {
            Ok(Fields::Identity(f)) => identities.push((line, f)),
            Ok(Fields::Account(f)) => accounts.push((line, f)),
            Err(problems) => out.push((line, Err(problems))),
        }
    }
    if !identities.is_empty() {
        let existing: HashMap<String, Identity> = if for_write {
            let names: Vec<String> = identities
                .iter()
                .filter_map(|(_, f)| f.name.clone())
                .collect();
            store
                .find_identities_by_login(&names)
                .await?
                .into_iter()
                .map(|i| (i.login_name.as_str().to_lowercase(), i))
                .collect()
        } else {
            HashMap::new()
        };
        for (line, f) in identities {
            let old = f
                .name
                .as_deref()
                .and_then(|n| existing.get(&n.to_lowercase()));
            out.push((
                line,
                build_identity(f, old).map(|i| {
                    (
                        i.login_name.as_str().to_lowercase(),
                        WriteOp::UpsertIdentity(i),
                    )
                }),
            ));
        }
    }
    if !accounts.is_empty() {
        let names: Vec<String> = accounts
            .iter()
            .filter(|(_, f)| f.identity_id.is_none())
            .filter_map(|(_, f)| f.user_name.clone())
            .collect();
        let by_login: HashMap<String, IdentityId> = store
            .find_identities_by_login(&names)
            .await?
            .into_iter()
            .map(|i| (i.login_name.as_str().to_lowercase(), i.id))
            .collect();
        let ids: Vec<IdentityId> = accounts
            .iter()
            .filter_map(|(_, f)| {
                f.identity_id
                    .as_deref()
                    .and_then(|i| IdentityId::parse(i).ok())
            })
            .collect();
        let known_ids: HashSet<IdentityId> = if ids.is_empty() {
            HashSet::new()
        } else {
            store
                .get_identities(&ids)
                .await?
                .into_iter()
                .map(|i| i.id)
                .collect()
        };
        let resolved: Vec<Resolved> = accounts
            .into_iter()
            .map(|(line, f)| {
                let identity = match (&f.identity_id, &f.user_name) {
                    (Some(id), _) => IdentityId::parse(id)
                        .ok()
                        .filter(|i| known_ids.contains(i))
                        .ok_or_else(|| format!("identityId: no identity {id:?}")),
                    (None, Some(u)) => by_login
                        .get(&u.to_lowercase())
                        .cloned()
                        .ok_or_else(|| format!("userName: no identity {u:?}")),
                    (None, None) => Err("identityId: is required (or userName)".to_owned()),
                };
                let source = sources.resolve(&f);
                (line, f, identity, source)
            })
            .collect();
        // The accounts that exist already, per source (an import keeps their ids).
        let mut existing: HashMap<(SourceId, String), Account> = HashMap::new();
        if for_write {
            let mut wanted: HashMap<&SourceId, Vec<String>> = HashMap::new();
            for (_, f, _, source) in &resolved {
                if let (Ok(s), Some(n)) = (source, &f.native_identity) {
                    wanted.entry(s).or_default().push(n.clone());
                }
            }
            for (source, natives) in wanted {
                for a in store.find_accounts(source, &natives).await? {
                    existing.insert((a.source_id.clone(), a.native_id.as_str().to_owned()), a);
                }
            }
        }
        for (line, f, identity, source) in resolved {
            let old = match (&source, &f.native_identity) {
                (Ok(s), Some(n)) => existing.get(&(s.clone(), n.clone())),
                _ => None,
            };
            out.push((
                line,
                assemble_account(f, identity, source, old).map(|a| {
                    (
                        format!("{} on source {}", a.native_id.as_str(), a.source_id),
                        WriteOp::UpsertAccount(a),
                    )
                }),
            ));
        }
    }
    Ok(out)
}

/// A 128-bit fingerprint of a record's unique key: the checking pass remembers a million
/// records' keys in ~30 MB instead of their text.
fn fingerprint(key: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        (salt, key).hash(&mut h);
        h.finish() as u128
    };
    (half(1) << 64) | half(2)
}

/// Imports a file; `Err` lists every bad record (nothing was written).
///
/// Two passes over the file, a chunk of records at a time: the first checks every record
/// (and that no two records name the same identity or account) without writing; the second
/// writes each chunk in its own transaction, so a large import neither holds the whole file
/// in memory nor blocks the server's writes for long. A record that turns bad between the
/// passes (a concurrent change of the tenant) stops the import with the count written so far.
pub async fn import(
    store: &dyn Store,
    kind: ImportKind,
    path: &std::path::Path,
    skip_bad_rows: bool,
) -> Result<ImportReport, Vec<String>> {
    let db = |e: passbroker_store::StoreError| vec![format!("store: {e}")];
    let sources = match kind {
        ImportKind::Accounts => Sources::load(store).await.map_err(db)?,
        ImportKind::Identities => Sources {
            by_name: HashMap::new(),
            ids: HashSet::new(),
        },
    };
    let mut errors = Vec::new();
    let mut bad_lines: HashSet<usize> = HashSet::new();
    let mut seen: HashMap<u128, usize> = HashMap::new();
    let mut unreadable = false;
    let mut chunks = read_chunks(kind, path)?;
    while let Some(chunk) = chunks.recv().await {
        for (line, built) in build_chunk(store, &sources, chunk, false)
            .await
            .map_err(db)?
        {
            match built {
                Ok((key, _)) => match seen.entry(fingerprint(&key)) {
                    Entry::Occupied(first) => {
                        errors.push(format!(
                            "line {line}: repeats the record of line {} ({key})",
                            first.get()
                        ));
                        bad_lines.insert(line);
                    }
                    Entry::Vacant(v) => {
                        v.insert(line);
                    }
                },
                Err(problems) => {
                    unreadable |= problems.iter().any(|p| p.ends_with(UNREADABLE_REST));
                    errors.extend(problems.into_iter().map(|p| format!("line {line}: {p}")));
                    bad_lines.insert(line);
                }
            }
        }
    }
    drop(seen);
    if !errors.is_empty() && (!skip_bad_rows || unreadable) {
        return Err(errors);
    }
    // The writing pass is a pipeline: chunk N commits while chunk N+1 is looked up and
    // built (on another connection). The checking pass made sure that no two records name
    // the same row, so chunk N+1 never needs chunk N's writes.
    let mut written = 0;
    let mut chunks = read_chunks(kind, path)?;
    let mut pending: Option<Vec<WriteOp>> = None;
    loop {
        let commit = async {
            match pending.take() {
                Some(ops) if !ops.is_empty() => {
                    let n = ops.len();
                    store.apply(ops).await.map(|()| n)
                }
                _ => Ok(0),
            }
        };
        let build = async {
            let Some(mut chunk) = chunks.recv().await else {
                return Ok(None);
            };
            chunk.retain(|(line, _)| !bad_lines.contains(line));
            build_chunk(store, &sources, chunk, true).await.map(Some)
        };
        let (committed, built) = tokio::join!(commit, build);
        written += committed.map_err(|e| {
            vec![format!(
                "store: {e} ({written} record(s) before this chunk were written; records \
                 are matched by name, so it is safe to import the file again)"
            )]
        })?;
        let Some(built) = built.map_err(db)? else {
            break;
        };
        let mut ops = Vec::with_capacity(built.len());
        for (line, built) in built {
            match built {
                Ok((_, op)) => ops.push(op),
                Err(problems) if skip_bad_rows => {
                    errors.extend(problems.into_iter().map(|p| format!("line {line}: {p}")))
                }
                Err(problems) => {
                    let mut out: Vec<String> = problems
                        .into_iter()
                        .map(|p| format!("line {line}: {p}"))
                        .collect();
                    out.push(format!(
                        "the tenant changed while importing: {written} record(s) before this \
                         chunk were written; fix the file and import it again (records are matched \
                         by name, so it is safe to repeat)"
                    ));
                    return Err(out);
                }
            }
        }
        pending = Some(ops);
    }
    Ok(ImportReport {
        imported: written,
        skipped: errors,
    })
}

fn fields_of<T: serde::de::DeserializeOwned>(fields: Map<String, Value>) -> Result<T, Vec<String>> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| vec![e.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_records_carry_their_lines() {
        assert_eq!(
            csv_fields(r#"a,"b,c","d ""q""",,e"#).unwrap(),
            vec!["a", "b,c", "d \"q\"", "", "e"]
        );
        assert!(csv_fields("\"open").is_err());
        let csv =
            "name,email,department\nJane,jane@x.io,IT\n\nBob,\"bob@x.io\"\nCarl,c@x.io,Sales\n";
        let recs: Vec<Record> = csv_records(csv.as_bytes()).collect();
        assert_eq!(recs.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 4, 5]);
        assert!(recs[1].1.is_err());
        assert_eq!(
            recs[2].1.as_ref().unwrap()["attributes"]["department"],
            "Sales"
        );
        let json = "[\n  {\"name\": \"a\"},\n  {\"name\":\n \"b\"}, 7\n]";
        let recs: Vec<Record> = JsonRecords::new(json.to_owned()).collect();
        assert_eq!(recs.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(recs[2].1.is_err());
        let lines: Vec<Record> = JsonRecords::new("{\"name\": \"a\"}\n\n{oops}\n".into()).collect();
        assert_eq!((lines[1].0, lines[1].1.is_err()), (3, true));
    }
}
