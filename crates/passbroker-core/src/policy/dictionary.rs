//! ISC's password dictionary file: parsing (with every problem reported by line), serving it
//! back, and matching passwords against it.
//!
//! File format (ISC's `PUT /password-dictionary`):
//! - UTF-8 only; a leading byte-order mark is skipped; lines end in LF or CRLF.
//! - Lines whose first character is `#` are comments; blank (white-space only) lines are ignored.
//! - At most one `locale=xx` line (e.g. `locale=en_US`). ISC's text treats later ones as words;
//!   we reject them instead, since a word starting with `locale=` is almost surely a mistake.
//! - Every other line is one word: no white space anywhere in it, at most 128 code points.
//! - At most 2,500 word lines (comments, blank lines and the locale line not counted).

use super::eval::normalize;
use std::collections::HashSet;
use std::fmt;

/// Most word lines a file may have.
pub const MAX_WORDS: usize = 2_500;
/// Longest word, in code points.
pub const MAX_WORD_CHARS: usize = 128;
/// Most problems [`Dictionary::parse`] reports.
pub const MAX_ERRORS: usize = 100;
/// Words shorter than this (normalised, in code points) are kept but never matched.
pub const MIN_MATCH_CHARS: usize = 3;

const LOCALE_PREFIX: &str = "locale=";

/// A parsed password dictionary. Words are kept as uploaded (for serving back) and normalised
/// (for matching); words that normalise alike are kept once, first spelling wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dictionary {
    locale: Option<String>,
    words: Vec<String>,
    normalized: Vec<String>,
}

/// One problem in a dictionary file. `line` is 1-based, or 0 for the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryError {
    pub line: usize,
    pub message: String,
}

impl DictionaryError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for DictionaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for DictionaryError {}

fn valid_locale(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 35
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Dictionary {
    /// No locale, no words.
    pub fn empty() -> Dictionary {
        Dictionary::default()
    }

    /// Parses a dictionary file (format in the module documentation). Every problem is reported
    /// with its line number (invalid UTF-8 on the line holding the first invalid byte; too many
    /// words on line 0, naming the count), at most [`MAX_ERRORS`] of them: when there are more,
    /// the last entry says how many were left out.
    ///
    /// Memory stays bounded whatever the file: problems past [`MAX_ERRORS`] are only counted,
    /// and words past [`MAX_WORDS`] are only checked, never normalised or kept (a 2 MB upload
    /// of one-letter lines once took 35 times its size in memory).
    pub fn parse(bytes: &[u8]) -> Result<Dictionary, Vec<DictionaryError>> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut dictionary = Dictionary::empty();
        let mut seen = HashSet::new();
        let mut errors = Vec::new();
        let mut error_count = 0usize;
        let mut report = |error: DictionaryError| {
            error_count += 1;
            if errors.len() < MAX_ERRORS {
                errors.push(error);
            }
        };
        let mut locale_line = None;
        let mut word_lines = 0usize;
        for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let line_no = index + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let Ok(line) = std::str::from_utf8(raw) else {
                report(DictionaryError::new(
                    line_no,
                    "is not valid UTF-8; the file must be UTF-8 text",
                ));
                continue;
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(value) = line.strip_prefix(LOCALE_PREFIX) {
                if let Some(first) = locale_line {
                    report(DictionaryError::new(
                        line_no,
                        format!("a second locale line; only one is allowed (the first is on line {first})"),
                    ));
                } else {
                    locale_line = Some(line_no);
                    if valid_locale(value) {
                        dictionary.locale = Some(value.to_owned());
                    } else {
                        report(DictionaryError::new(
                            line_no,
                            "the locale must be a code such as locale=en_US (letters, digits, '_' or '-')",
                        ));
                    }
                }
                continue;
            }
            word_lines += 1;
            if line.chars().any(char::is_whitespace) {
                report(DictionaryError::new(
                    line_no,
                    "contains white space; put exactly one word on each line",
                ));
                continue;
            }
            let chars = line.chars().count();
            if chars > MAX_WORD_CHARS {
                report(DictionaryError::new(
                    line_no,
                    format!(
                        "the word is {chars} characters long; at most {MAX_WORD_CHARS} are allowed"
                    ),
                ));
                continue;
            }
            if word_lines > MAX_WORDS {
                // The file is refused anyway; keep checking its lines, not its words.
                continue;
            }
            let normalized = normalize(line);
            if seen.insert(normalized.clone()) {
                dictionary.words.push(line.to_owned());
                dictionary.normalized.push(normalized);
            }
        }
        if word_lines > MAX_WORDS {
            error_count += 1;
            errors.insert(
                0,
                DictionaryError::new(
                    0,
                    format!("the file has {word_lines} words; at most {MAX_WORDS} are allowed"),
                ),
            );
        }
        if errors.is_empty() {
            return Ok(dictionary);
        }
        if error_count > MAX_ERRORS {
            let left_out = error_count - (MAX_ERRORS - 1);
            errors.truncate(MAX_ERRORS - 1);
            errors.push(DictionaryError::new(
                0,
                format!("{left_out} more problems are not listed"),
            ));
        }
        Err(errors)
    }

    /// The `locale=` value, if the file had one.
    pub fn locale(&self) -> Option<&str> {
        self.locale.as_deref()
    }

    /// The words as uploaded, duplicates removed, in file order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The file to serve back on GET: the locale line (if any), then one word per line, LF line
    /// endings. [`Dictionary::parse`] reads it back to an equal dictionary.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        if let Some(locale) = &self.locale {
            text.push_str(LOCALE_PREFIX);
            text.push_str(locale);
            text.push('\n');
        }
        for word in &self.words {
            text.push_str(word);
            text.push('\n');
        }
        text
    }

    /// True when `normalized_password` (already passed through [`normalize`]) contains a
    /// normalised dictionary word as a substring. Words of fewer than [`MIN_MATCH_CHARS`] code
    /// points are ignored: a 1- or 2-letter word would reject nearly every password.
    pub fn matches(&self, normalized_password: &str) -> bool {
        self.normalized.iter().any(|w| {
            w.chars().count() >= MIN_MATCH_CHARS && normalized_password.contains(w.as_str())
        })
    }
}

#[cfg(test)]
mod tests;
