//! Names the commit the binary was built from, for `passbroker --version`:
//! `PASSBROKER_BUILD_COMMIT` when set (a build from a source archive), else git's
//! `HEAD`, else "unknown commit" (no git, or not a clone).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=PASSBROKER_BUILD_COMMIT");
    let commit = std::env::var("PASSBROKER_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    // Build again when HEAD moves (a commit, a checkout).
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &reference]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    let commit = commit.map_or_else(|| "unknown commit".to_owned(), |c| format!("commit {c}"));
    println!("cargo:rustc-env=PASSBROKER_COMMIT={commit}");
}
