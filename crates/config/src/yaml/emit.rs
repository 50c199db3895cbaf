//! Writes YAML text the way PyYAML's `yaml.dump(..., sort_keys=False,
//! default_flow_style=False)` does with ParallelCluster's `ConfigDumper`
//! (block style, lists indented under their key, scalars quoted only when
//! they would otherwise read back as something else). Long scalars are not
//! folded and non-ASCII text is written as UTF-8; both read back the same.

use super::resolve::{Implicit, resolve_plain};

/// A value to write, in insertion order (a Python dict/list/scalar).
/// `Int` holds canonical decimal text, so any Python int fits.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Null,
    Bool(bool),
    Int(String),
    Float(f64),
    Str(String),
    Seq(Vec<Out>),
    Map(Vec<(String, Out)>),
}

impl Out {
    /// Python truthiness: empty strings, lists and dicts, zero and null are
    /// false.
    pub fn truthy(&self) -> bool {
        match self {
            Out::Null => false,
            Out::Bool(b) => *b,
            Out::Int(s) => s != "0",
            Out::Float(f) => *f != 0.0,
            Out::Str(s) => !s.is_empty(),
            Out::Seq(v) => !v.is_empty(),
            Out::Map(m) => !m.is_empty(),
        }
    }
}

/// Sets `key` in an ordered map as a Python dict does: a new key goes last,
/// an existing key keeps its place and takes the new value.
pub fn set(map: &mut Vec<(String, Out)>, key: &str, value: Out) {
    match map.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => map.push((key.to_string(), value)),
    }
}

/// The YAML text of a document whose root is `root`, ending in a newline.
pub fn to_yaml(root: &Out) -> String {
    let mut s = String::new();
    match root {
        Out::Map(m) if !m.is_empty() => emit_map(m, 0, false, &mut s),
        Out::Seq(v) if !v.is_empty() => emit_seq(v, 0, false, &mut s),
        other => {
            s.push_str(&scalar(other));
            s.push('\n');
        }
    }
    s
}

fn pad(n: usize, s: &mut String) {
    s.extend(std::iter::repeat_n(' ', n));
}

/// Writes a value after `key:` or `- `.
fn emit_value(v: &Out, indent: usize, s: &mut String) {
    match v {
        Out::Map(m) if !m.is_empty() => {
            s.push('\n');
            emit_map(m, indent, false, s);
        }
        Out::Seq(items) if !items.is_empty() => {
            s.push('\n');
            emit_seq(items, indent, false, s);
        }
        other => {
            s.push(' ');
            s.push_str(&scalar(other));
            s.push('\n');
        }
    }
}

fn emit_map(m: &[(String, Out)], indent: usize, inline_first: bool, s: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(indent, s);
        }
        s.push_str(&string_scalar(k));
        s.push(':');
        emit_value(v, indent + 2, s);
    }
}

fn emit_seq(items: &[Out], indent: usize, inline_first: bool, s: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(indent, s);
        }
        s.push_str("- ");
        match item {
            Out::Map(m) if !m.is_empty() => emit_map(m, indent + 2, true, s),
            Out::Seq(v) if !v.is_empty() => emit_seq(v, indent + 2, true, s),
            other => {
                s.push_str(&scalar(other));
                s.push('\n');
            }
        }
    }
}

fn scalar(v: &Out) -> String {
    match v {
        Out::Null => "null".into(),
        Out::Bool(true) => "true".into(),
        Out::Bool(false) => "false".into(),
        Out::Int(i) => i.clone(),
        Out::Float(f) => yaml_float(*f),
        Out::Str(st) => string_scalar(st),
        Out::Seq(_) => "[]".into(),
        Out::Map(_) => "{}".into(),
    }
}

/// PyYAML's `represent_float`: `.nan`, `.inf`, else Python's `repr`
/// lower-cased with `.0` added to a bare exponent form (`1.0e+16`).
pub fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let r = python_float_repr(f).to_lowercase();
    if !r.contains('.') && r.contains('e') {
        r.replacen('e', ".0e", 1)
    } else {
        r
    }
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for
/// exponents -4..16, else `d.ddde+XX`.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = usize::try_from(exp).unwrap_or(0) + 1;
            let mut d = digits.clone();
            while d.len() < int_len {
                d.push('0');
            }
            let (ip, fp) = d.split_at(int_len);
            format!("{ip}.{}", if fp.is_empty() { "0" } else { fp })
        } else {
            let zeros = usize::try_from(-exp - 1).unwrap_or(0);
            format!("0.{}{digits}", "0".repeat(zeros))
        }
    } else {
        let (first, rest) = digits.split_at(digits.len().min(1));
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{first}{frac}e{esign}{:02}", exp.abs())
    };
    format!("{sign}{body}")
}

fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// Whether PyYAML would write `s` as a plain (unquoted) block scalar.
fn plain_ok(s: &str) -> bool {
    if s.is_empty() || resolve_plain(s) != Implicit::Str {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let space_at = |i: usize| {
        chars
            .get(i)
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
    };
    if space_at(0) || chars.last().is_some_and(|c| matches!(c, ' ' | '\t')) {
        return false;
    }
    for (i, &c) in chars.iter().enumerate() {
        if !printable(c) || matches!(c, '\t' | '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}') {
            return false;
        }
        let followed_by_space = space_at(i + 1);
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                return false;
            }
            if matches!(c, '?' | ':' | '-') && followed_by_space {
                return false;
            }
        } else {
            if c == ':' && followed_by_space {
                return false;
            }
            if c == '#' && chars.get(i - 1).is_some_and(|p| *p == ' ') {
                return false;
            }
        }
    }
    true
}

/// A string as a YAML scalar: plain if safe, else single-quoted, else
/// (control characters, line breaks) double-quoted with escapes.
pub fn string_scalar(s: &str) -> String {
    if plain_ok(s) {
        return s.to_string();
    }
    let needs_double = s.chars().any(|c| {
        !printable(c) || matches!(c, '\t' | '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
    });
    if !needs_double {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        assert_eq!(yaml_float(85.0), "85.0");
        assert_eq!(yaml_float(5.88), "5.88");
        assert_eq!(yaml_float(1e16), "1.0e+16");
        assert_eq!(yaml_float(1.5e-7), "1.5e-07");
        assert_eq!(yaml_float(0.0001), "0.0001");
        assert_eq!(yaml_float(-0.0), "-0.0");
        assert_eq!(yaml_float(123456789012345.6), "123456789012345.6");
        assert_eq!(yaml_float(f64::NEG_INFINITY), "-.inf");
    }

    #[test]
    fn strings_that_would_read_back_as_other_types_are_quoted() {
        assert_eq!(string_scalar("1:00:00"), "'1:00:00'");
        assert_eq!(string_scalar("01:03"), "01:03");
        assert_eq!(string_scalar("yes"), "'yes'");
        assert_eq!(string_scalar("{{ region }}"), "'{{ region }}'");
        assert_eq!(string_scalar("${REGION}"), "${REGION}");
        assert_eq!(string_scalar("s3://bucket/x"), "s3://bucket/x");
        assert_eq!(string_scalar("a: b"), "'a: b'");
        assert_eq!(string_scalar("it's"), "it's");
        assert_eq!(string_scalar(" x"), "' x'");
        assert_eq!(string_scalar(""), "''");
        assert_eq!(string_scalar("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn block_layout_indents_lists_under_keys() {
        let doc = Out::Map(vec![
            ("Region".into(), Out::Str("us-west-1".into())),
            (
                "Tags".into(),
                Out::Seq(vec![Out::Map(vec![
                    ("Key".into(), Out::Str("k".into())),
                    ("Value".into(), Out::Str("v".into())),
                ])]),
            ),
            ("Empty".into(), Out::Seq(vec![])),
        ]);
        assert_eq!(
            to_yaml(&doc),
            "Region: us-west-1\nTags:\n  - Key: k\n    Value: v\nEmpty: []\n"
        );
    }

    #[test]
    fn set_keeps_first_position_like_a_dict() {
        let mut m = vec![("a".to_string(), Out::Int("1".into()))];
        set(&mut m, "b", Out::Int("2".into()));
        set(&mut m, "a", Out::Int("3".into()));
        assert_eq!(m[0], ("a".to_string(), Out::Int("3".into())));
        assert_eq!(m.len(), 2);
    }
}
