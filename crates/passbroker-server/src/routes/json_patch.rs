//! JSON Patch (RFC 6902) over `serde_json::Value`: add, remove, replace, move, copy, test,
//! with JSON Pointers (RFC 6901). All or nothing: the patch works on a copy, and the first
//! failing operation is reported with its index, op and path.

use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    pub index: usize,
    pub op: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation {} ({} {}): {}",
            self.index, self.op, self.path, self.message
        )
    }
}

/// Applies `patch` (a JSON array of operations) to a copy of `doc` and returns the copy.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = patch.as_array().ok_or_else(|| PatchError {
        index: 0,
        op: String::new(),
        path: String::new(),
        message: "the body must be a JSON array of operations".into(),
    })?;
    let mut out = doc.clone();
    for (index, op) in ops.iter().enumerate() {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let path = op.get("path").and_then(Value::as_str).map(str::to_owned);
        let fail = |message: String| PatchError {
            index,
            op: name.clone(),
            path: path.clone().unwrap_or_default(),
            message,
        };
        let path = path
            .clone()
            .ok_or_else(|| fail("\"path\" is required and must be a string".into()))?;
        let tokens = parse_pointer(&path).map_err(&fail)?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| fail("\"value\" is required".into()))
        };
        let from = || -> Result<Vec<String>, PatchError> {
            let f = op
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| fail("\"from\" is required and must be a string".into()))?;
            parse_pointer(f).map_err(&fail)
        };
        match name.as_str() {
            "add" => add(&mut out, &tokens, value()?).map_err(fail)?,
            "remove" => {
                remove(&mut out, &tokens).map_err(fail)?;
            }
            "replace" => {
                let v = value()?;
                remove(&mut out, &tokens).map_err(&fail)?;
                add(&mut out, &tokens, v).map_err(fail)?;
            }
            "move" => {
                let from = from()?;
                if tokens.len() > from.len() && tokens[..from.len()] == from[..] {
                    return Err(fail(
                        "cannot move a value into one of its own children".into(),
                    ));
                }
                let v = remove(&mut out, &from).map_err(&fail)?;
                add(&mut out, &tokens, v).map_err(fail)?;
            }
            "copy" => {
                let from = from()?;
                let v = get(&out, &from)
                    .cloned()
                    .ok_or_else(|| fail("\"from\" does not exist".into()))?;
                add(&mut out, &tokens, v).map_err(fail)?;
            }
            "test" => {
                let expected = value()?;
                if get(&out, &tokens) != Some(&expected) {
                    return Err(fail("the test failed: the value differs".into()));
                }
            }
            "" => return Err(fail("\"op\" is required".into())),
            other => {
                return Err(fail(format!(
                    "unknown op {other:?}; use add, remove, replace, move, copy or test"
                )))
            }
        }
    }
    Ok(out)
}

/// Splits a JSON Pointer into unescaped reference tokens.
pub fn parse_pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("the path {path:?} must be empty or start with /"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let i: usize = if valid {
        token
            .parse()
            .map_err(|_| format!("{token:?} is not an array index"))?
    } else {
        return Err(format!("{token:?} is not an array index"));
    };
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > max || (!allow_end && len == 0) {
        return Err(format!(
            "index {i} is out of bounds (the array has {len} items)"
        ));
    }
    Ok(i)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get(t),
        Value::Array(a) => index(t, a.len(), false).ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn parent<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut v = doc;
    for t in tokens {
        v = match v {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("{t:?} does not exist"))?,
            Value::Array(a) => {
                let i = index(t, a.len(), false)?;
                a.get_mut(i)
                    .ok_or_else(|| format!("index {i} does not exist"))?
            }
            _ => {
                return Err(format!(
                    "{t:?} is inside a value that is neither an object nor an array"
                ))
            }
        };
    }
    Ok(v)
}

fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, init)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, init)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = index(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err("the parent of the path is neither an object nor an array".into()),
    }
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let (last, init) = tokens
        .split_last()
        .ok_or("the whole document cannot be removed")?;
    match parent(doc, init)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("{last:?} does not exist")),
        Value::Array(a) => {
            let i = index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err("the parent of the path is neither an object nor an array".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc6902_operations() {
        let doc = json!({"name": "a", "features": ["X"], "c": {"k": 1}});
        let patch = json!([
            {"op": "add", "path": "/features/-", "value": "PASSWORD"},
            {"op": "replace", "path": "/name", "value": "b"},
            {"op": "copy", "from": "/c/k", "path": "/c/j"},
            {"op": "move", "from": "/c/k", "path": "/k"},
            {"op": "test", "path": "/features/1", "value": "PASSWORD"},
            {"op": "remove", "path": "/features/0"},
            {"op": "add", "path": "/a~1b", "value": true}
        ]);
        let out = apply(&doc, &patch).unwrap();
        assert_eq!(
            out,
            json!({"name": "b", "features": ["PASSWORD"], "c": {"j": 1}, "k": 1, "a/b": true})
        );
    }

    #[test]
    fn errors_name_the_operation() {
        let doc = json!({"features": []});
        for (patch, needle) in [
            (
                json!([{"op": "replace", "path": "/nope", "value": 1}]),
                "operation 0 (replace /nope)",
            ),
            (
                json!([{"op": "add", "path": "/features/-", "value": 1}, {"op": "remove", "path": "/features/5"}]),
                "operation 1 (remove /features/5)",
            ),
            (
                json!([{"op": "test", "path": "/features", "value": [1]}]),
                "test failed",
            ),
            (json!([{"op": "frobnicate", "path": "/x"}]), "unknown op"),
            (
                json!([{"op": "add", "path": "x", "value": 1}]),
                "must be empty or start with /",
            ),
            (
                json!([{"op": "add", "path": "/features/01", "value": 1}]),
                "not an array index",
            ),
            (
                json!([{"op": "move", "from": "/features", "path": "/features/0"}]),
                "own children",
            ),
            (json!({"op": "add"}), "JSON array"),
        ] {
            let err = apply(&doc, &patch).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
    }
}
