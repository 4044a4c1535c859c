use super::*;

fn parse_ok(text: &str) -> Dictionary {
    match Dictionary::parse(text.as_bytes()) {
        Ok(d) => d,
        Err(e) => panic!("expected a valid dictionary, got {e:?}"),
    }
}

fn parse_err(bytes: &[u8]) -> Vec<DictionaryError> {
    match Dictionary::parse(bytes) {
        Ok(d) => panic!("expected errors, got {} words", d.len()),
        Err(e) => e,
    }
}

fn lines(errors: &[DictionaryError]) -> Vec<usize> {
    errors.iter().map(|e| e.line).collect()
}

const ISC_SAMPLE: &str = "\n# Password dictionary small test file\n\nlocale=en_US\n\n\
                          # Password dictionary prohibited words\n\nqwerty\nabcd\naaaaa\npassword\nqazxsws\n\n";

#[test]
fn parses_isc_sample() {
    let d = parse_ok(ISC_SAMPLE);
    assert_eq!(d.locale(), Some("en_US"));
    assert_eq!(
        d.words(),
        ["qwerty", "abcd", "aaaaa", "password", "qazxsws"]
    );
    assert_eq!(d.len(), 5);
    assert!(!d.is_empty());
}

#[test]
fn empty_file_and_empty_dictionary() {
    assert_eq!(parse_ok(""), Dictionary::empty());
    assert_eq!(parse_ok("# only a comment\n   \n"), Dictionary::empty());
    assert!(Dictionary::empty().is_empty());
    assert_eq!(Dictionary::empty().to_text(), "");
}

#[test]
fn crlf_and_bom_are_handled() {
    let d = parse_ok("\u{feff}locale=de_DE\r\n# comment\r\n\r\nSommer\r\nWinter\r\n");
    assert_eq!(d.locale(), Some("de_DE"));
    assert_eq!(d.words(), ["Sommer", "Winter"]);
}

#[test]
fn second_locale_line_is_an_error() {
    let errors = parse_err(b"locale=en_US\nword\nlocale=fr_FR\n");
    assert_eq!(lines(&errors), [3]);
    assert!(errors[0].message.contains("line 1"));
    assert_eq!(lines(&parse_err(b"locale=\nword\n")), [1]);
    assert_eq!(lines(&parse_err(b"locale=en US\n")), [1]);
}

#[test]
fn white_space_inside_a_word_line_is_an_error() {
    let errors = parse_err(b"one\ntwo words\n three\nfour\tfive\n");
    assert_eq!(lines(&errors), [2, 3, 4]);
    assert_eq!(
        errors[0].to_string(),
        "line 2: contains white space; put exactly one word on each line"
    );
}

#[test]
fn words_are_at_most_128_code_points() {
    let ok = "é".repeat(128); // 256 bytes, 128 code points
    assert_eq!(
        parse_ok(&format!("{ok}\n")).words(),
        std::slice::from_ref(&ok)
    );
    let errors = parse_err(format!("a\n{ok}é\n").as_bytes());
    assert_eq!(lines(&errors), [2]);
    assert!(errors[0].message.contains("129"));
}

#[test]
fn at_most_2500_words() {
    let words: Vec<String> = (0..2_500).map(|i| format!("word{i}")).collect();
    assert_eq!(parse_ok(&words.join("\n")).len(), 2_500);
    let text = format!("locale=en_US\n# c\n{}\nword2500\n", words.join("\n"));
    let errors = parse_err(text.as_bytes());
    assert_eq!(lines(&errors), [0]);
    assert!(errors[0].message.contains("2501"), "{}", errors[0].message);
}

#[test]
fn invalid_utf8_names_its_line() {
    let errors = parse_err(b"locale=en_US\nfine\nbad\xff\xfeword\nalso_fine\n");
    assert_eq!(lines(&errors), [3]);
    assert!(errors[0].message.contains("UTF-8"));
    assert_eq!(lines(&parse_err(b"ok\r\nok2\r\n\xc3\r\n")), [3]);
}

#[test]
fn every_problem_is_reported_and_capped_at_100() {
    let errors = parse_err(b"locale=en_US\na b\nlocale=x\n\xff\nfine\nc d\n");
    assert_eq!(lines(&errors), [2, 3, 4, 6]);
    let many = "a b\n".repeat(150);
    let errors = parse_err(many.as_bytes());
    assert_eq!(errors.len(), MAX_ERRORS);
    assert_eq!(errors[98].line, 99);
    assert_eq!(errors[99].line, 0);
    assert!(errors[99].message.contains("51 more"));
}

#[test]
fn duplicates_after_normalisation_are_kept_once() {
    let d = parse_ok("Password\nPASSWORD\nｐａｓｓｗｏｒｄ\nstraße\nSTRASSE\n");
    assert_eq!(d.words(), ["Password", "straße"]);
}

#[test]
fn to_text_round_trips() {
    let d = parse_ok("# c\r\nlocale=pt_BR\r\nsenha\r\n\r\nSenha\r\nçãö\r\n😀😀😀\r\n");
    assert_eq!(d.to_text(), "locale=pt_BR\nsenha\nçãö\n😀😀😀\n");
    assert_eq!(parse_ok(&d.to_text()), d);
    let no_locale = parse_ok("abc\n");
    assert_eq!(no_locale.to_text(), "abc\n");
    assert_eq!(parse_ok(&no_locale.to_text()), no_locale);
}

#[test]
fn matching_ignores_short_words() {
    let d = parse_ok("ab\nx\nabc\n");
    assert!(!d.matches("xxabxx"));
    assert!(d.matches(&normalize("XXABCXX")));
    assert!(!Dictionary::empty().matches("anything"));
}

/// A 2 MB upload of bad or surplus lines: the report is the same as before (first problems,
/// then a count), and nothing past the caps is kept.
#[test]
fn hardening_huge_files_keep_bounded_state() {
    let bad_utf8 = b"\xff\n".repeat(1_000_000);
    let errors = parse_err(&bad_utf8);
    assert_eq!(errors.len(), MAX_ERRORS);
    assert_eq!(errors[98].line, 99);
    assert!(errors[99].message.contains("999901 more"), "{}", errors[99]);
    assert!(errors.capacity() <= 2 * MAX_ERRORS, "{}", errors.capacity());
    // Too many words plus bad lines: the count comes first, the rest are capped.
    let mixed = "w\na b\n".repeat(300_000);
    let errors = parse_err(mixed.as_bytes());
    assert_eq!(errors.len(), MAX_ERRORS);
    assert_eq!(errors[0].line, 0);
    assert!(errors[0].message.contains("600000 words"), "{}", errors[0]);
    assert_eq!(errors[1].line, 2);
    assert!(errors[99].message.contains("299902 more"), "{}", errors[99]);
    // Valid but too many words: one problem.
    let words: String = (0..500_000).map(|i| format!("w{i}\n")).collect();
    assert_eq!(lines(&parse_err(words.as_bytes())), [0]);
}
