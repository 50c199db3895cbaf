//! Reading one v2 section against its parameter table: interpolation, type
//! conversion, allowed values and unknown parameters, each problem reported
//! as a [`Diagnostic`] that points at the text.

use crate::diagnostic::{Diagnostic, Severity};
use crate::ini::{Entry, Ini, Span};
use crate::model::{Source, Sourced};

use super::schema::{Allowed, Kind, ParamDef};

/// Collects diagnostics for one file.
pub struct Sink<'a> {
    pub text: &'a str,
    pub file: &'a str,
    pub diags: Vec<Diagnostic>,
}

impl Sink<'_> {
    /// An error at `span`, labelled.
    pub fn error(
        &mut self,
        span: Option<Span>,
        message: String,
        label: &str,
        hint: Option<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, span, message, label, hint)
    }

    /// A warning at `span`, labelled.
    pub fn warn(
        &mut self,
        span: Option<Span>,
        message: String,
        label: &str,
        hint: Option<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, span, message, label, hint)
    }

    fn push(
        &mut self,
        severity: Severity,
        span: Option<Span>,
        message: String,
        label: &str,
        hint: Option<String>,
    ) -> &mut Diagnostic {
        let mut d = Diagnostic::new(severity, message, self.file);
        if let Some(s) = span {
            d = d.at(self.text, s, label);
        }
        d.hint = hint;
        self.diags.push(d);
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word: String = word.chars().take(128).collect();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A parameter value as written: interpolated text and where it is.
#[derive(Debug, Clone)]
pub struct Raw {
    pub text: String,
    pub key_span: Span,
    pub value_span: Span,
}

/// One section's parameters, read and checked.
pub struct Params {
    /// `[key label]` as written in the file.
    pub name: String,
    pub defs: Vec<&'static ParamDef>,
    pub raw: Vec<(&'static str, Raw)>,
    /// Keys whose value failed conversion (their default is used instead).
    pub invalid: Vec<&'static str>,
    /// Span of the section name, if the section is in the file.
    pub span: Option<Span>,
}

/// Python's `int()` on a stripped string: sign, digits, single underscores.
pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Python's `float()` on common spellings.
pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.contains('_') {
        return None;
    }
    t.parse::<f64>().ok()
}

/// configparser's `getboolean`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

fn describe(allowed: &Allowed) -> String {
    match allowed {
        Allowed::Any => String::new(),
        Allowed::OneOf(v) => format!("allowed values are: {}", v.join(", ")),
        Allowed::Str(_, d) | Allowed::Int(_, d) | Allowed::Float(_, d) => format!("expected {d}"),
    }
}

/// Read section `name` (which may be absent) against `defs`.
pub fn read(ini: &Ini, sink: &mut Sink<'_>, name: &str, defs: Vec<&'static ParamDef>) -> Params {
    let mut out = Params {
        name: name.to_string(),
        defs,
        raw: Vec::new(),
        invalid: Vec::new(),
        span: None,
    };
    let Some(section) = ini.section(name) else {
        return out;
    };
    out.span = Some(section.span);
    // configparser's items() includes [DEFAULT]'s keys, and so does
    // ParallelCluster's unknown-parameter check.
    for entry in ini.visible_entries(name) {
        let Some(def) = out.defs.iter().copied().find(|d| d.key == entry.key) else {
            unknown(sink, &out, entry);
            continue;
        };
        let text = match ini.interpolate(name, entry) {
            Ok(t) => t,
            Err(e) => {
                sink.error(
                    Some(e.span),
                    e.message.clone(),
                    "cannot interpolate",
                    Some(e.hint.to_string()),
                )
                .fatal = true;
                continue;
            }
        };
        let raw = Raw {
            text: text.trim().to_string(),
            key_span: entry.key_span,
            value_span: entry.value_span,
        };
        if !check_value(sink, def, &raw) {
            out.invalid.push(def.key);
        }
        out.raw.push((def.key, raw));
    }
    out
}

/// A JSON parameter (`tags`, `extra_json`, ...) as ParallelCluster 2.11
/// reads it: `yaml.safe_load` of the stripped text, so JSON and YAML flow
/// alike (`{Name: x}`, `{'a': 'b'}`); `NONE` or nothing is no value.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonParam {
    pub value: serde_json::Value,
    /// A mapping's keys in the order written.
    pub keys: Vec<String>,
}

/// Reads a JSON parameter; the error is the JSON parser's when the text
/// looks like JSON, else the YAML reader's.
pub fn json_param(text: &str) -> Result<JsonParam, String> {
    let text = text.trim();
    if text.is_empty() || text == "NONE" {
        return Ok(JsonParam {
            value: serde_json::Value::Null,
            keys: Vec::new(),
        });
    }
    let json_err = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => {
            let mut keys: Vec<String> = match &value {
                serde_json::Value::Object(m) => m.keys().cloned().collect(),
                _ => Vec::new(),
            };
            // serde_json's map is sorted; keep the file's order instead.
            keys.sort_by_key(|k| text.find(&format!("\"{k}\"")).unwrap_or(usize::MAX));
            return Ok(JsonParam { value, keys });
        }
        Err(e) => e,
    };
    match crate::yaml::parse(text) {
        Ok(node) => {
            let keys = match &node.value {
                crate::yaml::Value::Map(entries) => entries
                    .iter()
                    .filter_map(|(k, _)| k.value.scalar_text())
                    .collect(),
                _ => Vec::new(),
            };
            Ok(JsonParam {
                value: node.to_json(),
                keys,
            })
        }
        // Text written as JSON (double quotes only) is best explained by
        // the JSON parser; anything else by the YAML reader.
        Err(_) if text.contains('"') && !text.contains('\'') => Err(json_err.to_string()),
        Err(y) => Err(y.message),
    }
}

fn unknown(sink: &mut Sink<'_>, p: &Params, entry: &Entry) {
    let hint = match did_you_mean(&entry.key, p.defs.iter().map(|d| d.key)) {
        Some(s) => format!("did you mean '{s}'?"),
        None => {
            let names: Vec<&str> = p.defs.iter().map(|d| d.key).collect();
            format!("parameters allowed here: {}", names.join(", "))
        }
    };
    sink.error(
        Some(entry.key_span),
        format!(
            "The configuration parameter '{}' is not allowed in the [{}] section",
            entry.key, p.name
        ),
        "unknown parameter",
        Some(hint),
    );
}

/// Type and allowed-value checks; false if the value cannot be used.
fn check_value(sink: &mut Sink<'_>, def: &ParamDef, raw: &Raw) -> bool {
    let span = Some(raw.value_span);
    let v = raw.text.as_str();
    let type_error = |sink: &mut Sink<'_>, what: &str, hint: &str| {
        sink.error(
            span,
            format!("Configuration parameter '{}' must be {what}", def.key),
            "wrong type",
            Some(hint.to_string()),
        );
        false
    };
    let ok = match def.kind {
        Kind::Int => match parse_int(v) {
            None => return type_error(sink, "an Integer", "write a whole number, e.g. 10"),
            Some(n) => match def.allowed {
                Allowed::Int(f, _) => f(n),
                _ => true,
            },
        },
        Kind::Float => match parse_float(v) {
            None => return type_error(sink, "a Float", "write a number, e.g. 0.5"),
            Some(x) => match def.allowed {
                Allowed::Float(f, _) => f(x),
                _ => true,
            },
        },
        Kind::Bool => {
            if parse_bool(v).is_none() {
                return type_error(sink, "a Boolean", "use true or false");
            }
            true
        }
        Kind::Json => {
            if let Err(e) = json_param(v) {
                sink.error(
                    span,
                    format!("Error parsing JSON parameter '{}'. {e}", def.key),
                    "invalid JSON",
                    Some("write a JSON object, e.g. { \"key\" : \"value\" }".into()),
                );
                return false;
            }
            true
        }
        Kind::Str | Kind::List | Kind::Settings { .. } => match def.allowed {
            Allowed::OneOf(list) => list.contains(&v),
            Allowed::Str(f, _) => f(v),
            _ => true,
        },
    };
    if !ok {
        let mut hint = describe(&def.allowed);
        if let Allowed::OneOf(list) = def.allowed
            && let Some(s) = did_you_mean(v, list.iter().copied())
        {
            hint = format!("did you mean '{s}'? {hint}");
        }
        sink.error(
            span,
            format!(
                "The configuration parameter '{}' has an invalid value '{}'",
                def.key, v
            ),
            "invalid value",
            Some(hint),
        );
    }
    ok
}

impl Params {
    /// The value as written, if it was and is usable.
    pub fn raw(&self, key: &str) -> Option<&Raw> {
        if self.invalid.contains(&key) {
            return None;
        }
        self.raw.iter().find(|(k, _)| *k == key).map(|(_, r)| r)
    }

    /// Whether the file sets `key` (even to an unusable value).
    pub fn is_set(&self, key: &str) -> bool {
        self.raw.iter().any(|(k, _)| *k == key)
    }

    fn default_of(&self, key: &str) -> Option<&'static str> {
        self.defs
            .iter()
            .find(|d| d.key == key)
            .and_then(|d| d.default)
    }

    /// Text value or default. A written `NONE` means "not set", as in ParallelCluster.
    pub fn str(&self, key: &str) -> Option<Sourced<String>> {
        match self.raw(key) {
            Some(r) if !r.text.is_empty() && r.text != "NONE" => {
                Some(Sourced::file(r.text.clone(), r.value_span))
            }
            _ => self
                .default_of(key)
                .map(|d| Sourced::default(d.to_string())),
        }
    }

    /// A value parsed by `parse`, from the file or else the default.
    fn typed<T>(&self, key: &str, parse: fn(&str) -> Option<T>) -> Option<Sourced<T>> {
        match self
            .raw(key)
            .and_then(|r| parse(&r.text).map(|v| (v, r.value_span)))
        {
            Some((v, s)) => Some(Sourced::file(v, s)),
            None => self.default_of(key).and_then(parse).map(Sourced::default),
        }
    }

    pub fn int(&self, key: &str) -> Option<Sourced<i64>> {
        self.typed(key, parse_int)
    }

    pub fn float(&self, key: &str) -> Option<Sourced<f64>> {
        self.typed(key, parse_float)
    }

    pub fn bool(&self, key: &str) -> Option<Sourced<bool>> {
        self.typed(key, parse_bool)
    }

    /// Where `key`'s value is, if written.
    pub fn span(&self, key: &str) -> Option<Span> {
        self.raw
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r.value_span)
    }

    /// Every parameter with a value (written or default), in table order.
    pub fn all_text(&self) -> Vec<(&'static str, Sourced<String>)> {
        self.defs
            .iter()
            .filter_map(|d| self.str(d.key).map(|v| (d.key, v)))
            .collect()
    }

    /// Provenance of the section itself.
    pub fn source(&self) -> Source {
        self.span.map_or(Source::Default, Source::File)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_parse_like_python() {
        assert_eq!(parse_int(" 1_000 "), Some(1000));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("1.0"), None);
        assert_eq!(parse_int("_1"), None);
    }

    #[test]
    fn booleans_follow_configparser() {
        assert_eq!(parse_bool("On"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("y"), None);
    }

    #[test]
    fn typo_suggestions_need_a_close_match() {
        assert_eq!(
            did_you_mean("schedular_typo", ["scheduler", "base_os", "key_name"]),
            Some("scheduler")
        );
        assert_eq!(did_you_mean("zzz", ["scheduler", "base_os"]), None);
    }
}
