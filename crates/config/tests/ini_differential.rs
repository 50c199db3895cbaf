//! Differential test: the `ini` module against Python's own configparser
//! (`ConfigParser(inline_comment_prefixes=("#", ";"))`), run as one python3
//! process that answers one JSON line per generated INI text.

#[path = "support/oracle.rs"]
mod oracle;

use oracle::{python, python_available, rust};
use proptest::prelude::*;

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", " ", "  ", "\t", " \u{a0}", "\u{1f}", "\u{b}"])
}

fn key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "A", "b", "B", "key", "Key", "k_1", "é", "Σ", "x y", "a;b", "c#d",
    ])
}

fn value_piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "v", "word", " ", "\t", "%(a)s", "%(A)s", "%(b)s", "%(key)s", "%(zz)s", "%%", "%", "%(",
        ")s", "%(a)d", "%()s", "#c", " #c", ";x", " ;x", "\t;x", "=", ":", "[s]", "é", "\u{a0}",
        "\u{1c}", "100%%",
    ])
}

fn line() -> impl Strategy<Value = String> {
    let section = (
        ws(),
        prop::sample::select(vec![
            "s", "S", "t", "DEFAULT", "default", "a b", "x]y", "", "é",
        ]),
        prop::sample::select(vec!["]", "]", "] junk", "] #c", "] ;c", "", "]]"]),
    )
        .prop_map(|(w, n, close)| format!("{w}[{n}{close}"));
    let option = (
        ws(),
        key(),
        ws(),
        prop::sample::select(vec!["=", ":", "=", " = ", ""]),
        ws(),
        prop::collection::vec(value_piece(), 0..5),
    )
        .prop_map(|(w1, k, w2, d, w3, v)| format!("{w1}{k}{w2}{d}{w3}{}", v.concat()));
    let continuation = (
        prop::sample::select(vec![" ", "  ", "\t", "    "]),
        prop::collection::vec(value_piece(), 1..4),
    )
        .prop_map(|(w, v)| format!("{w}{}", v.concat()));
    let other = prop::sample::select(vec![
        "",
        "",
        " ",
        "# comment",
        "; comment",
        "  # indented",
        "\t;x",
        "junk",
        "= v",
        ": v",
        "[]",
        "[open",
    ])
    .prop_map(str::to_string);
    prop_oneof![3 => section, 6 => option, 3 => continuation, 3 => other]
}

fn ini_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            (
                line(),
                prop::sample::select(vec!["\n", "\n", "\n", "\r\n", "\r"]),
            ),
            0..16,
        ),
        any::<bool>(),
    )
        .prop_map(|(lines, header_first)| {
            let mut t = if header_first {
                String::from("[s]\n")
            } else {
                String::new()
            };
            for (l, end) in lines {
                t.push_str(&l);
                t.push_str(end);
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn ini_matches_python_configparser(text in ini_text()) {
        if python_available() {
            prop_assert_eq!(rust(&text), python(&text), "input: {:?}", text);
        }
    }
}

#[test]
fn seed_config_matches_python_configparser() {
    if !python_available() {
        return;
    }
    let text = include_str!("../../../examples/ssm.ini");
    let r = rust(text);
    assert!(r.get("sections").is_some(), "seed config must parse: {r}");
    assert_eq!(r, python(text));
}

#[test]
fn corner_cases_match_python_configparser() {
    if !python_available() {
        return;
    }
    let cases = [
        "[s]\na = x;y ;z #c\n",
        "[s]\na=1\n\n  b\n\n\nc=2\n",
        "[s]\na=\n  x\n  # comment\n  y\n",
        "[a]b] junk\nk=v\n",
        "[DEFAULT]\nx=1\n[DEFAULT]\ny=%(x)s\n[s]\nz=%(y)s%%\n",
        "[s]\njunk\n  indented after junk\n",
        "[s]\n=a\n=b\n",
        "\u{feff}[s]\nk=v\n",
        "[s]\nk = \u{1f}v\u{1f}\n",
        "[s]\r\nk = 1\r\n  2\rj = %(k)s\n",
    ];
    for c in cases {
        assert_eq!(rust(c), python(c), "input: {c:?}");
    }
}
