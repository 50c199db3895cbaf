//! YAML 1.1 scalar resolution and construction as PyYAML's `Resolver` and
//! `SafeConstructor` do them: which plain scalars are booleans, integers,
//! floats, nulls and timestamps, and what value each one has.

use super::Value;
use crate::ini::pystr;

/// The tag PyYAML's implicit resolver gives a plain scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implicit {
    Bool,
    Float,
    Int,
    Merge,
    Null,
    Timestamp,
    /// `=`: resolves to `tag:yaml.org,2002:value`, which the safe loader
    /// cannot construct.
    ValueTag,
    Str,
}

/// Resolves a plain scalar's text, trying the resolvers in PyYAML's order.
pub fn resolve_plain(s: &str) -> Implicit {
    if is_bool(s) {
        Implicit::Bool
    } else if is_float(s) {
        Implicit::Float
    } else if is_int(s) {
        Implicit::Int
    } else if s == "<<" {
        Implicit::Merge
    } else if matches!(s, "~" | "null" | "Null" | "NULL" | "") {
        Implicit::Null
    } else if is_timestamp(s) {
        Implicit::Timestamp
    } else if s == "=" {
        Implicit::ValueTag
    } else {
        Implicit::Str
    }
}

/// Builds the value of a plain scalar (`Err` only for the `=` and `<<`
/// tags, which need a caller-specific message, or an out-of-range int).
pub fn construct_plain(s: &str) -> Result<Value, String> {
    match resolve_plain(s) {
        Implicit::Bool => construct_bool(s),
        Implicit::Float => construct_float(s),
        Implicit::Int => construct_int(s),
        Implicit::Null => Ok(Value::Null),
        Implicit::Timestamp => Ok(Value::Timestamp(s.to_string())),
        Implicit::Str => Ok(Value::Str(s.to_string())),
        Implicit::Merge => Err(no_constructor("tag:yaml.org,2002:merge")),
        Implicit::ValueTag => Err(no_constructor("tag:yaml.org,2002:value")),
    }
}

pub(crate) fn no_constructor(tag: &str) -> String {
    format!("could not determine a constructor for the tag '{tag}'")
}

/// Whether `s` is one of YAML 1.1's boolean words, spelled as PyYAML
/// accepts them (`yes`, `Yes`, `YES`, ... but not `yEs`).
pub fn is_bool(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// A byte cursor for the hand-written equivalents of PyYAML's regexes.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(s: &'a str) -> Self {
        Cur {
            b: s.as_bytes(),
            i: 0,
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, f: impl Fn(u8) -> bool) -> bool {
        match self.peek() {
            Some(c) if f(c) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }
    fn eat_many(&mut self, f: impl Fn(u8) -> bool) -> usize {
        let start = self.i;
        while self.eat(&f) {}
        self.i - start
    }
    fn eat_str(&mut self, s: &str) -> bool {
        if self.b[self.i..].starts_with(s.as_bytes()) {
            self.i += s.len();
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn sign(&mut self) {
        self.eat(|c| c == b'-' || c == b'+');
    }
}

fn digit(c: u8) -> bool {
    c.is_ascii_digit()
}
fn digit_(c: u8) -> bool {
    c.is_ascii_digit() || c == b'_'
}

/// `(?::[0-5]?[0-9])+` — one or more sexagesimal groups.
fn sexagesimal_groups(c: &mut Cur) -> bool {
    let mut n = 0;
    while c.peek() == Some(b':') {
        let save = c.i;
        c.i += 1;
        let a = c.peek();
        let b = c.b.get(c.i + 1).copied();
        match (a, b) {
            (Some(x), Some(y)) if (b'0'..=b'5').contains(&x) && digit(y) => c.i += 2,
            (Some(x), _) if digit(x) => c.i += 1,
            _ => {
                c.i = save;
                break;
            }
        }
        n += 1;
    }
    n > 0
}

/// `(?:[eE][-+][0-9]+)?`
fn opt_exponent(c: &mut Cur) {
    let save = c.i;
    if c.eat(|x| x == b'e' || x == b'E')
        && c.eat(|x| x == b'-' || x == b'+')
        && c.eat_many(digit) > 0
    {
        return;
    }
    c.i = save;
}

/// PyYAML's float resolver regex.
pub fn is_float(s: &str) -> bool {
    let alts: [fn(&mut Cur) -> bool; 5] = [
        |c| {
            c.sign();
            c.eat(digit)
                && {
                    c.eat_many(digit_);
                    c.eat(|x| x == b'.')
                }
                && {
                    c.eat_many(digit_);
                    opt_exponent(c);
                    true
                }
        },
        |c| {
            c.eat(|x| x == b'.') && c.eat(digit) && {
                c.eat_many(digit_);
                opt_exponent(c);
                true
            }
        },
        |c| {
            c.sign();
            c.eat(digit)
                && {
                    c.eat_many(digit_);
                    sexagesimal_groups(c)
                }
                && c.eat(|x| x == b'.')
                && {
                    c.eat_many(digit_);
                    true
                }
        },
        |c| {
            c.sign();
            c.eat_str(".inf") || c.eat_str(".Inf") || c.eat_str(".INF")
        },
        |c| c.eat_str(".nan") || c.eat_str(".NaN") || c.eat_str(".NAN"),
    ];
    alts.iter().any(|f| {
        let mut c = Cur::new(s);
        f(&mut c) && c.done()
    })
}

/// PyYAML's int resolver regex.
pub fn is_int(s: &str) -> bool {
    let alts: [fn(&mut Cur) -> bool; 5] = [
        |c| {
            c.sign();
            c.eat_str("0b") && c.eat_many(|x| x == b'0' || x == b'1' || x == b'_') > 0
        },
        |c| {
            c.sign();
            c.eat_str("0") && c.eat_many(|x| (b'0'..=b'7').contains(&x) || x == b'_') > 0
        },
        |c| {
            c.sign();
            c.eat_str("0")
                || (c.eat(|x| (b'1'..=b'9').contains(&x)) && {
                    c.eat_many(digit_);
                    true
                })
        },
        |c| {
            c.sign();
            c.eat_str("0x") && c.eat_many(|x| x.is_ascii_hexdigit() || x == b'_') > 0
        },
        |c| {
            c.sign();
            c.eat(|x| (b'1'..=b'9').contains(&x)) && {
                c.eat_many(digit_);
                sexagesimal_groups(c)
            }
        },
    ];
    alts.iter().any(|f| {
        let mut c = Cur::new(s);
        f(&mut c) && c.done()
    })
}

/// PyYAML's timestamp resolver regex (date, or date and time).
pub fn is_timestamp(s: &str) -> bool {
    let mut c = Cur::new(s);
    let n4 = (0..4).all(|_| c.eat(digit));
    if !n4 || !c.eat(|x| x == b'-') {
        return false;
    }
    let save = c.i;
    // Date only: [0-9]{4}-[0-9]{2}-[0-9]{2}
    if c.eat(digit)
        && c.eat(digit)
        && c.eat(|x| x == b'-')
        && c.eat(digit)
        && c.eat(digit)
        && c.done()
    {
        return true;
    }
    c.i = save;
    let one_or_two = |c: &mut Cur| {
        c.eat(digit) && {
            c.eat(digit);
            true
        }
    };
    if !(one_or_two(&mut c) && c.eat(|x| x == b'-') && one_or_two(&mut c)) {
        return false;
    }
    if !(c.eat(|x| x == b'T' || x == b't') || c.eat_many(|x| x == b' ' || x == b'\t') > 0) {
        return false;
    }
    if !(one_or_two(&mut c)
        && c.eat(|x| x == b':')
        && c.eat(digit)
        && c.eat(digit)
        && c.eat(|x| x == b':')
        && c.eat(digit)
        && c.eat(digit))
    {
        return false;
    }
    if c.eat(|x| x == b'.') {
        c.eat_many(digit);
    }
    if c.done() {
        return true;
    }
    c.eat_many(|x| x == b' ' || x == b'\t');
    if c.eat(|x| x == b'Z') {
        return c.done();
    }
    if !c.eat(|x| x == b'-' || x == b'+') || !one_or_two(&mut c) {
        return false;
    }
    if c.eat(|x| x == b':') && !(c.eat(digit) && c.eat(digit)) {
        return false;
    }
    c.done()
}

/// `construct_yaml_bool`: the value's lower case must be a boolean word.
pub fn construct_bool(s: &str) -> Result<Value, String> {
    match pystr::lower(s).as_str() {
        "yes" | "true" | "on" => Ok(Value::Bool(true)),
        "no" | "false" | "off" => Ok(Value::Bool(false)),
        _ => Err(format!(
            "'{s}' is not a boolean (use true/false, yes/no or on/off)"
        )),
    }
}

fn out_of_range(s: &str) -> String {
    format!("integer '{s}' is out of range (at most 64 bits)")
}

/// `construct_yaml_int`: binary, octal (leading 0), hex, sexagesimal
/// (`1:30` = 90) and decimal, `_` ignored.
pub fn construct_int(s: &str) -> Result<Value, String> {
    let bad = || format!("invalid literal for an integer: '{s}'");
    let v: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        Some(_) => (false, v.as_str()),
        None => return Err(bad()),
    };
    let magnitude: i128 = if body == "0" {
        0
    } else if let Some(b) = body.strip_prefix("0b") {
        parse_radix(b, 2).ok_or_else(|| if b.is_empty() { bad() } else { out_of_range(s) })?
    } else if let Some(h) = body.strip_prefix("0x") {
        parse_radix(h, 16).ok_or_else(|| if h.is_empty() { bad() } else { out_of_range(s) })?
    } else if body.starts_with('0') {
        parse_radix(body, 8).ok_or_else(bad)?
    } else if body.contains(':') {
        let mut total: i128 = 0;
        for part in body.split(':') {
            let d = python_int(part).ok_or_else(bad)?;
            total = total
                .checked_mul(60)
                .and_then(|t| t.checked_add(d))
                .ok_or_else(|| out_of_range(s))?;
        }
        total
    } else {
        python_int(body).ok_or_else(|| {
            if body.bytes().all(|b| b.is_ascii_digit()) && !body.is_empty() {
                out_of_range(s)
            } else {
                bad()
            }
        })?
    };
    let signed = if neg { -magnitude } else { magnitude };
    i64::try_from(signed)
        .map(Value::Int)
        .map_err(|_| out_of_range(s))
}

fn parse_radix(digits: &str, radix: u32) -> Option<i128> {
    if digits.is_empty() {
        return None;
    }
    let mut v: i128 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        v = v.checked_mul(radix as i128)?.checked_add(d as i128)?;
    }
    Some(v)
}

/// Python's `int(text)` for ASCII decimal text (whitespace and one sign
/// allowed, `_` only between digits); `None` if invalid or beyond i128.
pub fn python_int(text: &str) -> Option<i128> {
    let t = pystr::strip(text);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let mut v: i128 = 0;
    for c in body.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(10)?;
        v = v.checked_mul(10)?.checked_add(d as i128)?;
    }
    Some(if neg { -v } else { v })
}

/// Python's `float(text)`: whitespace trimmed, `_` only between digits,
/// `inf`/`infinity`/`nan` in any case.
pub fn python_float(text: &str) -> Option<f64> {
    let t = pystr::strip(text);
    let bytes = t.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let before = i
                .checked_sub(1)
                .and_then(|j| bytes.get(j))
                .is_some_and(|c| c.is_ascii_digit());
            let after = bytes.get(i + 1).is_some_and(|c| c.is_ascii_digit());
            if !before || !after {
                return None;
            }
        }
    }
    let cleaned: String = t.chars().filter(|&c| c != '_').collect();
    if !cleaned.is_ascii() || cleaned.is_empty() {
        return None;
    }
    cleaned.parse::<f64>().ok()
}

/// `construct_yaml_float`: `.inf`, `.nan`, sexagesimal and decimal.
pub fn construct_float(s: &str) -> Result<Value, String> {
    let bad = || format!("could not convert string to float: '{s}'");
    let v: String = pystr::lower(&s.chars().filter(|&c| c != '_').collect::<String>());
    let (sign, body) = match v.as_bytes().first() {
        Some(b'-') => (-1.0, &v[1..]),
        Some(b'+') => (1.0, &v[1..]),
        Some(_) => (1.0, v.as_str()),
        None => return Err(bad()),
    };
    if body == ".inf" {
        return Ok(Value::Float(sign * f64::INFINITY));
    }
    if body == ".nan" {
        return Ok(Value::Float(f64::NAN));
    }
    if body.contains(':') {
        let mut total = 0.0;
        for part in body.split(':') {
            total = total * 60.0 + python_float(part).ok_or_else(bad)?;
        }
        return Ok(Value::Float(sign * total));
    }
    python_float(body)
        .map(|f| Value::Float(sign * f))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_boolean_words_resolve_as_pyyaml_does() {
        for s in ["yes", "Yes", "YES", "on", "ON", "True", "off", "No"] {
            assert_eq!(resolve_plain(s), Implicit::Bool, "{s}");
        }
        for s in ["yEs", "y", "n", "oN"] {
            assert_eq!(resolve_plain(s), Implicit::Str, "{s}");
        }
    }

    #[test]
    fn numbers_resolve_with_yaml11_forms() {
        assert_eq!(construct_plain("0x1f"), Ok(Value::Int(31)));
        assert_eq!(construct_plain("017"), Ok(Value::Int(15)));
        assert_eq!(construct_plain("0b101"), Ok(Value::Int(5)));
        assert_eq!(construct_plain("1:30"), Ok(Value::Int(90)));
        assert_eq!(construct_plain("-1_000"), Ok(Value::Int(-1000)));
        assert_eq!(construct_plain("1:00:00"), Ok(Value::Int(3600)));
        assert_eq!(construct_plain("1.5"), Ok(Value::Float(1.5)));
        assert_eq!(construct_plain("1:30.5"), Ok(Value::Float(90.5)));
        assert_eq!(
            construct_plain("-.inf"),
            Ok(Value::Float(f64::NEG_INFINITY))
        );
        assert_eq!(construct_plain("1e5"), Ok(Value::Str("1e5".into())));
        assert_eq!(construct_plain("1.0e+5"), Ok(Value::Float(100000.0)));
        assert_eq!(construct_plain("08"), Ok(Value::Str("08".into())));
        assert_eq!(construct_plain("01:03"), Ok(Value::Str("01:03".into())));
        assert_eq!(construct_plain("+.5"), Ok(Value::Str("+.5".into())));
    }

    #[test]
    fn nulls_and_timestamps_resolve() {
        assert_eq!(construct_plain("~"), Ok(Value::Null));
        assert_eq!(construct_plain(""), Ok(Value::Null));
        assert_eq!(construct_plain("nULL"), Ok(Value::Str("nULL".into())));
        assert!(is_timestamp("2001-12-14"));
        assert!(is_timestamp("2001-12-14t21:59:43.10-05:00"));
        assert!(is_timestamp("2001-12-14 21:59:43.10 Z"));
        assert!(!is_timestamp("2001-12-1"));
        assert!(!is_timestamp("2001-1-14"));
    }

    #[test]
    fn value_and_merge_tags_have_no_plain_constructor() {
        assert!(construct_plain("=").is_err());
        assert!(construct_plain("<<").is_err());
    }

    #[test]
    fn huge_integers_are_errors_not_panics() {
        assert!(construct_int("99999999999999999999999999999999999999999").is_err());
        assert!(construct_int("0x").is_err());
        assert!(construct_int("-").is_err());
        assert!(construct_float("-").is_err());
    }
}
