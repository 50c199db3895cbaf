//! Composes `saphyr-parser` events into a [`Node`] tree the way PyYAML's
//! composer and `SafeConstructor` build Python objects: anchors and
//! aliases, explicit tags, merge keys (`<<`), one document per stream.
//! Iterative (no recursion on input depth) and linear: nesting is capped at
//! [`MAX_DEPTH`] and alias expansion at a budget proportional to the input.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as PSpan, Tag};

use super::resolve::{self, no_constructor};
use super::{Node, Span, Value, YamlError, YamlErrorKind};

/// Deepest nesting of lists and mappings accepted.
pub const MAX_DEPTH: usize = 256;

const CORE: &str = "tag:yaml.org,2002:";

/// Parses one YAML document (an empty stream is a null node).
pub fn parse(text: &str) -> Result<Node, YamlError> {
    Composer::new(text).run()
}

/// Parses as [`parse`] does, but refuses merge keys (`<<: *anchor`) as
/// ParallelCluster 3's loader does: its duplicate-key mapping constructor
/// constructs every key, and the safe loader has no constructor for
/// `tag:yaml.org,2002:merge`.
pub fn parse_without_merge_keys(text: &str) -> Result<Node, YamlError> {
    let mut c = Composer::new(text);
    c.refuse_merge = true;
    c.run()
}

/// A mapping key reduced to what Python's dict hashing compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyRepr {
    Null,
    Int(i64),
    Float(u64),
    Str(String),
    Timestamp(String),
}

fn key_repr(v: &Value) -> Option<KeyRepr> {
    Some(match v {
        Value::Null => KeyRepr::Null,
        // Python: True == 1, 2.0 == 2.
        Value::Bool(b) => KeyRepr::Int(i64::from(*b)),
        Value::Int(i) => KeyRepr::Int(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => KeyRepr::Int(*f as i64),
        Value::Float(f) => KeyRepr::Float(f.to_bits()),
        Value::Str(s) => KeyRepr::Str(s.clone()),
        Value::Timestamp(s) => KeyRepr::Timestamp(s.clone()),
        Value::Seq(_) | Value::Map(_) => return None,
    })
}

enum Kind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        /// Values of `<<` keys, in order.
        merges: Vec<Node>,
        seen: HashMap<KeyRepr, Span>,
    },
}

struct Frame {
    kind: Kind,
    start: Span,
    anchor: usize,
    weight: usize,
}

struct Composer<'a> {
    text: &'a str,
    /// Byte offset of each char index (plus one past the end).
    offsets: Vec<usize>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    budget: usize,
    root: Option<Node>,
    docs: usize,
    /// Refuse `<<` keys instead of merging (see [`parse_without_merge_keys`]).
    refuse_merge: bool,
}

fn err(
    kind: YamlErrorKind,
    message: impl Into<String>,
    span: Span,
    hint: Option<&str>,
) -> YamlError {
    YamlError {
        kind,
        message: message.into(),
        span,
        hint: hint.map(str::to_string),
    }
}

fn full_tag(t: &Tag) -> String {
    format!("{}{}", t.handle, t.suffix)
}

impl<'a> Composer<'a> {
    fn new(text: &'a str) -> Self {
        let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        offsets.push(text.len());
        Composer {
            text,
            offsets,
            stack: Vec::new(),
            anchors: HashMap::new(),
            budget: text.len().saturating_mul(16).saturating_add(65_536),
            root: None,
            docs: 0,
            refuse_merge: false,
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        self.offsets
            .get(char_index)
            .copied()
            .unwrap_or(self.text.len())
    }

    fn span(&self, s: PSpan) -> Span {
        let start = self.byte(s.start.index());
        let end = self.byte(s.end.index()).max(start);
        Span::new(
            u32::try_from(s.start.line()).unwrap_or(u32::MAX),
            u32::try_from(s.start.col().saturating_add(1)).unwrap_or(u32::MAX),
            start,
            end - start,
        )
    }

    fn run(mut self) -> Result<Node, YamlError> {
        let mut parser = Parser::new_from_str(self.text);
        loop {
            let (ev, pspan) = match parser.next_event() {
                None => break,
                Some(Ok(x)) => x,
                Some(Err(e)) => {
                    let m = e.marker();
                    let span = self.span(PSpan::new(*m, *m));
                    return Err(err(
                        YamlErrorKind::Syntax,
                        format!("invalid YAML: {}", e.info()),
                        span,
                        Some("check the indentation, quoting and `key: value` form on this line"),
                    ));
                }
            };
            let span = self.span(pspan);
            match ev {
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    self.docs += 1;
                    if self.docs > 1 {
                        return Err(err(
                            YamlErrorKind::MultipleDocuments,
                            "expected a single document in the stream, but found another document",
                            span,
                            Some(
                                "a cluster configuration is one YAML document; remove the extra `---`",
                            ),
                        ));
                    }
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let value = self.scalar(&text, style, tag.as_deref(), span)?;
                    self.finish(Node { value, span }, anchor, text.len() + 1)?;
                }
                Event::Alias(id) => {
                    let Some((node, weight)) = self.anchors.get(&id) else {
                        return Err(err(
                            YamlErrorKind::UndefinedAlias,
                            "found undefined alias",
                            span,
                            Some("define the anchor (`&name`) before the alias (`*name`) uses it"),
                        ));
                    };
                    let weight = *weight;
                    if weight > self.budget {
                        return Err(too_large(span));
                    }
                    self.budget -= weight;
                    let mut node = node.clone();
                    node.span = span;
                    self.finish(node, 0, weight)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    self.check_collection_tag(tag.as_deref(), "seq", span)?;
                    self.push(Kind::Seq(Vec::new()), span, anchor)?;
                }
                Event::MappingStart(anchor, tag) => {
                    self.check_collection_tag(tag.as_deref(), "map", span)?;
                    let kind = Kind::Map {
                        entries: Vec::new(),
                        key: None,
                        merges: Vec::new(),
                        seen: HashMap::new(),
                    };
                    self.push(kind, span, anchor)?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = self.stack.pop() else {
                        continue;
                    };
                    let full = Span::new(
                        frame.start.line,
                        frame.start.col,
                        frame.start.offset,
                        span.end().saturating_sub(frame.start.offset),
                    );
                    let value = match frame.kind {
                        Kind::Seq(items) => Value::Seq(items),
                        Kind::Map {
                            entries, merges, ..
                        } => Value::Map(merge(entries, merges)?),
                    };
                    self.finish(Node { value, span: full }, frame.anchor, frame.weight + 1)?;
                }
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            }
        }
        Ok(self.root.unwrap_or(Node {
            value: Value::Null,
            span: Span::new(1, 1, 0, 0),
        }))
    }

    fn push(&mut self, kind: Kind, start: Span, anchor: usize) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(err(
                YamlErrorKind::TooLarge,
                format!("the document is nested more than {MAX_DEPTH} levels deep"),
                start,
                None,
            ));
        }
        self.stack.push(Frame {
            kind,
            start,
            anchor,
            weight: 0,
        });
        Ok(())
    }

    fn check_collection_tag(
        &self,
        tag: Option<&Tag>,
        want: &str,
        span: Span,
    ) -> Result<(), YamlError> {
        let Some(tag) = tag else { return Ok(()) };
        let full = full_tag(tag);
        if full == "!" || full == format!("{CORE}{want}") {
            return Ok(());
        }
        let known_scalar = ["str", "int", "float", "bool", "null", "timestamp", "binary"]
            .iter()
            .any(|s| full == format!("{CORE}{s}"));
        let what = if want == "seq" { "sequence" } else { "mapping" };
        if known_scalar {
            return Err(err(
                YamlErrorKind::BadScalar,
                format!("expected a scalar node for tag '{full}', but found a {what}"),
                span,
                None,
            ));
        }
        Err(err(
            YamlErrorKind::UnknownTag,
            no_constructor(&full),
            span,
            Some("remove the tag; the configuration uses plain YAML values"),
        ))
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        span: Span,
    ) -> Result<Value, YamlError> {
        let bad = |m: String| err(YamlErrorKind::BadScalar, m, span, None);
        let Some(tag) = tag else {
            if style != ScalarStyle::Plain {
                return Ok(Value::Str(text.to_string()));
            }
            return match resolve::resolve_plain(text) {
                // A `<<` key is handled by the mapping; as a value it has
                // no constructor, like `=`.
                resolve::Implicit::Merge => Ok(Value::Str("<<".into())),
                resolve::Implicit::ValueTag => Err(err(
                    YamlErrorKind::UnknownTag,
                    no_constructor("tag:yaml.org,2002:value"),
                    span,
                    Some("quote it: '='"),
                )),
                _ => resolve::construct_plain(text).map_err(bad),
            };
        };
        let full = full_tag(tag);
        let Some(short) = full.strip_prefix(CORE) else {
            if full == "!" {
                return Ok(Value::Str(text.to_string()));
            }
            return Err(err(
                YamlErrorKind::UnknownTag,
                no_constructor(&full),
                span,
                Some("remove the tag; the configuration uses plain YAML values"),
            ));
        };
        match short {
            "str" => Ok(Value::Str(text.to_string())),
            "null" => Ok(Value::Null),
            "bool" => resolve::construct_bool(text).map_err(bad),
            "int" => resolve::construct_int(text).map_err(bad),
            "float" => resolve::construct_float(text).map_err(bad),
            "timestamp" if resolve::is_timestamp(text) => Ok(Value::Timestamp(text.to_string())),
            "timestamp" => Err(bad(format!("'{text}' is not a timestamp"))),
            "seq" | "map" | "omap" | "pairs" | "set" => Err(bad(format!(
                "expected a {} node for tag '{full}', but found a scalar",
                if short == "seq" {
                    "sequence"
                } else {
                    "mapping"
                }
            ))),
            _ => Err(err(
                YamlErrorKind::UnknownTag,
                no_constructor(&full),
                span,
                Some("remove the tag; the configuration uses plain YAML values"),
            )),
        }
    }

    /// Attaches a finished node to its parent (or makes it the root) and
    /// records its anchor.
    fn finish(&mut self, node: Node, anchor: usize, weight: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        let Some(top) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        top.weight = top.weight.saturating_add(weight);
        match &mut top.kind {
            Kind::Seq(items) => items.push(node),
            Kind::Map {
                entries,
                key,
                merges,
                seen,
            } => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if is_merge_key(self.text, &k) {
                        if self.refuse_merge {
                            return Err(err(
                                YamlErrorKind::UnknownTag,
                                "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'",
                                k.span,
                                Some(
                                    "ParallelCluster 3 does not read YAML merge keys (`<<`); write the merged keys out in full",
                                ),
                            ));
                        }
                        merges.push(node);
                        return Ok(());
                    }
                    let Some(repr) = key_repr(&k.value) else {
                        return Err(err(
                            YamlErrorKind::UnhashableKey,
                            format!(
                                "found unhashable key: a {} cannot be a mapping key",
                                k.value.type_name()
                            ),
                            k.span,
                            Some("mapping keys must be plain values such as names"),
                        ));
                    };
                    let is_nan = matches!(k.value, Value::Float(f) if f.is_nan());
                    if !is_nan {
                        if let Some(first) = seen.get(&repr) {
                            let shown = k.value.scalar_text().unwrap_or_default();
                            return Err(err(
                                YamlErrorKind::DuplicateKey,
                                format!("duplicate key '{shown}' in mapping"),
                                k.span,
                                Some(&format!(
                                    "'{shown}' is already set at line {}, column {}; remove one of them",
                                    first.line, first.col
                                )),
                            ));
                        }
                        seen.insert(repr, k.span);
                    }
                    entries.push((k, node));
                }
            },
        }
        Ok(())
    }
}

fn too_large(span: Span) -> YamlError {
    err(
        YamlErrorKind::TooLarge,
        "aliases expand the document far beyond its size",
        span,
        Some("use fewer aliases (`*name`) of large anchored nodes"),
    )
}

/// A key written as plain `<<` (or tagged `!!merge`) is a merge key.
fn is_merge_key(text: &str, k: &Node) -> bool {
    matches!(&k.value, Value::Str(s) if s == "<<")
        && text.get(k.span.offset..k.span.end()) == Some("<<")
}

/// PyYAML's `flatten_mapping`: merged entries first (earlier mappings in a
/// `<<` list win), then the mapping's own keys, which override them.
fn merge(own: Vec<(Node, Node)>, merges: Vec<Node>) -> Result<Vec<(Node, Node)>, YamlError> {
    if merges.is_empty() {
        return Ok(own);
    }
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for m in merges {
        let span = m.span;
        match m.value {
            Value::Map(entries) => merged.extend(entries),
            Value::Seq(items) => {
                let mut groups = Vec::new();
                for item in items {
                    match item.value {
                        Value::Map(entries) => groups.push(entries),
                        other => {
                            return Err(merge_error(other.type_name(), item.span));
                        }
                    }
                }
                for g in groups.into_iter().rev() {
                    merged.extend(g);
                }
            }
            other => return Err(merge_error(other.type_name(), span)),
        }
    }
    let mut out: Vec<(Node, Node)> = Vec::new();
    let mut index: HashMap<KeyRepr, usize> = HashMap::new();
    for (k, v) in merged.into_iter().chain(own) {
        match key_repr(&k.value) {
            Some(r) => match index.get(&r) {
                Some(&i) => {
                    if let Some(slot) = out.get_mut(i) {
                        slot.1 = v;
                    }
                }
                None => {
                    index.insert(r, out.len());
                    out.push((k, v));
                }
            },
            None => out.push((k, v)),
        }
    }
    Ok(out)
}

fn merge_error(found: &str, span: Span) -> YamlError {
    err(
        YamlErrorKind::BadMerge,
        format!("expected a mapping or list of mappings for merging, but found a {found}"),
        span,
        Some("`<<` takes an alias of a mapping, e.g. `<<: *defaults`"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(text: &str) -> Value {
        parse(text)
            .map(|n| n.value)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn mapping_keeps_order_and_spans() {
        let n = parse("a: 1\nbb: yes\n").unwrap();
        let Value::Map(entries) = &n.value else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 2);
        let (k, v) = &entries[1];
        assert_eq!(k.value, Value::Str("bb".into()));
        assert_eq!((k.span.line, k.span.col), (2, 1));
        assert_eq!(v.value, Value::Bool(true));
        assert_eq!(
            (v.span.line, v.span.col, v.span.offset, v.span.len),
            (2, 5, 9, 3)
        );
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        assert_eq!(val("'yes'"), Value::Str("yes".into()));
        assert_eq!(val("\"1:00:00\""), Value::Str("1:00:00".into()));
        assert_eq!(val("! 12"), Value::Str("12".into()));
    }

    #[test]
    fn duplicate_key_is_an_error_pointing_at_the_second() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::DuplicateKey);
        assert_eq!((e.span.line, e.span.col), (3, 1));
        assert!(e.hint.unwrap().contains("line 1, column 1"));
    }

    #[test]
    fn true_and_one_are_the_same_key_as_in_python() {
        assert_eq!(
            parse("1: a\ntrue: b\n").unwrap_err().kind,
            YamlErrorKind::DuplicateKey
        );
    }

    #[test]
    fn merge_keys_apply_with_own_keys_winning() {
        let n = parse("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n").unwrap();
        let d = n.get("d").unwrap();
        assert_eq!(d.get("x").unwrap().value, Value::Int(1));
        assert_eq!(d.get("y").unwrap().value, Value::Int(3));
        let q = parse("d:\n  '<<': 1\n").unwrap();
        assert_eq!(q.get("d").unwrap().get("<<").unwrap().value, Value::Int(1));
    }

    #[test]
    fn merge_of_a_scalar_is_an_error() {
        assert_eq!(
            parse("a:\n  <<: 3\n").unwrap_err().kind,
            YamlErrorKind::BadMerge
        );
    }

    #[test]
    fn explicit_tags_construct_or_fail() {
        assert_eq!(val("!!str 12"), Value::Str("12".into()));
        assert_eq!(val("!!int '12'"), Value::Int(12));
        assert_eq!(val("!!float 1"), Value::Float(1.0));
        assert_eq!(parse("!!int x").unwrap_err().kind, YamlErrorKind::BadScalar);
        assert_eq!(parse("!foo x").unwrap_err().kind, YamlErrorKind::UnknownTag);
        assert_eq!(parse("a: =").unwrap_err().kind, YamlErrorKind::UnknownTag);
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            s.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        assert_eq!(parse(&s).unwrap_err().kind, YamlErrorKind::TooLarge);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let s = "[".repeat(100_000);
        assert!(parse(&s).is_err());
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let e = parse("a: 1\n b: 2\n").unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::Syntax);
        assert_eq!(e.span.line, 2);
    }

    #[test]
    fn second_document_is_an_error_and_empty_is_null() {
        assert_eq!(
            parse("a\n---\nb\n").unwrap_err().kind,
            YamlErrorKind::MultipleDocuments
        );
        assert_eq!(val(""), Value::Null);
    }

    #[test]
    fn multibyte_text_gets_byte_offsets_and_char_columns() {
        let n = parse("k: 日本\nx: y\n").unwrap();
        let x = n.get("x").unwrap();
        assert_eq!((x.span.line, x.span.col, x.span.offset), (2, 4, 13));
    }
}
