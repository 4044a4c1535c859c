//! Which database backs a node, and database URLs as the configuration shows them.

use std::path::PathBuf;

/// Which database backs this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite { path: PathBuf },
    Postgres { url: String },
}

impl Database {
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Database::Sqlite { .. })
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
