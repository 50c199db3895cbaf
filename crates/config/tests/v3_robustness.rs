//! Robustness of the YAML front end and the v3 loader: arbitrary input never
//! panics, the writer's output always reads back as written, and plain
//! scalars resolve exactly as PyYAML resolves them (differential test,
//! when python3 with PyYAML is available).

use std::io::Write as _;
use std::process::{Command, Stdio};

use airlock_config::convert::values::py_repr;
use airlock_config::v3::{LoadOptions, load_str};
use airlock_config::yaml::emit::{Out, python_float_repr, to_yaml};
use airlock_config::yaml::{self, Value};
use proptest::prelude::*;

/// YAML-ish text: keys, indicators, indentation, anchors, tags, quotes.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("- ".to_string()),
        Just(": ".to_string()),
        Just("? ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: ".to_string()),
        Just("!!int ".to_string()),
        Just("!x ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(", ".to_string()),
        Just("'q'".to_string()),
        Just("\"d\\x41\"".to_string()),
        Just("|\n  lit\n".to_string()),
        Just("---\n".to_string()),
        Just("# c\n".to_string()),
        Just("HeadNode:\n".to_string()),
        Just("Scheduling:\n  SlurmQueues:\n".to_string()),
        Just("ComputeResources:".to_string()),
        Just("yes".to_string()),
        Just("0x1F".to_string()),
        Just("1:30".to_string()),
        Just("~".to_string()),
        "[a-zA-Z0-9_.]{1,6}",
        "\\PC{1,3}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_yamlish_text_never_panics(text in yamlish()) {
        let r = load_str(&text, &LoadOptions::new("p.yaml"));
        for d in &r.diagnostics {
            prop_assert!(!d.to_string().is_empty());
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,120}") {
        let _ = load_str(&text, &LoadOptions::new("p.yaml"));
    }

    #[test]
    fn written_strings_read_back_identically(key in "\\PC{0,12}", value in "(\\PC|[ \\t\\n\\r:#'\"-])*") {
        let doc = to_yaml(&Out::Map(vec![(key.clone(), Out::Str(value.clone())), ("after".into(), Out::Int("1".into()))]));
        let node = yaml::parse(&doc).map_err(|e| TestCaseError::fail(format!("{e}: {doc:?}")))?;
        let Value::Map(entries) = &node.value else { return Err(TestCaseError::fail(format!("not a map: {doc:?}"))) };
        prop_assert_eq!(entries.len(), 2, "{:?}", doc);
        prop_assert_eq!(&entries[0].0.value, &Value::Str(key), "{:?}", doc);
        prop_assert_eq!(&entries[0].1.value, &Value::Str(value), "{:?}", doc);
    }

    #[test]
    fn written_floats_read_back_identically(f in any::<f64>()) {
        let doc = to_yaml(&Out::Map(vec![("f".into(), Out::Float(f))]));
        let n = yaml::parse(&doc).map_err(|e| TestCaseError::fail(format!("{e}: {doc:?}")))?;
        let got = n.get("f").map(|v| v.value.clone());
        prop_assert!(matches!(got, Some(Value::Float(g)) if g == f || (g.is_nan() && f.is_nan())), "{:?} -> {:?}", doc, got);
    }
}

#[test]
fn large_documents_parse() {
    let mut text = String::from("Tags:\n");
    for i in 0..20_000 {
        text.push_str(&format!("  - Key: k{i}\n    Value: v{i}\n"));
    }
    let n = yaml::parse(&text).unwrap();
    assert!(matches!(&n.get("Tags").unwrap().value, Value::Seq(v) if v.len() == 20_000));
}

/// Plain scalars that exercise every YAML 1.1 resolver and its edges.
fn scalar_cases() -> Vec<String> {
    let mut v: Vec<String> = [
        "yes",
        "Yes",
        "YES",
        "yEs",
        "no",
        "NO",
        "on",
        "On",
        "oN",
        "off",
        "OFF",
        "true",
        "True",
        "tRUE",
        "false",
        "y",
        "n",
        "0",
        "00",
        "07",
        "08",
        "0o7",
        "0x1F",
        "0x_1",
        "0b101",
        "0b",
        "-0b11",
        "+12",
        "-0",
        "1_000",
        "1__0",
        "_1",
        "190:20:30",
        "1:60",
        "1:5",
        "01:30",
        "0:30",
        "-1:30",
        "1:30.5",
        "1.5",
        "1.",
        ".5",
        "-.5",
        "+.5",
        "1e5",
        "1.0e+5",
        "1.0e5",
        "1.e-3",
        ".inf",
        "-.Inf",
        "+.INF",
        ".NaN",
        "-.nan",
        ".Nan",
        "inf",
        "nan",
        "1_0.5_0",
        "._5",
        "~",
        "null",
        "Null",
        "NULL",
        "nUll",
        "2001-12-14",
        "2001-12-1",
        "2001-1-14 1:02:03",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 Z",
        "2001-12-14 21:59:43.10 +5",
        "2001-12-14T21:59:43",
        "=",
        "a=",
        "<<x",
        "1:00:00",
        "12:60",
        "-",
        "--",
        "1-2",
        "0.1.2",
        "1,000",
        "s3://bucket",
        "t3.micro",
        "1e",
        "0x",
        "0b2",
        "017_",
        "12e3",
        "+0",
        "0.",
        "-0.0",
        "99999999999999999999",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A deterministic spread of numeric-looking strings.
    let atoms = ["1", "0", "9", "_", ".", ":", "-", "+", "e", "E", "x", "5"];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..400 {
        let mut s = String::new();
        let len = 1 + (seed % 6) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(atoms[(seed % atoms.len() as u64) as usize]);
        }
        if !s.starts_with(['-', ':']) && !s.contains(": ") {
            v.push(s);
        }
    }
    v
}

/// `[type, repr]` as Python prints it for our value of a scalar.
fn our_view(value: &Value) -> (String, String) {
    match value {
        Value::Null => ("NoneType".into(), "None".into()),
        Value::Bool(b) => ("bool".into(), if *b { "True" } else { "False" }.into()),
        Value::Int(i) => ("int".into(), i.to_string()),
        Value::Float(f) => ("float".into(), python_float_repr(*f)),
        Value::Str(s) => ("str".into(), py_repr(s)),
        Value::Timestamp(_) => ("timestamp".into(), String::new()),
        Value::Seq(_) | Value::Map(_) => ("collection".into(), String::new()),
    }
}

#[test]
fn plain_scalars_resolve_exactly_as_pyyaml_resolves_them() {
    let script = r#"
import sys, json, yaml, datetime
out = []
for line in sys.stdin.read().split('\n'):
    if not line:
        continue
    try:
        x = yaml.safe_load('v: ' + line)['v']
        t = 'timestamp' if isinstance(x, (datetime.date, datetime.datetime)) else type(x).__name__
        out.append([t, '' if t == 'timestamp' else repr(x)])
    except Exception:
        out.append(['error', ''])
print(json.dumps(out))
"#;
    let child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.expect("python3 is needed for the PyYAML differential test");
    let cases = scalar_cases();
    let input = cases.join("\n") + "\n";
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed (PyYAML is installed by scripts/install-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<(String, String)> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), cases.len());
    let mut mismatches = Vec::new();
    for (case, want) in cases.iter().zip(&theirs) {
        let ours = match yaml::parse(&format!("v: {case}")) {
            Ok(n) => n
                .get("v")
                .map_or(("missing".into(), String::new()), |v| our_view(&v.value)),
            Err(_) => ("error".into(), String::new()),
        };
        // Integers beyond 64 bits are an error here (PyYAML's are unbounded).
        let want_here = if want.0 == "int" && want.1.parse::<i64>().is_err() {
            ("error".to_string(), String::new())
        } else {
            want.clone()
        };
        if ours != want_here {
            mismatches.push(format!("{case:?}: ours {ours:?}, PyYAML {want:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}
