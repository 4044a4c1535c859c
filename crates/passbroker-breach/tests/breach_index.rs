//! The breach corpus index (`cargo test -- breach`): both input formats, both hash kinds,
//! lookups, ranges in the Pwned Passwords format, bad input named by line, atomic replace.

use passbroker_breach::{
    import, index_path, parse_prefix, prefix_of, range, BreachIndex, HashKind,
};
use std::io::Write;

fn no_progress() -> impl FnMut(u64, u64, u64) {
    |_, _, _| {}
}

/// A sorted corpus file of `HASH:COUNT` lines for these passwords (and counts).
fn corpus(dir: &std::path::Path, kind: HashKind, entries: &[(&str, u64)]) -> std::path::PathBuf {
    let mut lines: Vec<(String, u64)> = entries
        .iter()
        .map(|(p, c)| (hex::encode_upper(kind.hash(p)), *c))
        .collect();
    lines.sort();
    let path = dir.join(format!("corpus-{}.txt", kind.name()));
    let mut f = std::fs::File::create(&path).unwrap();
    for (h, c) in lines {
        write!(f, "{h}:{c}\r\n").unwrap();
    }
    path
}

#[test]
fn breach_hashes_match_the_corpus_definitions() {
    assert_eq!(
        hex::encode_upper(HashKind::Sha1.hash("password")),
        "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
    );
    assert_eq!(
        hex::encode_upper(HashKind::Ntlm.hash("password")),
        "8846F7EAEE8FB117AD06BDD830B7586C"
    );
    assert_eq!(parse_prefix("5baa6"), Some(0x5BAA6));
    assert_eq!(prefix_of(&HashKind::Sha1.hash("password")), 0x5BAA6);
    assert_eq!(parse_prefix("5BAA"), None);
    assert_eq!(parse_prefix("5BAAG"), None);
}

#[test]
fn breach_an_ordered_file_imports_and_answers_lookups_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(
        dir.path(),
        HashKind::Sha1,
        &[
            ("password", 10_434_004),
            ("letmein", 541),
            ("Tr0ub4dor&3", 1),
        ],
    );
    let mut calls = 0;
    let report = import(&input, &dir.path().join("idx"), None, &mut |_, _, _| {
        calls += 1
    })
    .unwrap();
    assert!(calls > 0, "progress is reported");
    assert_eq!((report.kind, report.records), (HashKind::Sha1, 3));
    let index = BreachIndex::open(&index_path(&dir.path().join("idx"), HashKind::Sha1)).unwrap();
    assert_eq!(index.records(), 3);
    let look = |p: &str| index.lookup(&HashKind::Sha1.hash(p)).unwrap();
    assert_eq!(
        look("password"),
        Some(10_434_004),
        "counts above 254 survive"
    );
    assert_eq!(look("letmein"), Some(541));
    assert_eq!(look("Tr0ub4dor&3"), Some(1));
    assert_eq!(look("correct horse battery staple 93"), None);
    // The range of "password"'s prefix, in the Pwned Passwords format.
    let entries = index.range(0x5BAA6).unwrap();
    assert_eq!(
        range::format(HashKind::Sha1, entries.clone(), false),
        "1E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004"
    );
    let padded = range::format(HashKind::Sha1, entries, true);
    let lines: Vec<&str> = padded.split("\r\n").collect();
    assert!((800..=1000).contains(&lines.len()), "{}", lines.len());
    assert!(lines.contains(&"1E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004"));
    assert!(lines
        .iter()
        .all(|l| l.len() == 35 + 2 || l.ends_with(":10434004")));
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, lines, "padded lines are in order");
    assert_eq!(
        range::find(&padded, "1E4C9B93F3F0682250B6CF8331B7EE68FD8"),
        Some(10_434_004)
    );
}

#[test]
fn breach_a_directory_of_range_files_imports_ntlm() {
    let dir = tempfile::tempdir().unwrap();
    let ranges = dir.path().join("ranges");
    std::fs::create_dir_all(&ranges).unwrap();
    let mut by_prefix: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (p, c) in [("password", 7u64), ("hunter2", 300), ("dragon", 3)] {
        let h = hex::encode_upper(HashKind::Ntlm.hash(p));
        by_prefix
            .entry(h[..5].to_owned())
            .or_default()
            .push(format!("{}:{c}", &h[5..]));
    }
    for (prefix, mut lines) in by_prefix {
        lines.sort();
        std::fs::write(ranges.join(prefix), lines.join("\r\n")).unwrap();
    }
    let report = import(&ranges, &dir.path().join("idx"), None, &mut no_progress()).unwrap();
    assert_eq!((report.kind, report.records), (HashKind::Ntlm, 3));
    assert!(report.missing_range_files > 1_000_000);
    let index = BreachIndex::open(&report.index).unwrap();
    assert_eq!(
        index.lookup(&HashKind::Ntlm.hash("hunter2")).unwrap(),
        Some(300)
    );
    assert_eq!(
        index.lookup(&HashKind::Ntlm.hash("password")).unwrap(),
        Some(7)
    );
    assert_eq!(
        index.lookup(&HashKind::Ntlm.hash("not-there")).unwrap(),
        None
    );
    let entries = index.range(0x8846F).unwrap();
    assert_eq!(
        range::format(HashKind::Ntlm, entries, false),
        "7EAEE8FB117AD06BDD830B7586C:7",
        "NTLM suffixes are 27 digits"
    );
}

#[test]
fn breach_bad_input_is_refused_with_its_line_and_leaves_the_old_index() {
    let dir = tempfile::tempdir().unwrap();
    let good = corpus(dir.path(), HashKind::Sha1, &[("password", 3)]);
    let idx = dir.path().join("idx");
    import(&good, &idx, None, &mut no_progress()).unwrap();
    for (name, text, says) in [
        ("unsorted", "FFFF0000000000000000000000000000000000FF:1\n0000000000000000000000000000000000000001:1\n", "line 2"),
        ("no count", "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8\n", "line 1"),
        ("bad hex", "ZZAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\n", "line 1"),
        ("mixed kinds", "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\n8846F7EAEE8FB117AD06BDD830B7586C:1\n", "line 2"),
        ("empty", "\n\n", "no hashes"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = import(&path, &idx, None, &mut no_progress()).unwrap_err().to_string();
        assert!(err.contains(says), "{name}: {err}");
    }
    let index = BreachIndex::open(&index_path(&idx, HashKind::Sha1)).unwrap();
    assert_eq!(
        index.lookup(&HashKind::Sha1.hash("password")).unwrap(),
        Some(3),
        "the old index stays"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn breach_a_reader_keeps_its_index_while_a_new_one_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    let first = corpus(dir.path(), HashKind::Sha1, &[("password", 3)]);
    let report = import(&first, &idx, None, &mut no_progress()).unwrap();
    let old = BreachIndex::open(&report.index).unwrap();
    let second = dir.path().join("second.txt");
    std::fs::write(
        &second,
        format!("{}:9\n", hex::encode_upper(HashKind::Sha1.hash("letmein"))),
    )
    .unwrap();
    import(&second, &idx, None, &mut no_progress()).unwrap();
    assert_eq!(
        old.lookup(&HashKind::Sha1.hash("password")).unwrap(),
        Some(3)
    );
    let new = BreachIndex::open(&report.index).unwrap();
    assert_eq!(new.lookup(&HashKind::Sha1.hash("password")).unwrap(), None);
    assert_eq!(
        new.lookup(&HashKind::Sha1.hash("letmein")).unwrap(),
        Some(9)
    );
    // Not an index at all.
    std::fs::write(dir.path().join("junk"), b"hello").unwrap();
    assert!(BreachIndex::open(&dir.path().join("junk")).is_err());
}

#[test]
fn breach_reads_from_the_page_cache_answer_like_the_blocking_ones() {
    let dir = tempfile::tempdir().unwrap();
    let words: Vec<String> = (0..2000).map(|i| format!("word{i}")).collect();
    let entries: Vec<(&str, u64)> = words.iter().map(|w| (w.as_str(), 7)).collect();
    let input = corpus(dir.path(), HashKind::Sha1, &entries);
    import(&input, &dir.path().join("idx"), None, &mut no_progress()).unwrap();
    let path = index_path(&dir.path().join("idx"), HashKind::Sha1);
    let index = BreachIndex::open(&path).unwrap();
    // Read the whole file once, so every page is cached.
    let _ = std::fs::read(&path).unwrap();
    let mut answered_now = 0;
    for probe in ["word5", "word1999", "not in it", "password"] {
        let hash = HashKind::Sha1.hash(probe);
        let blocking = index.lookup(&hash).unwrap();
        if let Some(now) = index.lookup_now(&hash) {
            assert_eq!(now.unwrap(), blocking, "{probe}");
            answered_now += 1;
        }
        let prefix = prefix_of(&hash);
        if let Some(now) = index.range_now(prefix) {
            assert_eq!(now.unwrap(), index.range(prefix).unwrap(), "{probe}");
            answered_now += 1;
        }
    }
    assert_eq!(
        index
            .lookup_now(&HashKind::Sha1.hash("word5"))
            .map(|r| r.unwrap()),
        Some(Some(7))
    );
    // On Linux a cached file answers without waiting (RWF_NOWAIT, Linux 4.14 and later).
    if cfg!(target_os = "linux") {
        assert_eq!(
            answered_now, 8,
            "a cached index is read on the calling thread"
        );
    }
}
