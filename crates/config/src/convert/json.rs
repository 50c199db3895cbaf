//! A JSON reader that behaves like Python's `json.loads` for the converter's
//! `tags` value: object key order is kept (a repeated key keeps its first
//! place and takes the last value), integers keep all their digits,
//! `NaN`/`Infinity` are accepted, and errors read like Python's
//! (`Expecting value: line 1 column 1 (char 0)`).

use crate::yaml::emit::{Out, set};

/// Deepest nesting accepted (Python would hit its recursion limit).
const MAX_DEPTH: usize = 500;

/// Parses `text` as Python's `json.loads` would.
pub fn loads(text: &str) -> Result<Out, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = P {
        s: &chars,
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != chars.len() {
        return Err(p.fail("Extra data", p.i));
    }
    Ok(v)
}

struct P<'a> {
    s: &'a [char],
    i: usize,
    depth: usize,
}

impl P<'_> {
    fn fail(&self, msg: &str, pos: usize) -> String {
        let before = &self.s[..pos.min(self.s.len())];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let col = match before.iter().rposition(|&c| c == '\n') {
            Some(nl) => pos - nl,
            None => pos + 1,
        };
        format!("{msg}: line {line} column {col} (char {pos})")
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.i += 1;
        }
    }

    fn starts(&self, word: &str) -> bool {
        let n = word.chars().count();
        self.s
            .get(self.i..self.i + n)
            .is_some_and(|w| w.iter().copied().eq(word.chars()))
    }

    fn value(&mut self) -> Result<Out, String> {
        let start = self.i;
        match self.peek() {
            Some('"') => {
                self.i += 1;
                self.string(start).map(Out::Str)
            }
            Some('{') => self.nested(|p| p.object()),
            Some('[') => self.nested(|p| p.array()),
            _ => {
                for (word, v) in [
                    ("null", Out::Null),
                    ("true", Out::Bool(true)),
                    ("false", Out::Bool(false)),
                    ("NaN", Out::Float(f64::NAN)),
                    ("Infinity", Out::Float(f64::INFINITY)),
                    ("-Infinity", Out::Float(f64::NEG_INFINITY)),
                ] {
                    if self.starts(word) {
                        self.i += word.chars().count();
                        return Ok(v);
                    }
                }
                self.number()
                    .ok_or_else(|| self.fail("Expecting value", start))
            }
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Result<Out, String>) -> Result<Out, String> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail("maximum recursion depth exceeded", self.i));
        }
        self.depth += 1;
        self.i += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn number(&mut self) -> Option<Out> {
        let start = self.i;
        let mut j = self.i;
        let digit = |j: usize| self.s.get(j).is_some_and(|c| c.is_ascii_digit());
        if self.s.get(j) == Some(&'-') {
            j += 1;
        }
        if self.s.get(j) == Some(&'0') {
            j += 1;
        } else if digit(j) {
            while digit(j) {
                j += 1;
            }
        } else {
            return None;
        }
        let int_end = j;
        let mut is_float = false;
        if self.s.get(j) == Some(&'.') && digit(j + 1) {
            j += 1;
            while digit(j) {
                j += 1;
            }
            is_float = true;
        }
        if matches!(self.s.get(j), Some('e' | 'E')) {
            let mut k = j + 1;
            if matches!(self.s.get(k), Some('+' | '-')) {
                k += 1;
            }
            if digit(k) {
                while digit(k) {
                    k += 1;
                }
                j = k;
                is_float = true;
            }
        }
        self.i = j;
        let text: String = self.s[start..j].iter().collect();
        if is_float {
            return Some(Out::Float(text.parse::<f64>().unwrap_or(f64::NAN)));
        }
        let int_text: String = self.s[start..int_end].iter().collect();
        let neg = int_text.starts_with('-');
        let digits = int_text.trim_start_matches('-');
        Some(Out::Int(if neg && digits != "0" {
            format!("-{digits}")
        } else {
            digits.to_string()
        }))
    }

    /// After the opening quote at `start`.
    fn string(&mut self, start: usize) -> Result<String, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.fail("Unterminated string starting at", start));
            };
            self.i += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.fail("Unterminated string starting at", start));
                    };
                    self.i += 1;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&hi) && self.starts("\\u") {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                                } else {
                                    self.i = save;
                                    hi
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        }
                        other => {
                            return Err(self.fail(
                                &format!(
                                    "Invalid \\escape: {}",
                                    super::values::py_repr(&other.to_string())
                                ),
                                self.i - 2,
                            ));
                        }
                    }
                }
                c if (c as u32) < 0x20 => {
                    return Err(self.fail("Invalid control character at", self.i - 1));
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.i..self.i + 4);
        let v = digits.and_then(|d| {
            let t: String = d.iter().collect();
            if t.chars().all(|c| c.is_ascii_hexdigit()) {
                u32::from_str_radix(&t, 16).ok()
            } else {
                None
            }
        });
        match v {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => Err(self.fail("Invalid \\uXXXX escape", self.i.saturating_sub(1))),
        }
    }

    fn object(&mut self) -> Result<Out, String> {
        let mut m: Vec<(String, Out)> = Vec::new();
        self.ws();
        if self.peek() == Some('}') {
            self.i += 1;
            return Ok(Out::Map(m));
        }
        loop {
            if self.peek() != Some('"') {
                return Err(self.fail("Expecting property name enclosed in double quotes", self.i));
            }
            let start = self.i;
            self.i += 1;
            let key = self.string(start)?;
            self.ws();
            if self.peek() != Some(':') {
                return Err(self.fail("Expecting ':' delimiter", self.i));
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            set(&mut m, &key, v);
            self.ws();
            match self.peek() {
                Some('}') => {
                    self.i += 1;
                    return Ok(Out::Map(m));
                }
                Some(',') => {
                    self.i += 1;
                    self.ws();
                }
                _ => return Err(self.fail("Expecting ',' delimiter", self.i)),
            }
        }
    }

    fn array(&mut self) -> Result<Out, String> {
        let mut v = Vec::new();
        self.ws();
        if self.peek() == Some(']') {
            self.i += 1;
            return Ok(Out::Seq(v));
        }
        loop {
            v.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(']') => {
                    self.i += 1;
                    return Ok(Out::Seq(v));
                }
                Some(',') => {
                    self.i += 1;
                    self.ws();
                }
                _ => return Err(self.fail("Expecting ',' delimiter", self.i)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_order_and_last_duplicate_value() {
        let v = loads(r#"{"b": 1, "a": [true, null, 2.5], "b": "x"}"#).unwrap();
        assert_eq!(
            v,
            Out::Map(vec![
                ("b".into(), Out::Str("x".into())),
                (
                    "a".into(),
                    Out::Seq(vec![Out::Bool(true), Out::Null, Out::Float(2.5)])
                ),
            ])
        );
    }

    #[test]
    fn big_integers_keep_their_digits() {
        assert_eq!(
            loads("123456789012345678901234567890"),
            Ok(Out::Int("123456789012345678901234567890".into()))
        );
        assert_eq!(loads("-0"), Ok(Out::Int("0".into())));
    }

    #[test]
    fn errors_read_like_python() {
        assert_eq!(
            loads(""),
            Err("Expecting value: line 1 column 1 (char 0)".into())
        );
        assert_eq!(
            loads("{"),
            Err(
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
                    .into()
            )
        );
        assert_eq!(
            loads("{\"a\" 1}"),
            Err("Expecting ':' delimiter: line 1 column 6 (char 5)".into())
        );
        assert_eq!(
            loads("{}\n x"),
            Err("Extra data: line 2 column 2 (char 4)".into())
        );
        assert_eq!(
            loads("\"abc"),
            Err("Unterminated string starting at: line 1 column 1 (char 0)".into())
        );
    }

    #[test]
    fn deep_nesting_is_an_error() {
        assert!(loads(&"[".repeat(10_000)).is_err());
    }
}
