//! YAML front end that reads documents the way PyYAML's `yaml.safe_load`
//! does (YAML 1.1 scalar resolution: `yes`/`on` are booleans, `0x1f` and
//! `1:30` are integers, `~` is null, merge keys `<<`), while keeping the
//! source span of every node so that diagnostics point at file:line:col.
//!
//! Syntax is scanned by `saphyr-parser`; this module composes its events
//! into a [`Node`] tree (see `compose`) and resolves scalars (see `resolve`).
//! `emit` writes YAML text back out, as PyYAML's dumper would.
//!
//! ```
//! use airlock_config::yaml::{parse, Value};
//! let doc = parse("Enabled: yes\nCount: 0x10\n").unwrap();
//! assert_eq!(doc.get("Enabled").map(|n| &n.value), Some(&Value::Bool(true)));
//! assert_eq!(doc.get("Count").map(|n| &n.value), Some(&Value::Int(16)));
//! ```

mod compose;
pub mod emit;
pub mod resolve;

pub use crate::span::Span;
pub use compose::{MAX_DEPTH, parse, parse_without_merge_keys};

use thiserror::Error;

/// One node of a YAML document with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

/// A constructed YAML value. Mapping keys keep their nodes (and spans);
/// mappings keep file order after merge keys are applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A YAML 1.1 timestamp (`2001-12-14`), kept as written.
    Timestamp(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// The YAML type name used in messages (`string`, `integer`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Timestamp(_) => "timestamp",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }

    /// Equality as data, ignoring spans; mappings compare as unordered
    /// (key order does not matter, as for Python dicts). NaN equals NaN.
    pub fn data_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.value.data_eq(&y.value))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| {
                        b.iter().any(|(k2, v2)| {
                            k.value.data_eq(&k2.value) && v.value.data_eq(&v2.value)
                        })
                    })
            }
            (a, b) => a == b,
        }
    }

    /// The text a scalar was resolved from, for messages; `None` for
    /// collections.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Null => Some("null".into()),
            Value::Bool(b) => Some(if *b { "true" } else { "false" }.into()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(emit::python_float_repr(*f)),
            Value::Str(s) | Value::Timestamp(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

impl Node {
    /// The value under string key `key` if this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this node is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to JSON (timestamps as strings, non-finite floats as null,
    /// non-string keys as their text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) | Value::Timestamp(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// What went wrong while reading YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// Not well-formed YAML (scanner or parser error).
    Syntax,
    /// A mapping repeats a key.
    DuplicateKey,
    /// A key that PyYAML cannot hash (a mapping or list used as a key).
    UnhashableKey,
    /// A tag PyYAML's safe loader has no constructor for.
    UnknownTag,
    /// A scalar that its (explicit) tag cannot construct, e.g. `!!int x`.
    BadScalar,
    /// `<<` whose value is not a mapping or a list of mappings.
    BadMerge,
    /// An alias to an anchor that is not defined (yet).
    UndefinedAlias,
    /// More than one document in the stream.
    MultipleDocuments,
    /// Nesting deeper than [`MAX_DEPTH`], or aliases expanding the document
    /// far beyond its size.
    TooLarge,
}

/// A YAML read failure with the span of the offending text and a hint.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct YamlError {
    pub kind: YamlErrorKind,
    pub message: String,
    pub span: Span,
    pub hint: Option<String>,
}
