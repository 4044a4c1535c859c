//! LDAP wire details: the ppolicy control and its BER-encoded answer, AD's `unicodePwd`
//! encoding, result codes and refusal texts as readable sentences, the TLS connector.

use super::*;

pub(super) fn ppolicy_request() -> RawControl {
    RawControl {
        ctype: PPOLICY_OID.to_owned(),
        crit: false,
        val: None,
    }
}

/// `"password"` in UTF-16LE, as AD's `unicodePwd` wants it.
pub(super) fn unicode_pwd(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity((password.len() + 2) * 2));
    for unit in "\""
        .encode_utf16()
        .chain(password.encode_utf16())
        .chain("\"".encode_utf16())
    {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// Reads one BER length at `buf[*pos]`, advancing `pos`.
fn ber_len(buf: &[u8], pos: &mut usize) -> Option<usize> {
    let first = *buf.get(*pos)?;
    *pos += 1;
    if first < 0x80 {
        return Some(usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for _ in 0..n {
        len = (len << 8) | usize::from(*buf.get(*pos)?);
        *pos += 1;
    }
    Some(len)
}

/// The `error` of a PasswordPolicyResponseValue: `SEQUENCE { warning [0] … OPTIONAL,
/// error [1] ENUMERATED OPTIONAL }`.
pub(super) fn parse_ppolicy_error(val: &[u8]) -> Option<u8> {
    let mut pos = 0;
    if *val.first()? != 0x30 {
        return None;
    }
    pos += 1;
    let len = ber_len(val, &mut pos)?;
    let end = pos.checked_add(len)?.min(val.len());
    while pos < end {
        let tag = val[pos];
        pos += 1;
        let len = ber_len(val, &mut pos)?;
        let content = val.get(pos..pos.checked_add(len)?)?;
        if tag == 0x81 && !content.is_empty() {
            return content.last().copied();
        }
        pos += len;
    }
    None
}

pub(super) fn ppolicy_phrase(code: u8) -> String {
    match code {
        0 => "the password has expired (ppolicy passwordExpired)".into(),
        1 => "the account is locked (ppolicy accountLocked)".into(),
        2 => "the password must be changed after reset (ppolicy changeAfterReset)".into(),
        3 => "password changes are not allowed for this account (ppolicy passwordModNotAllowed)".into(),
        4 => "the old password must be supplied (ppolicy mustSupplyOldPassword)".into(),
        5 => "the password fails the directory's password quality policy (ppolicy insufficientPasswordQuality)".into(),
        6 => "the password is too short for the directory's password policy (ppolicy passwordTooShort)".into(),
        7 => "the password was changed too recently (ppolicy passwordTooYoung)".into(),
        8 => "the password is in the account's password history (ppolicy passwordInHistory)".into(),
        9 => "the password is too long for the directory's password policy (ppolicy passwordTooLong)".into(),
        other => format!("the directory's password policy refused it (ppolicy error {other})"),
    }
}

/// Active Directory's extended error codes in the diagnostic text.
pub(super) fn ad_phrase(text: &str) -> Option<&'static str> {
    let code = text.get(..8)?;
    match code.to_ascii_uppercase().as_str() {
        "0000052D" => Some("it does not meet the domain's password policy (length, complexity, history or minimum age)"),
        "00000056" => Some("the current password was wrong"),
        "0000001F" => Some("the domain refused the change (unwilling to perform; is the connection encrypted?)"),
        "00000005" => Some("the service account may not reset this password (access denied)"),
        "0000208D" => Some("the account does not exist"),
        _ => None,
    }
}

/// Active Directory answers a bind with invalidCredentials (49) and a `data` sub-code; only
/// 52e means a wrong password. Others (530 logon hours, 531 workstation, 532 expired, 533
/// disabled, 701 account expired, 773 must reset, 775 locked) are checked after, or
/// regardless of, the password.
pub(super) fn ad_login_refused_for_other_reasons(text: &str) -> bool {
    text.split(", ")
        .find_map(|part| part.strip_prefix("data "))
        .is_some_and(|code| !code.trim().eq_ignore_ascii_case("52e"))
}

pub(super) fn is_transient_rc(rc: u32) -> bool {
    // timeLimitExceeded, adminLimitExceeded, busy, unavailable
    matches!(rc, 3 | 11 | 51 | 52)
}

pub(super) fn rc_name(rc: u32) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        19 => "constraintViolation",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        65 => "objectClassViolation",
        80 => "other",
        _ => "",
    };
    if name.is_empty() {
        format!("result code {rc}")
    } else {
        format!("{name}, {rc}")
    }
}

pub(super) fn tls_connector(
    ca_pems: &[Vec<u8>],
) -> Result<native_tls::TlsConnector, ConnectorError> {
    let mut builder = native_tls::TlsConnector::builder();
    for pem in ca_pems {
        let cert = native_tls::Certificate::from_pem(pem).map_err(|e| {
            ConnectorError::Config(format!("{NAME} connector: field `caFile`: {e}"))
        })?;
        builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| ConnectorError::Config(format!("{NAME} connector: TLS setup: {e}")))
}
