//! Bulk import of identities and accounts (`passbroker tenant import identities|accounts FILE`).
//!
//! Files are CSV (a header row, then one record per line) or JSON (a top-level array of
//! objects, or JSON Lines with one object per line). Records are read one at a time and each
//! bad one is reported with its line. Nothing is written when any record is bad, unless
//! `skip_bad_rows`; the good records are then written in one transaction.
//!
//! Columns / fields use the API's names: identities `name` (or `userName`), `displayName`,
//! `emailAddress` (or `email`), `userLevel`, `active`; accounts `userName` (or
//! `identityId`), `sourceName` (or `sourceId`), `nativeIdentity` (or `accountId`), `name`,
//! `disabled`. In CSV any other column is an attribute (`attributes.` prefix optional).

use crate::routes::accounts::{build_account, AccountFields};
use crate::routes::identities::{build_identity, IdentityFields};
use passbroker_core::SourceId;
use passbroker_store::{Store, WriteOp};
use serde_json::{Map, Value};
use std::collections::HashMap;
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

/// Reads the records of a JSON file: a top-level array, or JSON Lines.
fn json_records(text: &str) -> Vec<Record> {
    let line_of = |offset: usize| text[..offset].bytes().filter(|b| *b == b'\n').count() + 1;
    let as_object = |v: Value| match v {
        Value::Object(m) => Ok(m),
        _ => Err("must be a JSON object".to_owned()),
    };
    let trimmed = text.trim_start();
    let mut out = Vec::new();
    let Some(rest) = trimmed.strip_prefix('[') else {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            out.push((
                i + 1,
                serde_json::from_str(line)
                    .map_err(|e| format!("is not valid JSON: {e}"))
                    .and_then(as_object),
            ));
        }
        return out;
    };
    let mut pos = text.len() - rest.len();
    loop {
        let skipped = text[pos..].len()
            - text[pos..]
                .trim_start_matches(|c: char| c.is_whitespace() || c == ',')
                .len();
        pos += skipped;
        if text[pos..].starts_with(']') || pos >= text.len() {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                out.push((line_of(pos), as_object(v)));
                pos += stream.byte_offset();
            }
            Some(Err(e)) => {
                out.push((line_of(pos), Err(format!("is not valid JSON: {e}"))));
                break;
            }
            None => break,
        }
    }
    out
}

/// Imports a file; `Err` lists every bad record (nothing was written).
pub async fn import(
    store: &dyn Store,
    kind: ImportKind,
    path: &std::path::Path,
    skip_bad_rows: bool,
) -> Result<ImportReport, Vec<String>> {
    let is_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "json" | "jsonl" | "ndjson"));
    let open_error = |e: std::io::Error| vec![format!("{}: {e}", path.display())];
    let records: Box<dyn Iterator<Item = Record>> = if is_json {
        Box::new(json_records(&std::fs::read_to_string(path).map_err(open_error)?).into_iter())
    } else {
        Box::new(csv_records(std::io::BufReader::new(
            std::fs::File::open(path).map_err(open_error)?,
        )))
    };
    let db = |e: passbroker_store::StoreError| vec![format!("store: {e}")];
    let mut ops = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, record) in records {
        let fields = match record {
            Ok(f) => f,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let built = match kind {
            ImportKind::Identities => identity_op(store, fields).await.map_err(db)?,
            ImportKind::Accounts => account_op(store, fields).await.map_err(db)?,
        };
        match built {
            Ok((key, op)) => match seen.insert(key.clone(), line) {
                Some(first) => errors.push(format!(
                    "line {line}: repeats the record of line {first} ({key})"
                )),
                None => ops.push(op),
            },
            Err(problems) => {
                errors.extend(problems.into_iter().map(|p| format!("line {line}: {p}")))
            }
        }
    }
    if !errors.is_empty() && !skip_bad_rows {
        return Err(errors);
    }
    let imported = ops.len();
    if !ops.is_empty() {
        store.apply(ops).await.map_err(db)?;
    }
    Ok(ImportReport {
        imported,
        skipped: errors,
    })
}

fn fields_of<T: serde::de::DeserializeOwned>(fields: Map<String, Value>) -> Result<T, Vec<String>> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| vec![e.to_string()])
}

async fn identity_op(
    store: &dyn Store,
    fields: Map<String, Value>,
) -> Result<Result<(String, WriteOp), Vec<String>>, passbroker_store::StoreError> {
    let fields: IdentityFields = match fields_of(fields) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let existing = match fields.name.as_deref() {
        Some(n) => store.find_identity_by_login(n).await?,
        None => None,
    };
    Ok(build_identity(fields, existing.as_ref()).map(|i| {
        (
            i.login_name.as_str().to_lowercase(),
            WriteOp::UpsertIdentity(i),
        )
    }))
}

async fn account_op(
    store: &dyn Store,
    fields: Map<String, Value>,
) -> Result<Result<(String, WriteOp), Vec<String>>, passbroker_store::StoreError> {
    let fields: AccountFields = match fields_of(fields) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let source: Option<SourceId> = match (&fields.source_id, &fields.source_name) {
        (Some(id), _) => SourceId::parse(id).ok(),
        (None, Some(name)) => store.find_source_by_name(name).await?.map(|s| s.id),
        _ => None,
    };
    let existing = match (&source, &fields.native_identity) {
        (Some(s), Some(n)) => store.find_account(s, n).await?,
        _ => None,
    };
    let built = build_account(store, fields, existing.as_ref()).await?;
    Ok(built.map(|a| {
        (
            format!("{} on source {}", a.native_id.as_str(), a.source_id),
            WriteOp::UpsertAccount(a),
        )
    }))
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
        let recs = json_records(json);
        assert_eq!(recs.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(recs[2].1.is_err());
        let lines = json_records("{\"name\": \"a\"}\n\n{oops}\n");
        assert_eq!((lines[1].0, lines[1].1.is_err()), (3, true));
    }
}
