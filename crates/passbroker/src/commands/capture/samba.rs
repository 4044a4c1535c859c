//! `passbroker capture samba`: the script of `samba-tool user syncpasswords --script`.
//!
//! Samba calls it once per changed account, with no arguments, the account's LDIF on
//! standard input (the attributes given to `--cache-ldb-initialize --attributes`, which must
//! include `virtualClearTextUTF8`), and expects a reply that starts with `DONE-EXIT: `. The
//! reply comes first (Samba reads standard output and standard error together); what was
//! delivered, spooled or dropped follows on the next lines, which Samba writes to its log.
//! When the change can be neither delivered nor spooled the agent exits non-zero without
//! `DONE-EXIT`: syncpasswords then stops, and reads the change again when restarted.

use super::{Agent, AgentArgs};
use anyhow::Context;
use base64::Engine;
use std::io::Read;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// The most LDIF accepted on standard input (one account's attributes).
const MAX_LDIF: u64 = 1024 * 1024;

pub async fn run(args: &AgentArgs, identity_attribute: &str) -> anyhow::Result<ExitCode> {
    let mut raw = Zeroizing::new(Vec::new());
    std::io::stdin()
        .take(MAX_LDIF)
        .read_to_end(&mut raw)
        .context("cannot read the LDIF on standard input")?;
    let text = Zeroizing::new(String::from_utf8_lossy(&raw).into_owned());
    let change = parse(&text, identity_attribute);
    let (identity, password) = match change {
        Parsed::NoPassword => {
            println!("DONE-EXIT: no cleartext password in this change (nothing to report)");
            return Ok(ExitCode::SUCCESS);
        }
        Parsed::NoIdentity => {
            println!("DONE-EXIT: skipped: the LDIF has no {identity_attribute} (check --identity-attribute and syncpasswords' --attributes)");
            return Ok(ExitCode::SUCCESS);
        }
        Parsed::Change { identity, password } => (identity, password),
    };
    let agent = Agent::new(args)?;
    let entry = agent.seal(&identity, &password).await?;
    drop(password);
    let outcome = agent.deliver(Some(entry)).await?;
    if !outcome.new_change_kept {
        // Refused for good: say so, and let syncpasswords go on (it would only repeat it).
        println!("DONE-EXIT: the change of {identity:?} was refused by the server");
    } else if outcome.unreachable.is_some() {
        println!("DONE-EXIT: the change of {identity:?} is spooled until the server answers");
    } else {
        println!("DONE-EXIT: the change of {identity:?} was delivered");
    }
    for line in outcome.lines() {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

enum Parsed {
    NoPassword,
    NoIdentity,
    Change {
        identity: String,
        password: Zeroizing<String>,
    },
}

/// One attribute value of an LDIF line (`name: text` or `name:: base64`).
fn value(line: &str) -> Option<(&str, Zeroizing<Vec<u8>>)> {
    let (name, rest) = line.split_once(':')?;
    let bytes = if let Some(b64) = rest.strip_prefix(':') {
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?
    } else {
        rest.strip_prefix(' ').unwrap_or(rest).as_bytes().to_vec()
    };
    Some((name, Zeroizing::new(bytes)))
}

fn parse(ldif: &str, identity_attribute: &str) -> Parsed {
    // Unfold continuation lines (RFC 2849: a line starting with one space continues the last).
    let mut lines: Vec<Zeroizing<String>> = Vec::new();
    for line in ldif.lines() {
        if let (Some(rest), Some(last)) = (line.strip_prefix(' '), lines.last_mut()) {
            last.push_str(rest);
        } else if !line.starts_with('#') {
            lines.push(Zeroizing::new(line.to_owned()));
        }
    }
    let mut identity = None;
    let mut password = None;
    for line in &lines {
        let Some((name, bytes)) = value(line) else {
            continue;
        };
        if name.eq_ignore_ascii_case("virtualClearTextUTF8") {
            if let Ok(p) = String::from_utf8(bytes.to_vec()) {
                password = Some(Zeroizing::new(p));
            }
        } else if name.eq_ignore_ascii_case(identity_attribute) {
            identity = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    match (identity, password) {
        (_, None) => Parsed::NoPassword,
        (None, Some(_)) => Parsed::NoIdentity,
        (Some(identity), Some(password)) if !password.is_empty() => {
            Parsed::Change { identity, password }
        }
        (Some(_), Some(_)) => Parsed::NoPassword,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_syncpasswords_ldif() {
        let ldif = "dn: CN=alice,CN=Users,DC=test,DC=local\nobjectGUID: 7c3c0c5e-1111-2222-3333-444455556666\nsAMAccountName: alice\nvirtualClearTextUTF8:: TjN3I1DDpHNzd\n zByZA==\n\n";
        match parse(ldif, "dn") {
            Parsed::Change { identity, password } => {
                assert_eq!(identity, "CN=alice,CN=Users,DC=test,DC=local");
                assert_eq!(password.as_str(), "N3w#Pässw0rd");
            }
            _ => panic!("a change"),
        }
        match parse(ldif, "sAMAccountName") {
            Parsed::Change { identity, .. } => assert_eq!(identity, "alice"),
            _ => panic!("a change"),
        }
        assert!(matches!(
            parse("dn: CN=x\nsAMAccountName: x\n", "dn"),
            Parsed::NoPassword
        ));
        assert!(matches!(
            parse(ldif, "userPrincipalName"),
            Parsed::NoIdentity
        ));
    }
}
