//! Python value semantics the converter relies on: configparser's
//! `getint`/`getfloat`/`getboolean`, `repr()` of a string for error
//! messages, `str.split()`, and the converter's S3 ARN and partition
//! helpers.

use crate::ini::pystr;
use crate::yaml::emit::Out;
use crate::yaml::resolve::python_float;

/// Python's `repr(str)`: single quotes unless the text has a `'` and no
/// `"`; backslashes, quotes and control characters escaped.
pub fn py_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// `ConfigParser.getint`: Python's `int(value)` (ASCII digits, optional
/// sign, surrounding whitespace, `_` between digits), any size.
pub fn getint(value: &str) -> Result<Out, String> {
    let bad = || format!("invalid literal for int() with base 10: {}", py_repr(value));
    let t = pystr::strip(value);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let ok_shape = !body.is_empty()
        && !body.starts_with('_')
        && !body.ends_with('_')
        && !body.contains("__")
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !ok_shape {
        return Err(bad());
    }
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    let trimmed = digits.trim_start_matches('0');
    let canon = if trimmed.is_empty() { "0" } else { trimmed };
    Ok(Out::Int(if neg && canon != "0" {
        format!("-{canon}")
    } else {
        canon.to_string()
    }))
}

/// `ConfigParser.getfloat`: Python's `float(value)`.
pub fn getfloat(value: &str) -> Result<Out, String> {
    python_float(value)
        .map(Out::Float)
        .ok_or_else(|| format!("could not convert string to float: {}", py_repr(value)))
}

/// `ConfigParser.getboolean`: `1/yes/true/on` and `0/no/false/off`, any case.
pub fn getboolean(value: &str) -> Result<bool, String> {
    match pystr::lower(value).as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err(format!("Not a boolean: {value}")),
    }
}

/// Python's `str.split()` with no argument.
pub fn py_split(s: &str) -> Vec<String> {
    s.split(pystr::is_space)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// `_get_partition`: `aws-us-gov`, `aws-cn` or `aws` from a region name.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("us-gov") {
        "aws-us-gov"
    } else if region.starts_with("cn") {
        "aws-cn"
    } else {
        "aws"
    }
}

/// `_get_bucket_name_and_key`: the converter's
/// `re.match(r"arn:(.*?):s3:::([^\/\*]*)((\/)?(.*))?", arn)` and its
/// `*` handling. `None` where Python's `re.match` finds no match.
pub fn bucket_name_and_key(arn: &str) -> Option<(String, Option<String>)> {
    if arn == "*" {
        return Some(("*".into(), None));
    }
    let rest = arn.strip_prefix("arn:")?;
    // `(.*?)` is lazy and stops at a line break: the first ":s3:::".
    let at = rest.find(":s3:::")?;
    if rest[..at].contains('\n') {
        return None;
    }
    let after = &rest[at + ":s3:::".len()..];
    let bucket_end = after.find(['/', '*']).unwrap_or(after.len());
    let bucket = &after[..bucket_end];
    let mut tail = &after[bucket_end..];
    if let Some(t) = tail.strip_prefix('/') {
        tail = t;
    }
    // `(.*)` stops at a line break.
    let key = tail.split('\n').next().unwrap_or("");
    let (bucket, key) = if !bucket.is_empty() && key == "*" {
        (bucket.to_string(), None)
    } else if bucket.is_empty() && key == "*" {
        ("*".to_string(), None)
    } else {
        (bucket.to_string(), Some(key.to_string()))
    };
    Some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getint_follows_python_int() {
        assert_eq!(getint(" 35 "), Ok(Out::Int("35".into())));
        assert_eq!(getint("1_000"), Ok(Out::Int("1000".into())));
        assert_eq!(getint("-007"), Ok(Out::Int("-7".into())));
        assert_eq!(
            getint("99999999999999999999999"),
            Ok(Out::Int("99999999999999999999999".into()))
        );
        assert_eq!(
            getint("True"),
            Err("invalid literal for int() with base 10: 'True'".into())
        );
        assert_eq!(
            getint("1.5"),
            Err("invalid literal for int() with base 10: '1.5'".into())
        );
        assert_eq!(
            getint("it's"),
            Err("invalid literal for int() with base 10: \"it's\"".into())
        );
    }

    #[test]
    fn getfloat_and_getboolean_follow_python() {
        assert_eq!(getfloat("2"), Ok(Out::Float(2.0)));
        assert_eq!(getfloat(" 5.88"), Ok(Out::Float(5.88)));
        assert_eq!(
            getfloat("x"),
            Err("could not convert string to float: 'x'".into())
        );
        assert_eq!(getboolean("YES"), Ok(true));
        assert_eq!(getboolean("0"), Ok(false));
        assert_eq!(getboolean("maybe"), Err("Not a boolean: maybe".into()));
    }

    #[test]
    fn s3_arns_split_into_bucket_and_key() {
        let b = |s: &str| bucket_name_and_key(s);
        assert_eq!(
            b("arn:aws:s3:::testbucket/*"),
            Some(("testbucket".into(), None))
        );
        assert_eq!(
            b("arn:aws:s3:::test/hello/*"),
            Some(("test".into(), Some("hello/*".into())))
        );
        assert_eq!(
            b("arn:aws:s3:::my_bucket*"),
            Some(("my_bucket".into(), None))
        );
        assert_eq!(b("arn:aws:s3:::*"), Some(("*".into(), None)));
        assert_eq!(b("*"), Some(("*".into(), None)));
        assert_eq!(
            b("arn:aws:s3:::bucket"),
            Some(("bucket".into(), Some(String::new())))
        );
        assert_eq!(b("s3://bucket"), None);
    }

    #[test]
    fn partitions_follow_region_prefix() {
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("eu-west-1"), "aws");
    }
}
