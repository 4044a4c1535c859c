//! Row <-> domain conversions shared by the SQLite modules.

use crate::{StoreError, StoreResult};
use std::collections::BTreeMap;

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

pub(crate) fn json_map(text: &str) -> StoreResult<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|_| corrupt("attribute map"))
}

pub(crate) fn json_list(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|_| corrupt("string list"))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain maps, lists and derived structs cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

pub(crate) fn parse<T, E>(r: Result<T, E>, what: &str) -> StoreResult<T> {
    r.map_err(|_| corrupt(what))
}
