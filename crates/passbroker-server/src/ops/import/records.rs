//! Reading an import file: CSV or JSON records with their line numbers, typed into the
//! API's identity or account fields on a thread of its own, a chunk at a time.

use super::ImportKind;
use crate::pipeline::directory::{AccountFields, IdentityFields};
use serde_json::{Map, Value};
use std::io::BufRead;

/// One record: the line it starts on, and its fields (or why it could not be read).
pub(super) type Record = (usize, Result<Map<String, Value>, String>);

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
pub(super) const UNREADABLE_REST: &str =
    "; the records after it cannot be read, so nothing was imported";

/// Records per chunk: one batch of look-ups and one write transaction each.
const CHUNK: usize = 2_000;

/// A record's fields, typed (or why they are not).
pub(super) enum Fields {
    Identity(IdentityFields),
    Account(AccountFields),
}

pub(super) type Parsed = (usize, Result<Fields, Vec<String>>);

/// Reads and types the file's records on a thread of its own, a chunk at a time, so that
/// parsing overlaps the database work.
pub(super) fn read_chunks(
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
