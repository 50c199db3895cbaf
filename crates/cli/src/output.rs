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
        t.add_row(r);
    }
    println!("{t}");
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
    match e.downcast_ref::<CallError>() {
        Some(CallError::Api { .. }) => e.to_string(),
        _ => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            msg
        }
    }
}

/// 2 for bad usage or input, else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<CallError>() {
        Some(CallError::Api { code, .. }) if code == "ValidationError" => 2,
        _ => 1,
    }
}
