//! Shared by the INI differential tests: a python3 process running
//! `configparser_oracle.py`, and the same JSON view of an [`Ini`] on the
//! Rust side.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use airlock_config::ini::{self, Ini};
use serde_json::{Value, json};

pub struct Oracle {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

pub fn oracle() -> Option<&'static Mutex<Oracle>> {
    static ORACLE: OnceLock<Option<Mutex<Oracle>>> = OnceLock::new();
    ORACLE
        .get_or_init(|| {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/configparser_oracle.py"
            );
            let mut child = Command::new("python3")
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .ok()?;
            let stdin = child.stdin.take()?;
            let stdout = BufReader::new(child.stdout.take()?);
            Some(Mutex::new(Oracle {
                _child: child,
                stdin,
                stdout,
            }))
        })
        .as_ref()
}

pub fn python(text: &str) -> Value {
    let Some(o) = oracle() else {
        return Value::Null;
    };
    let mut o = o.lock().unwrap_or_else(|e| e.into_inner());
    let req = serde_json::to_string(text).expect("strings serialise");
    writeln!(o.stdin, "{req}").expect("write to python3");
    o.stdin.flush().expect("flush python3");
    let mut line = String::new();
    o.stdout.read_line(&mut line).expect("read from python3");
    serde_json::from_str(&line).expect("python3 answers JSON")
}

fn value(ini: &Ini, s: &str, k: &str) -> Value {
    match ini.get(s, k) {
        Some(Ok(v)) => json!({ "ok": v }),
        Some(Err(e)) => json!({ "err": e.kind.python_name() }),
        None => json!({ "err": "absent" }),
    }
}

pub fn rust(text: &str) -> Value {
    let ini = match ini::parse(text) {
        Ok(i) => i,
        Err(e) => return json!({ "error": e.kind.python_name() }),
    };
    let defaults: Vec<Value> = ini
        .defaults
        .iter()
        .map(|e| json!([e.key, e.raw_value, value(&ini, "DEFAULT", &e.key)]))
        .collect();
    let sections: Vec<Value> = ini
        .sections
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "own": s.entries.iter().map(|e| json!([e.key, e.raw_value])).collect::<Vec<_>>(),
                "values": ini.options(&s.name).iter().map(|k| json!([k, value(&ini, &s.name, k)])).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "defaults": defaults, "sections": sections })
}

/// False (with a printed reason) when python3 cannot be started.
/// Panics when python3 (the configparser oracle) cannot run: the
/// differential tests must never pass by skipping. `scripts/install-deps.sh`
/// installs it.
pub fn python_available() -> bool {
    assert!(
        oracle().is_some(),
        "python3 is needed for the configparser differential tests (scripts/install-deps.sh)"
    );
    true
}
