//! The Python the test services run on (the SMTP sink, the webhook receiver): the one that
//! can import what a service needs, and the loud skip when there is none.

use std::path::PathBuf;
use std::process::Stdio;

const VENV_PYTHON: &str = "/opt/passbroker-test-venv/bin/python";

/// A Python that can `import modules` (e.g. `"aiosmtpd"`): `PASSBROKER_TEST_PYTHON`, the test
/// venv's (built by `scripts/install-services.sh`), or `python3`.
pub fn python_with(modules: &str) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("PASSBROKER_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from(VENV_PYTHON), PathBuf::from("python3")])
        .collect();
    candidates.into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", &format!("import {modules}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Says loudly that a service is missing; fails under `PASSBROKER_REQUIRE_SERVICES=1`.
pub fn missing(what: &str) {
    let msg = format!("SKIP: {what} (run scripts/install-services.sh)");
    if std::env::var("PASSBROKER_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
}
