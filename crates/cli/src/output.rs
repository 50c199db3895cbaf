//! How results reach the user: tables or JSON on stdout, one-line errors on
//! stderr, and exit codes.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::Value;

use crate::client::CallError;

/// Prints rows as a table, or the raw value as JSON with `--json`.
pub fn listing(json: bool, raw: &Value, headers: &[&str], rows: Vec<Vec<String>>) {
    if json {
        println!("{}", serde_json::to_string_pretty(raw).unwrap_or_default());
        return;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(headers.to_vec());
    for r in rows {
        t.add_row(r.iter().map(|c| printable(c)).collect::<Vec<_>>());
    }
    println!("{t}");
}

/// `s` with control characters (escape sequences, carriage returns) shown
/// escaped, so text from a server or node cannot drive the terminal.
pub fn printable(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\n') {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Prints a result value as pretty JSON.
pub fn value(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A string field of a JSON object, or "".
pub fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `error: …`, or the AWS CLI's sentence for API errors.
pub fn error_line(e: &anyhow::Error) -> String {
    let line = match e.downcast_ref::<CallError>() {
        Some(CallError::Api { .. }) => e.to_string(),
        _ => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            msg
        }
    };
    printable(&line)
}

/// 2 for bad usage or input, else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<CallError>() {
        Some(CallError::Api { code, .. }) if code == "ValidationError" => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(printable("head"), "head");
        assert_eq!(printable("\u{1b}]0;pwned\u{7}x"), "\\u{1b}]0;pwned\\u{7}x");
        assert_eq!(printable("a\rb\u{9b}c"), "a\\rb\\u{9b}c");
    }
}
