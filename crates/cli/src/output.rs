//! How results reach the user: tables, JSON or tab-separated text on stdout
//! (`--output`, filtered by a JMESPath `--query`), one-line errors on
//! stderr, and exit codes.
//!
//! Listings print as tables that fit the terminal (its width, or `COLUMNS`);
//! when stdout is not a terminal and `COLUMNS` is unset, rows are kept whole.
//! `--output text` prints what the AWS CLI's text output prints: scalars of
//! each object on one tab-separated line, nested lists under an upper-case
//! name. With `--query`, the query's result prints (as JSON unless
//! `--output` says otherwise).

use std::io::IsTerminal;
use std::sync::OnceLock;

use serde_json::Value;

use crate::Global;
use crate::client::CallError;

mod table;

/// `--output`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
    Table,
}

/// How results print: `--output` and `--query` from the global options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// `None`: tables for listings, JSON for other results.
    pub format: Option<Format>,
    /// A JMESPath expression, already checked by [`parse_query`].
    pub query: Option<String>,
}

impl Style {
    /// From `--json`, `--output` and `--query` (`--json` wins).
    pub fn new(json: bool, output: Option<Format>, query: Option<String>) -> Self {
        Style {
            format: if json { Some(Format::Json) } else { output },
            query,
        }
    }

    /// Whether results print as data (JSON, text, a query's result)
    /// rather than in a command's own human layout.
    pub fn wants_data(&self) -> bool {
        matches!(self.format, Some(Format::Json | Format::Text)) || self.query.is_some()
    }
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Sets the style for the rest of the process (`main` calls it once,
/// before any command runs). Until then, the defaults.
pub fn init(style: Style) {
    let _ = STYLE.set(style);
}

fn style() -> Style {
    STYLE.get().cloned().unwrap_or_default()
}

/// Whether a command with a layout of its own (`airlock status`, `server
/// status`, `activation create`) should print its result as data instead.
pub fn wants_data(g: &Global) -> bool {
    g.json || style().wants_data()
}

/// The `--query` value parser: a JMESPath expression that compiles.
pub fn parse_query(q: &str) -> Result<String, String> {
    jmespath::compile(q)
        .map(|_| q.to_owned())
        .map_err(|e| format!("not a JMESPath expression: {}", one_line(&e.to_string())))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `v` filtered by the JMESPath expression `q`.
pub fn query(q: &str, v: &Value) -> anyhow::Result<Value> {
    let bad = |e: jmespath::JmespathError| {
        BadInput(format!("--query {q:?}: {}", one_line(&e.to_string())))
    };
    let expr = jmespath::compile(q).map_err(bad)?;
    let found = expr.search(v).map_err(bad)?;
    Ok(serde_json::to_value(&*found)?)
}

/// Prints a listing: rows as a table (one line when there are none), or
/// the result as data with `--output json|text` or `--query` (`json`:
/// the caller's `--json`).
pub fn listing(json: bool, raw: &Value, headers: &[&str], rows: Vec<Vec<String>>) {
    let mut st = style();
    if json {
        st.format = Some(Format::Json);
    }
    if st.wants_data() {
        print_data(&st, raw);
        return;
    }
    println!("{}", render_listing(raw, headers, rows, width()));
}

/// Prints a result (pretty JSON by default), through `--query` and in the
/// `--output` format.
pub fn value(v: &Value) {
    print_data(&style(), v);
}

fn print_data(st: &Style, v: &Value) {
    match render_data(st, v, width()) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            // A query that cannot run on this result (a function given the
            // wrong type): said once, exit 2, as any bad input.
            eprintln!("{}", error_line(&e));
            std::process::exit(i32::from(exit_code(&e)));
        }
    }
}

/// The text that [`value`] prints (JSON unless `--output` says otherwise),
/// ending in a newline (empty for the text output of an empty result).
pub fn render_data(st: &Style, v: &Value, width: Option<u16>) -> anyhow::Result<String> {
    let queried;
    let v = match &st.query {
        Some(q) => {
            queried = query(q, v)?;
            &queried
        }
        None => v,
    };
    Ok(match st.format.unwrap_or(Format::Json) {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(v)?),
        Format::Text => text(v),
        Format::Table => format!("{}\n", generic_table(v, width)),
    })
}

/// The width tables must fit: `COLUMNS`, else the terminal's when stdout
/// is one; `None` (rows kept whole) otherwise.
pub fn width() -> Option<u16> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&n| n > 0)
    {
        return Some(n);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into `ws`, which outlives the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then_some(ws.ws_col)
}

/// A listing's table in `width` columns, or one line ("No clusters") when
/// it has no rows.
pub fn render_listing(
    raw: &Value,
    headers: &[&str],
    rows: Vec<Vec<String>>,
    width: Option<u16>,
) -> String {
    if rows.is_empty() {
        return format!("No {}", noun(raw));
    }
    let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c)).collect())
        .collect();
    table::render(&headers, &rows, width)
}

/// What a listing lists, from the key of its one list: `KeyPairs` → "key
/// pairs".
fn noun(raw: &Value) -> String {
    let lists: Vec<&String> = raw
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.is_array())
        .map(|(k, _)| k)
        .collect();
    let [key] = lists[..] else {
        return "items".into();
    };
    match key.as_str() {
        "InstanceInformationList" => "managed nodes".into(),
        "ActivationList" => "activations".into(),
        "AccessKeyMetadata" => "access keys".into(),
        "TagList" => "tags".into(),
        "PolicyNames" => "inline policies".into(),
        "Events" => "audit events".into(),
        other => {
            let mut words = String::new();
            for c in other.chars() {
                if c.is_uppercase() && !words.is_empty() {
                    words.push(' ');
                }
                words.extend(c.to_lowercase());
            }
            words
        }
    }
}

/// Any JSON value as a table: a list of objects one row each (a column per
/// scalar key), a list of scalars one per row, an object one row per key;
/// an answer that is one named list (`{"Sessions": […]}`, as most `aws ssm`
/// answers are) its name, then the list's table, as the AWS CLI titles it
/// (or one line, "No sessions", when it is empty).
fn generic_table(v: &Value, width: Option<u16>) -> String {
    if let Value::Object(map) = v
        && let [(name, Value::Array(items))] = map.iter().collect::<Vec<_>>()[..]
    {
        if items.is_empty() {
            return format!("No {}", noun(v));
        }
        return format!(
            "{}\n{}",
            printable(name),
            generic_table(&Value::Array(items.clone()), width)
        );
    }
    let cell = |v: &Value| printable(&scalar(v));
    let (headers, rows): (Vec<String>, Vec<Vec<String>>) = match v {
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let keys = scalar_keys(items);
            let rows = items
                .iter()
                .map(|item| keys.iter().map(|k| cell(&item[k])).collect())
                .collect();
            (keys, rows)
        }
        Value::Array(items) => (vec![], items.iter().map(|i| vec![cell(i)]).collect()),
        Value::Object(map) => (
            vec![],
            map.iter()
                .map(|(k, v)| vec![printable(k), cell(v)])
                .collect(),
        ),
        other => return cell(other),
    };
    table::render(&headers, &rows, width)
}

/// A value as one cell or field: strings bare, `None`, `True` and `False`
/// as the AWS CLI prints them, lists and objects as compact JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The keys of scalar values in any of `items`, sorted.
fn scalar_keys(items: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = items
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|m| m.iter())
        .filter(|(_, v)| !v.is_array() && !v.is_object())
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The AWS CLI's text output: each object's scalars on one tab-separated
/// line (sorted by key; a list of objects shares one set of keys), its
/// lists and objects after it, named in upper case.
pub fn text(v: &Value) -> String {
    let mut out = String::new();
    text_into(&mut out, v, None, None);
    out
}

fn text_into(out: &mut String, v: &Value, id: Option<&str>, keys: Option<&[String]>) {
    let field = |v: &Value| printable(&scalar(v));
    match v {
        Value::Object(map) => {
            let mut scalars = Vec::new();
            let mut nested: Vec<(&str, &Value)> = Vec::new();
            match keys {
                Some(keys) => {
                    scalars.extend(keys.iter().map(|k| field(&v[k])));
                    let mut rest: Vec<&String> = map.keys().filter(|k| !keys.contains(k)).collect();
                    rest.sort();
                    nested.extend(rest.into_iter().map(|k| (k.as_str(), &map[k])));
                }
                None => {
                    let mut all: Vec<(&String, &Value)> = map.iter().collect();
                    all.sort_by_key(|(k, _)| *k);
                    for (k, v) in all {
                        if v.is_array() || v.is_object() {
                            nested.push((k, v));
                        } else {
                            scalars.push(field(v));
                        }
                    }
                }
            }
            if !scalars.is_empty() {
                if let Some(id) = id {
                    scalars.insert(0, id.to_uppercase());
                }
                out.push_str(&scalars.join("\t"));
                out.push('\n');
            }
            for (k, v) in nested {
                text_into(out, v, Some(k), None);
            }
        }
        Value::Array(items) if items.is_empty() => {}
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let keys = scalar_keys(items);
            for item in items {
                text_into(out, item, id, Some(&keys));
            }
        }
        Value::Array(items) => {
            let (lists, scalars): (Vec<&Value>, Vec<&Value>) =
                items.iter().partition(|i| i.is_array());
            if !scalars.is_empty() {
                match id {
                    Some(id) => {
                        for s in scalars {
                            out.push_str(&format!("{}\t{}\n", id.to_uppercase(), field(s)));
                        }
                    }
                    None => {
                        let line: Vec<String> = scalars.into_iter().map(field).collect();
                        out.push_str(&line.join("\t"));
                        out.push('\n');
                    }
                }
            }
            for l in lists {
                text_into(out, l, id, None);
            }
        }
        other => {
            out.push_str(&field(other));
            out.push('\n');
        }
    }
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

/// A string field of a JSON object, or "".
pub fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Input the user typed that is malformed (a cluster name, a time, a
/// query): `error: …`, exit 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

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

/// The exit-code rule (the README's): 2 for bad usage or bad input — input
/// that is malformed whatever exists on the server (clap's usage errors,
/// [`BadInput`], an invalid cluster name, the server's `ValidationError`);
/// 1 for an operation that failed, including a well-formed name that
/// names nothing (`NotFoundException`, `NoSuchEntity`).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<BadInput>().is_some()
        || e.downcast_ref::<airlock_config::v2::InvalidClusterName>()
            .is_some()
    {
        return 2;
    }
    match e.downcast_ref::<CallError>() {
        Some(CallError::Api { code, .. }) if code == "ValidationError" => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(printable("head"), "head");
        assert_eq!(printable("\u{1b}]0;pwned\u{7}x"), "\\u{1b}]0;pwned\\u{7}x");
        assert_eq!(printable("a\rb\u{9b}c"), "a\\rb\\u{9b}c");
    }

    fn style(format: Option<Format>, query: Option<&str>) -> Style {
        Style {
            format,
            query: query.map(str::to_owned),
        }
    }

    fn users() -> Value {
        json!({"Users": [
            {"UserName": "admin", "UserId": "AIDA1", "Arn": "arn:aws:iam::1:user/admin", "Tags": []},
            {"UserName": "alice", "UserId": "AIDA2", "Arn": "arn:aws:iam::1:user/alice",
             "Tags": [{"Key": "team", "Value": "hpc"}]},
        ]})
    }

    #[test]
    fn text_output_is_the_aws_clis_tab_separated_values() {
        assert_eq!(
            text(&users()),
            "USERS\tarn:aws:iam::1:user/admin\tAIDA1\tadmin\n\
             USERS\tarn:aws:iam::1:user/alice\tAIDA2\talice\n\
             TAGS\tteam\thpc\n"
        );
        assert_eq!(text(&json!(["a", "b", 3])), "a\tb\t3\n");
        assert_eq!(text(&json!("x")), "x\n");
        assert_eq!(text(&json!({"A": null, "B": true})), "None\tTrue\n");
        assert_eq!(text(&json!({"Names": ["a", "b"]})), "NAMES\ta\nNAMES\tb\n");
        assert_eq!(text(&json!({"Users": []})), "");
        // A tab or escape in a value cannot split a field or drive the terminal.
        assert_eq!(text(&json!(["a\tb\u{1b}"])), "a\\tb\\u{1b}\n");
    }

    #[test]
    fn a_query_filters_the_result_before_it_prints() {
        let v = users();
        let names = style(None, Some("Users[].UserName"));
        assert_eq!(
            render_data(&names, &v, None).unwrap(),
            "[\n  \"admin\",\n  \"alice\"\n]\n"
        );
        let text_names = style(Some(Format::Text), Some("Users[].UserName"));
        assert_eq!(
            render_data(&text_names, &v, None).unwrap(),
            "admin\talice\n"
        );
        let one = style(
            Some(Format::Text),
            Some("Users[?UserName=='alice'].UserId | [0]"),
        );
        assert_eq!(render_data(&one, &v, None).unwrap(), "AIDA2\n");
        let table = style(
            Some(Format::Table),
            Some("Users[].{Name: UserName, Id: UserId}"),
        );
        let out = render_data(&table, &v, None).unwrap();
        assert!(
            out.contains("Id") && out.contains("AIDA2") && out.contains("alice"),
            "{out}"
        );
        // Not found by the query: null, as the AWS CLI prints it.
        let missing = style(None, Some("Nope"));
        assert_eq!(render_data(&missing, &v, None).unwrap(), "null\n");
    }

    #[test]
    fn a_named_list_prints_its_name_then_its_rows_in_the_width() {
        let v = json!({"Sessions": [{
            "SessionId": "admin-0123456789abcdef0", "Status": "Terminated",
            "Target": "mi-0123456789abcdef0", "Owner": "arn:aws:iam::123456789012:user/admin",
            "DocumentName": "AWS-StartNonInteractiveCommand",
            "StartDate": "2026-12-07T13:29:39Z", "EndDate": "2026-12-07T13:29:39Z",
            "Parameters": {"command": ["sleep 60"]},
        }]});
        let out = generic_table(&v, Some(80));
        assert!(out.starts_with("Sessions\n"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(out.contains("admin-0123456789abcdef0"), "{out}");
        assert_eq!(
            generic_table(&json!({"Sessions": []}), Some(80)),
            "No sessions"
        );
    }

    #[test]
    fn a_bad_query_is_refused_as_bad_input() {
        assert!(parse_query("Users[].UserName").is_ok());
        let e = parse_query("Users[").unwrap_err();
        assert!(e.starts_with("not a JMESPath expression"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        // Compiles, but fails on this result: exit 2.
        let e = query("abs(Users)", &users()).unwrap_err();
        assert_eq!(exit_code(&e), 2, "{e}");
    }

    #[test]
    fn an_empty_listing_is_one_line() {
        let none = |raw: Value| render_listing(&raw, &["A"], vec![], Some(80));
        assert_eq!(none(json!({"Clusters": []})), "No clusters");
        assert_eq!(none(json!({"KeyPairs": []})), "No key pairs");
        assert_eq!(none(json!({"Sessions": []})), "No sessions");
        assert_eq!(
            none(json!({"InstanceInformationList": []})),
            "No managed nodes"
        );
        assert_eq!(
            none(json!({"Events": [], "NextToken": null})),
            "No audit events"
        );
        assert_eq!(none(json!(null)), "No items");
    }

    #[test]
    fn tables_fit_the_width_and_keep_whole_rows_without_one() {
        let raw = json!({"Users": [{}]});
        let long = "arn:aws:iam::123456789012:user/a-rather-long-user-name-for-a-table".to_owned();
        let rows = vec![vec![
            long.clone(),
            "AIDAEXAMPLEEXAMPLE".into(),
            long.clone(),
            long,
        ]];
        let headers = ["Arn", "UserId", "Arn", "Arn"];
        let narrow = render_listing(&raw, &headers, rows.clone(), Some(80));
        for line in narrow.lines() {
            assert!(
                line.chars().count() <= 80,
                "{line:?} ({})",
                line.chars().count()
            );
        }
        let whole = render_listing(&raw, &headers, rows, None);
        assert_eq!(whole.lines().count(), 5, "{whole}");
        assert!(whole.lines().any(|l| l.chars().count() > 200), "{whole}");
    }

    #[test]
    fn bad_input_exits_2_and_failures_1() {
        let api = |code: &str| -> anyhow::Error {
            CallError::Api {
                code: code.into(),
                operation: "DescribeCluster".into(),
                message: "m".into(),
            }
            .into()
        };
        assert_eq!(exit_code(&api("ValidationError")), 2);
        assert_eq!(exit_code(&api("NotFoundException")), 1);
        assert_eq!(exit_code(&api("AccessDeniedException")), 1);
        assert_eq!(exit_code(&BadInput("x".into()).into()), 2);
        let name = airlock_config::v2::validate_cluster_name("bad_name").unwrap_err();
        assert_eq!(exit_code(&name.into()), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("failed")), 1);
    }
}
