//! ISC's subscription filters: a JSONPath filter expression over the event's data, such as
//! `$[?($.outcome == "FAILED")]` or `$[?($.sourceId == "…" && @.attempts > 1)]`. The event
//! is delivered when the expression holds.
//!
//! A small, bounded implementation of the filter part of JSONPath (RFC 9535): paths of
//! member names (`$.a.b`, `@['a']`), string / number / boolean / null literals, `==`, `!=`,
//! `<`, `<=`, `>`, `>=`, `&&`, `||`, `!` and parentheses; a bare path tests that the member
//! exists. Parsing is linear in the text, which is at most [`MAX_LEN`] characters and
//! [`MAX_DEPTH`] levels deep, and evaluation visits each node once.

use serde_json::Value;
use std::cmp::Ordering;

pub const MAX_LEN: usize = 1024;
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Vec<String>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Exists(Operand),
    Compare(Operand, Op, Operand),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Expr);

impl Filter {
    /// Parses `$[?(…)]` (or `$[?…]`); the error says what is wrong, for a 400.
    pub fn parse(text: &str) -> Result<Filter, String> {
        if text.chars().count() > MAX_LEN {
            return Err(format!("filter: at most {MAX_LEN} characters"));
        }
        let mut p = Parser {
            s: text.trim().as_bytes(),
            i: 0,
            depth: 0,
        };
        p.expect("$")?;
        p.expect("[")?;
        p.expect("?")?;
        let e = p.or()?;
        p.expect("]")?;
        p.ws();
        if p.i != p.s.len() {
            return Err(p.error("unexpected text after the filter"));
        }
        Ok(Filter(e))
    }

    /// Whether the event's data passes.
    pub fn matches(&self, data: &Value) -> bool {
        eval(&self.0, data)
    }
}

fn resolve<'a>(o: &'a Operand, data: &'a Value) -> Option<&'a Value> {
    match o {
        Operand::Literal(v) => Some(v),
        Operand::Path(members) => members.iter().try_fold(data, |v, m| v.get(m.as_str())),
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn eval(e: &Expr, data: &Value) -> bool {
    match e {
        Expr::Or(a, b) => eval(a, data) || eval(b, data),
        Expr::And(a, b) => eval(a, data) && eval(b, data),
        Expr::Not(a) => !eval(a, data),
        Expr::Exists(o) => resolve(o, data).is_some(),
        Expr::Compare(a, op, b) => {
            let (a, b) = (resolve(a, data), resolve(b, data));
            match (op, a, b) {
                (Op::Eq, Some(a), Some(b)) => equal(a, b),
                (Op::Eq, None, None) => true,
                (Op::Eq, _, _) => false,
                (Op::Ne, Some(a), Some(b)) => !equal(a, b),
                (Op::Ne, None, None) => false,
                (Op::Ne, _, _) => true,
                (_, Some(a), Some(b)) => match order(a, b) {
                    Some(o) => match op {
                        Op::Lt => o == Ordering::Less,
                        Op::Le => o != Ordering::Greater,
                        Op::Gt => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    },
                    None => false,
                },
                _ => false,
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("filter: {what} at character {}; use a JSONPath filter such as $[?($.outcome == \"FAILED\")]", self.i + 1)
    }

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(token.as_bytes()) {
            self.i += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {token}")))
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("nested more than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.ws();
        if self.s.get(self.i) == Some(&b'!') && self.s.get(self.i + 1) != Some(&b'=') {
            self.i += 1;
            self.enter()?;
            let e = Expr::Not(Box::new(self.unary()?));
            self.depth -= 1;
            return Ok(e);
        }
        if self.eat("(") {
            let e = self.or()?;
            self.expect(")")?;
            return Ok(e);
        }
        let left = self.operand()?;
        let op = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.eat(t))
        .map(|(_, op)| op);
        match op {
            Some(op) => Ok(Expr::Compare(left, op, self.operand()?)),
            None => Ok(Expr::Exists(left)),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'$' | b'@') => {
                self.i += 1;
                self.path()
            }
            Some(b'"' | b'\'') => Ok(Operand::Literal(Value::String(self.string()?))),
            Some(c) if c.is_ascii_digit() || *c == b'-' => self.number(),
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.eat(word) {
                        return Ok(Operand::Literal(v));
                    }
                }
                Err(self.error("expected a path ($.name), a string, a number, true, false or null"))
            }
        }
    }

    fn path(&mut self) -> Result<Operand, String> {
        let mut members = Vec::new();
        loop {
            if self.s.get(self.i) == Some(&b'.') {
                self.i += 1;
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
                {
                    self.i += 1;
                }
                if start == self.i {
                    return Err(self.error("expected a member name after ."));
                }
                members.push(String::from_utf8_lossy(&self.s[start..self.i]).into_owned());
            } else if self.s.get(self.i) == Some(&b'[')
                && matches!(self.s.get(self.i + 1), Some(b'"' | b'\''))
            {
                self.i += 1;
                members.push(self.string()?);
                self.expect("]")?;
            } else {
                return Ok(Operand::Path(members));
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = self.s[self.i];
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            match c {
                b'\\' => match self.s.get(self.i) {
                    Some(&e) => {
                        self.i += 1;
                        out.push(match e {
                            b'n' => b'\n',
                            b't' => b'\t',
                            other => other,
                        });
                    }
                    None => break,
                },
                c if c == quote => {
                    return String::from_utf8(out).map_err(|_| self.error("a string is not UTF-8"))
                }
                c => out.push(c),
            }
        }
        Err(self.error("a string is not closed"))
    }

    fn number(&mut self) -> Result<Operand, String> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        serde_json::from_str::<serde_json::Number>(text)
            .map(|n| Operand::Literal(Value::Number(n)))
            .map_err(|_| self.error("not a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(filter: &str, data: Value) -> bool {
        match Filter::parse(filter) {
            Ok(f) => f.matches(&data),
            Err(e) => panic!("{filter}: {e}"),
        }
    }

    #[test]
    fn events_filter_iscs_examples() {
        let d =
            json!({"identityId": "2013", "outcome": "FAILED", "attempts": 3, "nested": {"a": "x"}});
        assert!(holds(r#"$[?($.identityId == "2013")]"#, d.clone()));
        assert!(!holds(r#"$[?($.identityId == "2014")]"#, d.clone()));
        assert!(holds(
            r#"$[?(@.outcome == 'FAILED' && $.attempts >= 3)]"#,
            d.clone()
        ));
        assert!(!holds(
            r#"$[?($.outcome == "FAILED" && $.attempts > 3)]"#,
            d.clone()
        ));
        assert!(holds(
            r#"$[?($.attempts < 2 || $.nested.a == "x")]"#,
            d.clone()
        ));
        assert!(holds(r#"$[?(!($.outcome != "FAILED"))]"#, d.clone()));
        assert!(holds(r#"$[?($['nested']['a'])]"#, d.clone()));
        assert!(!holds(r#"$[?($.missing)]"#, d.clone()));
        assert!(holds(r#"$[?($.missing != "x")]"#, d));
    }

    #[test]
    fn events_filter_rejects_bad_and_unbounded_text() {
        for bad in [
            "",
            "$.outcome",
            "$[?($.outcome == )]",
            "$[?($.outcome == \"x\"",
            "$[?($.a == 1)] extra",
            "$[?($. == 1)]",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
        let deep = format!("$[?({}$.a{})]", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&deep).is_err_and(|e| e.contains("nested")));
        let long = format!("$[?($.a == \"{}\")]", "x".repeat(MAX_LEN));
        assert!(Filter::parse(&long).is_err());
        let nots = format!("$[?({}$.a)]", "!".repeat(40));
        assert!(Filter::parse(&nots).is_err());
    }
}
