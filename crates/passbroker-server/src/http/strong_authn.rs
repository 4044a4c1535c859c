//! Strong authentication before a change on the Password Manager page.
//!
//! When the policy of the source being changed says `requireStrongAuthn` (or
//! `requireStrongAuthOffNetwork` and the client address is outside `trusted_networks`), a
//! change made with a page session needs the session to have passed a second factor within
//! [`VALID_SECS`]: a code of the person's authenticator app (TOTP, [`crate::pipeline::totp`]) or one of
//! its recovery codes. Wrong codes count in the guessing protection (kind `totp`, per user and
//! address, as sign-in passwords do). Bearer tokens (API clients, the OAuth login) are not
//! asked: strong authentication is the page's.

use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use axum::http::{header, HeaderMap};
use passbroker_core::time::Millis;
use std::net::IpAddr;

/// A passed second factor counts for this long.
pub const VALID_SECS: i64 = 15 * 60;
/// The cause of the 403 the page recognises.
pub const REQUIRED: &str = "strong authentication required: enter a code from your authenticator app first (POST /passbroker/v1/me/strong-authn)";

/// `(network, prefix length)` pairs of `trusted_networks`.
pub fn parse_networks(text: &str) -> Result<Vec<(IpAddr, u8)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|cidr| {
            let (addr, len) = cidr.split_once('/').unwrap_or((cidr, ""));
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{cidr:?} is not an address or CIDR"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = if len.is_empty() {
                max
            } else {
                len.parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("{cidr:?} has a bad prefix length"))?
            };
            Ok((addr, len))
        })
        .collect()
}

fn in_network(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether `ip` is on a trusted network.
pub fn trusted(state: &AppState, ip: Option<IpAddr>) -> bool {
    let Some(ip) = ip else { return false };
    parse_networks(&state.config.trusted_networks)
        .unwrap_or_default()
        .into_iter()
        .any(|n| in_network(ip, n))
}

/// The page session of a request (a cookie and no bearer token), as its stored hash.
pub fn page_session(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if headers.get(header::AUTHORIZATION).is_some() {
        return None;
    }
    crate::http::session::session_token(state, headers).map(crate::http::session::token_hash)
}

/// Whether the session passed a second factor recently enough.
pub async fn session_is_strong(state: &AppState, id_hash: &str, now: Millis) -> ApiResult<bool> {
    Ok(state
        .store
        .recovery()
        .session_verified(id_hash)
        .await?
        .is_some_and(|at| now.0.saturating_sub(at.0) < VALID_SECS * 1000))
}

/// Refuses a page-session change of `source_id` that its policy wants strongly
/// authenticated, unless the session passed a second factor.
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    source_id: Option<&str>,
) -> ApiResult<()> {
    let Some(id_hash) = page_session(state, headers) else {
        return Ok(());
    };
    let Some(source_id) = source_id.and_then(|s| passbroker_core::SourceId::parse(s).ok()) else {
        return Ok(());
    };
    let Some(source) = state.store.get_source(&source_id).await? else {
        return Ok(());
    };
    let policy = crate::pipeline::policy::effective_policy(state.store.as_ref(), &source).await?;
    let needed = policy.require_strong_authn
        || (policy.require_strong_auth_off_network && !trusted(state, ip));
    if !needed || session_is_strong(state, &id_hash, state.clock.now()).await? {
        return Ok(());
    }
    Err(ApiError::forbidden(REQUIRED))
}

/// Whether `code` is the identity's authenticator code for `now` (or, when not confirming an
/// enrolment, one of its unused recovery codes); uses it up when it is.
pub(crate) async fn totp_code_ok(
    state: &AppState,
    user: &crate::http::principal::UserPrincipal,
    code: &str,
    now: passbroker_core::time::Millis,
    confirming: bool,
) -> ApiResult<bool> {
    let recovery = state.store.recovery();
    let factor = recovery
        .get_totp(&user.identity_id)
        .await?
        .filter(|f| f.confirmed.is_none() == confirming);
    let Some(factor) = factor else {
        return Err(ApiError::bad_request(if confirming {
            "code: no authenticator enrolment is pending; start one first"
        } else {
            "code: you have no authenticator app yet; set one up first"
        }));
    };
    let secret = secret_of(state, &factor).await?;
    let ok = match crate::pipeline::totp::matching_step(&secret, code, now) {
        Some(step) => {
            recovery
                .accept_totp_step(&user.identity_id, step, confirming.then_some(now))
                .await?
        }
        None if !confirming && code.len() >= 10 => {
            recovery
                .use_totp_recovery_code(
                    &user.identity_id,
                    &crate::pipeline::totp::recovery_code_hash(code),
                    now,
                )
                .await?
        }
        None => false,
    };
    Ok(ok)
}

pub(crate) async fn secret_of(
    state: &AppState,
    f: &passbroker_store::TotpFactor,
) -> ApiResult<zeroize::Zeroizing<Vec<u8>>> {
    state
        .secrets
        .unwrap(passbroker_store::WrappedKind::TotpSecret, &f.wrapped_secret)
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_match() {
        let nets = parse_networks("10.0.0.0/8, 192.168.1.7, fd00::/8").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("10.1.2.3"), nets[0]));
        assert!(!in_network(ip("11.1.2.3"), nets[0]));
        assert!(in_network(ip("192.168.1.7"), nets[1]));
        assert!(!in_network(ip("192.168.1.8"), nets[1]));
        assert!(in_network(ip("fd12::1"), nets[2]));
        assert!(in_network(ip("::ffff:10.0.0.1"), nets[0]));
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("nope").is_err());
        assert!(parse_networks("").unwrap().is_empty());
        assert!(in_network(
            ip("1.2.3.4"),
            parse_networks("0.0.0.0/0").unwrap()[0]
        ));
    }
}
