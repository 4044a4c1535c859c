//! `passbroker breach import` and `breach status` as an operator runs them
//! (`cargo test -- breach`).

use std::process::{Command, Output, Stdio};

fn passbroker(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passbroker"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("PASSBROKER_CONFIG")
        .env_remove("PASSBROKER_BREACH_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run passbroker")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn breach_import_and_status_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("pwned.txt");
    std::fs::write(
        &corpus,
        "000000005AD76BD555C1D6D771DE417A4B87E4B4:10\r\n5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004\r\n",
    )
    .unwrap();
    let out = passbroker(dir.path(), &["breach", "import", corpus.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("imported 2 sha1 hashes"),
        "{}",
        text(&out)
    );
    let out = passbroker(dir.path(), &["breach", "status"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("sha1: 2 hashes"), "{}", text(&out));
    assert!(text(&out).contains("ntlm: no index"), "{}", text(&out));

    // A damaged corpus is refused with its line, and the index in place stays.
    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &bad,
        "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\r\n000000005AD76BD555C1D6D771DE417A4B87E4B4:1\r\n",
    )
    .unwrap();
    let out = passbroker(dir.path(), &["breach", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("line 2"), "{}", text(&out));
    let out = passbroker(dir.path(), &["breach", "status"]);
    assert!(text(&out).contains("sha1: 2 hashes"), "{}", text(&out));
    let out = passbroker(
        dir.path(),
        &[
            "breach",
            "import",
            corpus.to_str().unwrap(),
            "--kind",
            "md5",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("--kind"), "{}", text(&out));
}
