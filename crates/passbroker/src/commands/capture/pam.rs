//! `passbroker capture pam`: on a PAM `password` stack, after the module that really changes
//! the password, called by the pam_python module `packaging/pam/passbroker_capture.py`
//! (installed in /usr/share/passbroker/pam/) or by `pam_exec.so expose_authtok` where
//! pam_exec passes the token on the password stack (not Linux-PAM 1.5.2's). Either writes
//! the new password (then a NUL) to standard input and names the user in `PAM_USER`;
//! `PAM_TYPE` is `password`. Other calls (another `PAM_TYPE`) do nothing. Exit 0 when the
//! change was delivered or spooled; put the line in the stack as `optional`, so that a
//! failure here never blocks the person's change.

use super::{Agent, AgentArgs};
use anyhow::Context;
use std::io::Read;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// The longest password read from standard input.
const MAX_TOKEN: u64 = 4096;

pub async fn run(args: &AgentArgs, identity_format: &str) -> anyhow::Result<ExitCode> {
    if std::env::var("PAM_TYPE").as_deref() != Ok("password") {
        return Ok(ExitCode::SUCCESS);
    }
    let user =
        std::env::var("PAM_USER").context("PAM_USER is not set (run me from a PAM stack)")?;
    if user.is_empty() || user.chars().any(char::is_control) {
        anyhow::bail!("PAM_USER is empty or has control characters");
    }
    let mut raw = Zeroizing::new(Vec::new());
    std::io::stdin()
        .take(MAX_TOKEN)
        .read_to_end(&mut raw)
        .context("cannot read the new password on standard input")?;
    let end = raw
        .iter()
        .position(|b| *b == 0 || *b == b'\n')
        .unwrap_or(raw.len());
    let password = Zeroizing::new(
        std::str::from_utf8(&raw[..end])
            .context("the new password is not UTF-8")?
            .to_owned(),
    );
    if password.is_empty() {
        anyhow::bail!("no new password on standard input (is expose_authtok set?)");
    }
    let identity = identity_format.replace("{user}", &user);
    let agent = Agent::new(args)?;
    let entry = agent.seal(&identity, &password).await?;
    drop(password);
    let outcome = agent.deliver(Some(entry)).await?;
    for line in outcome.lines() {
        eprintln!("passbroker capture: {line}");
    }
    Ok(if outcome.new_change_kept {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
