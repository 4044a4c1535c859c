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

mod records;

use crate::pipeline::directory::{assemble_account, build_identity, AccountFields, IdentityFields};
use passbroker_core::account::Account;
use passbroker_core::identity::Identity;
use passbroker_core::{IdentityId, SourceId};
use passbroker_store::{Page, Store, StoreResult, WriteOp};
use records::{read_chunks, Fields, Parsed, UNREADABLE_REST};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

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
        out.extend(build_identities(store, identities, for_write).await?);
    }
    if !accounts.is_empty() {
        out.extend(build_accounts(store, sources, accounts, for_write).await?);
    }
    Ok(out)
}

/// The identity records' writes; `for_write` keeps the ids and left-out values of the
/// identities that exist (one look-up for the chunk).
async fn build_identities(
    store: &dyn Store,
    identities: Vec<(usize, IdentityFields)>,
    for_write: bool,
) -> StoreResult<Vec<Built>> {
    let mut out = Vec::with_capacity(identities.len());
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
    Ok(out)
}

/// The account records' writes: identities and sources resolved with one look-up per kind
/// for the chunk; `for_write` keeps the ids of the accounts that exist.
async fn build_accounts(
    store: &dyn Store,
    sources: &Sources,
    accounts: Vec<(usize, AccountFields)>,
    for_write: bool,
) -> StoreResult<Vec<Built>> {
    let mut out = Vec::with_capacity(accounts.len());
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
    let sources = match kind {
        ImportKind::Accounts => Sources::load(store).await.map_err(store_problem)?,
        ImportKind::Identities => Sources {
            by_name: HashMap::new(),
            ids: HashSet::new(),
        },
    };
    let checked = check_file(store, &sources, kind, path).await?;
    if !checked.errors.is_empty() && (!skip_bad_rows || checked.unreadable) {
        return Err(checked.errors);
    }
    write_file(store, &sources, kind, path, checked, skip_bad_rows).await
}

/// What the checking pass found.
struct Checked {
    /// Every problem, with its line.
    errors: Vec<String>,
    /// The records to leave out.
    bad_lines: HashSet<usize>,
    /// A record made the rest of the file unreadable.
    unreadable: bool,
}

fn store_problem(e: passbroker_store::StoreError) -> Vec<String> {
    vec![format!("store: {e}")]
}

/// The first pass: checks every record, and that no two records name the same identity
/// or account, without writing.
async fn check_file(
    store: &dyn Store,
    sources: &Sources,
    kind: ImportKind,
    path: &std::path::Path,
) -> Result<Checked, Vec<String>> {
    let db = store_problem;
    let mut errors = Vec::new();
    let mut bad_lines: HashSet<usize> = HashSet::new();
    let mut seen: HashMap<u128, usize> = HashMap::new();
    let mut unreadable = false;
    let mut chunks = read_chunks(kind, path)?;
    while let Some(chunk) = chunks.recv().await {
        for (line, built) in build_chunk(store, sources, chunk, false)
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
    Ok(Checked {
        errors,
        bad_lines,
        unreadable,
    })
}

/// The second pass: writes the good records a chunk per transaction. It is a pipeline:
/// chunk N commits while chunk N+1 is looked up and built (on another connection). The
/// checking pass made sure that no two records name the same row, so chunk N+1 never needs
/// chunk N's writes.
async fn write_file(
    store: &dyn Store,
    sources: &Sources,
    kind: ImportKind,
    path: &std::path::Path,
    checked: Checked,
    skip_bad_rows: bool,
) -> Result<ImportReport, Vec<String>> {
    let db = store_problem;
    let Checked {
        mut errors,
        bad_lines,
        ..
    } = checked;
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
            build_chunk(store, sources, chunk, true).await.map(Some)
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
