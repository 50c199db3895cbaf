//! The line-by-line reader, a transcription of `RawConfigParser._read` with
//! `inline_comment_prefixes=("#", ";")`, `strict=True`,
//! `empty_lines_in_values=True` and `allow_no_value=False`.
//! Lines end at `\n`, `\r\n` or `\r`, as Python's text files see them.

use std::collections::HashSet;

use super::pystr::{is_space, lower, rstrip, strip};
use super::{DEFAULT_SECTION, Entry, Ini, IniError, IniErrorKind, Section, Span};

const COMMENT_PREFIXES: [char; 2] = ['#', ';'];

/// Parse INI text the way `ConfigParser.read_string` does (after universal
/// newline translation).
pub fn parse(text: &str) -> Result<Ini, IniError> {
    let mut r = Reader::new(text);
    let mut lineno: u32 = 0;
    let mut start = 0usize;
    let bytes = text.as_bytes();
    while start < bytes.len() {
        lineno = lineno.saturating_add(1);
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'\n' && bytes[end] != b'\r' {
            end += 1;
        }
        let content = &text[start..end];
        r.line(lineno, start, content)?;
        let mut next = end;
        if next < bytes.len() {
            if bytes[next] == b'\r' && bytes.get(next + 1) == Some(&b'\n') {
                next += 2;
            } else {
                next += 1;
            }
        }
        start = next;
    }
    r.finish()
}

/// A value being accumulated: one part per physical line.
struct Pending {
    key: String,
    key_span: Span,
    parts: Vec<(String, Span)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cur {
    Defaults,
    Section(usize),
}

struct Reader<'a> {
    text: &'a str,
    sections: Vec<(String, Span, Vec<Pending>)>,
    defaults: Vec<Pending>,
    added_sections: HashSet<String>,
    added_options: HashSet<(String, String)>,
    cur: Option<Cur>,
    /// Index of the current option in `cur`'s entries, if its name is non-empty
    /// (configparser's truthy `optname`).
    opt: Option<usize>,
    indent_level: usize,
    bad_lines: Vec<Span>,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            text,
            sections: Vec::new(),
            defaults: Vec::new(),
            added_sections: HashSet::new(),
            added_options: HashSet::new(),
            cur: None,
            opt: None,
            indent_level: 0,
            bad_lines: Vec::new(),
        }
    }

    /// Span of `sub`, a subslice of `line` which starts at byte `line_start`.
    fn span(&self, lineno: u32, line_start: usize, line: &str, sub_off: usize, len: usize) -> Span {
        let col = line.get(..sub_off).map_or(0, |p| p.chars().count());
        let col = u32::try_from(col).unwrap_or(u32::MAX).saturating_add(1);
        Span::new(lineno, col, line_start + sub_off, len)
    }

    fn entries_mut(&mut self, cur: Cur) -> Option<&mut Vec<Pending>> {
        match cur {
            Cur::Defaults => Some(&mut self.defaults),
            Cur::Section(i) => self.sections.get_mut(i).map(|s| &mut s.2),
        }
    }

    fn cur_name(&self) -> String {
        match self.cur {
            Some(Cur::Section(i)) => self
                .sections
                .get(i)
                .map(|s| s.0.clone())
                .unwrap_or_default(),
            _ => DEFAULT_SECTION.to_string(),
        }
    }

    fn line(&mut self, lineno: u32, line_start: usize, line: &str) -> Result<(), IniError> {
        let comment_start = comment_start(line);
        let before = &line[..comment_start.unwrap_or(line.len())];
        let value = strip(before);
        let value_off = before.len() - before.trim_start_matches(is_space).len();
        if value.is_empty() {
            // An empty line belongs to the current value, unless it held a comment.
            if comment_start.is_none()
                && let (Some(cur), Some(opt)) = (self.cur, self.opt)
            {
                let span = self.span(lineno, line_start, line, 0, 0);
                if let Some(p) = self.entries_mut(cur).and_then(|e| e.get_mut(opt)) {
                    p.parts.push((String::new(), span));
                }
            }
            return Ok(());
        }
        let cur_indent = line.chars().take_while(|c| is_space(*c)).count();
        let vspan = self.span(lineno, line_start, line, value_off, value.len());
        if let (Some(cur), Some(opt)) = (self.cur, self.opt)
            && cur_indent > self.indent_level
        {
            if let Some(p) = self.entries_mut(cur).and_then(|e| e.get_mut(opt)) {
                p.parts.push((value.to_string(), vspan));
            }
            return Ok(());
        }
        self.indent_level = cur_indent;
        if let Some(header) = section_header(value) {
            let hspan = self.span(lineno, line_start, line, value_off + 1, header.len());
            self.header(header, hspan)?;
            return Ok(());
        }
        let Some(cur) = self.cur else {
            return Err(IniError {
                kind: IniErrorKind::MissingSectionHeader,
                span: vspan,
                message: format!(
                    "File contains no section headers: line {lineno} comes before any [section]"
                ),
                hint: Some("start the file with a section header such as [global]".into()),
                other_spans: Vec::new(),
            });
        };
        let Some(d) = value.find(['=', ':']) else {
            self.bad_lines.push(vspan);
            return Ok(());
        };
        let raw_key = rstrip(&value[..d]);
        if raw_key.is_empty() {
            self.bad_lines.push(vspan);
        }
        let key = lower(raw_key);
        let sect = self.cur_name();
        let key_span = self.span(lineno, line_start, line, value_off, raw_key.len());
        if !self.added_options.insert((sect.clone(), key.clone())) {
            return Err(IniError {
                kind: IniErrorKind::DuplicateOption,
                span: key_span,
                message: format!("option '{key}' in section '{sect}' already exists"),
                hint: Some("remove or rename one of the two; keys are case-insensitive".into()),
                other_spans: Vec::new(),
            });
        }
        let after = &value[d + 1..];
        let val = strip(after);
        let val_off = value_off + d + 1 + (after.len() - after.trim_start_matches(is_space).len());
        let val_span = self.span(lineno, line_start, line, val_off, val.len());
        let pending = Pending {
            key: key.clone(),
            key_span,
            parts: vec![(val.to_string(), val_span)],
        };
        let Some(entries) = self.entries_mut(cur) else {
            return Ok(());
        };
        let idx = entries.len();
        entries.push(pending);
        self.opt = if key.is_empty() { None } else { Some(idx) };
        Ok(())
    }

    fn header(&mut self, name: &str, span: Span) -> Result<(), IniError> {
        if name == DEFAULT_SECTION {
            self.cur = Some(Cur::Defaults);
        } else {
            if !self.added_sections.insert(name.to_string()) {
                return Err(IniError {
                    kind: IniErrorKind::DuplicateSection,
                    span,
                    message: format!("section '{name}' already exists"),
                    hint: Some(
                        "merge the two sections or rename one; section names are case-sensitive"
                            .into(),
                    ),
                    other_spans: Vec::new(),
                });
            }
            self.sections.push((name.to_string(), span, Vec::new()));
            self.cur = Some(Cur::Section(self.sections.len() - 1));
        }
        self.opt = None;
        Ok(())
    }

    fn finish(self) -> Result<Ini, IniError> {
        if let Some((first, rest)) = self.bad_lines.split_first() {
            let text = self.text.get(first.offset..first.end()).unwrap_or_default();
            return Err(IniError {
                kind: IniErrorKind::Parsing,
                span: *first,
                message: format!("Source contains parsing errors: line {}: '{}'", first.line, text),
                hint: Some("each line must be `key = value`, a [section] header, a comment, or an indented continuation".into()),
                other_spans: rest.to_vec(),
            });
        }
        let sections: Vec<Section> = self
            .sections
            .into_iter()
            .map(|(name, span, entries)| Section {
                name,
                span,
                entries: entries.into_iter().map(join).collect(),
            })
            .collect();
        let defaults: Vec<Entry> = self.defaults.into_iter().map(join).collect();
        Ok(Ini {
            index: super::Index::build(&sections, &defaults),
            sections,
            defaults,
            interp_budget: self.text.len().saturating_mul(16).saturating_add(4096),
        })
    }
}

/// `'\n'.join(parts).rstrip()` with a span from the first part to the end of
/// the last non-empty one.
fn join(p: Pending) -> Entry {
    let mut raw = String::new();
    for (i, (s, _)) in p.parts.iter().enumerate() {
        if i > 0 {
            raw.push('\n');
        }
        raw.push_str(s);
    }
    let raw_value = rstrip(&raw).to_string();
    let first = p.parts.first().map(|x| x.1).unwrap_or(p.key_span);
    let last_end = p
        .parts
        .iter()
        .rev()
        .find(|(s, _)| !s.is_empty())
        .map_or(first.offset, |(_, sp)| sp.end());
    let value_span = Span::new(
        first.line,
        first.col,
        first.offset,
        last_end.saturating_sub(first.offset),
    );
    Entry {
        key: p.key,
        raw_value,
        key_span: p.key_span,
        value_span,
    }
}

/// `SECTCRE.match(value)`: `\[(?P<header>.+)\]` anchored at the start only, so
/// the header runs to the last `]` and anything after it is ignored.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    if close == 0 { None } else { rest.get(..close) }
}

/// Byte index where a comment starts, replicating configparser's scan: each
/// round advances every prefix to its next occurrence and stops at the first
/// round in which some occurrence is at column 0 or follows whitespace; then a
/// whole-line comment (after leading whitespace) overrides.
fn comment_start(line: &str) -> Option<usize> {
    if strip(line).starts_with(COMMENT_PREFIXES) {
        return Some(0);
    }
    let mut found: Option<usize> = None;
    let mut idx: [Option<usize>; 2] = [Some(0), Some(0)];
    let mut first_round = true;
    while found.is_none() && idx.iter().any(Option::is_some) {
        for (k, prefix) in COMMENT_PREFIXES.iter().enumerate() {
            let Some(from) = idx[k] else { continue };
            let from = if first_round { 0 } else { from + 1 };
            let pos = line
                .get(from..)
                .and_then(|s| s.find(*prefix))
                .map(|p| p + from);
            idx[k] = pos;
            if let Some(pos) = pos {
                let after_space = line[..pos].chars().next_back().is_some_and(is_space);
                if pos == 0 || after_space {
                    found = Some(found.map_or(pos, |f| f.min(pos)));
                }
            }
        }
        first_round = false;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Ini {
        match parse(text) {
            Ok(i) => i,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    fn err(text: &str) -> IniError {
        match parse(text) {
            Ok(i) => panic!("expected an error, got {i:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn inline_comment_needs_whitespace_before_prefix() {
        let ini = ok("[s]\na = x;y # c\nb = u#v\n");
        assert_eq!(ini.section("s").and_then(|s| s.get_raw("a")), Some("x;y"));
        assert_eq!(ini.section("s").and_then(|s| s.get_raw("b")), Some("u#v"));
    }

    #[test]
    fn comment_scan_stops_at_first_round_with_a_hit_like_python() {
        // ';' first occurs unpreceded by space; '#' qualifies in round one,
        // so the later-round ' ;z' is never considered.
        let ini = ok("[s]\na = x;y ;z #c\n");
        assert_eq!(
            ini.section("s").and_then(|s| s.get_raw("a")),
            Some("x;y ;z")
        );
    }

    #[test]
    fn keys_are_lowercased_and_sections_case_sensitive() {
        let ini = ok("[S]\nKey = 1\n[s]\nkey = 2\n");
        assert_eq!(ini.sections.len(), 2);
        assert_eq!(ini.section("S").and_then(|s| s.get_raw("KEY")), Some("1"));
    }

    #[test]
    fn continuation_lines_and_blank_lines_join_with_newlines() {
        let ini = ok("[s]\na = one\n  two\n\n  three\n\nb = 2\n");
        assert_eq!(
            ini.section("s").and_then(|s| s.get_raw("a")),
            Some("one\ntwo\n\nthree")
        );
        assert_eq!(ini.section("s").and_then(|s| s.get_raw("b")), Some("2"));
    }

    #[test]
    fn header_runs_to_last_bracket_and_ignores_trailing_text() {
        let ini = ok("[a]b] trailing\nk=v\n");
        assert_eq!(ini.sections[0].name, "a]b");
    }

    #[test]
    fn duplicate_section_is_an_error_but_repeated_default_is_not() {
        assert_eq!(err("[a]\n[a]\n").kind, IniErrorKind::DuplicateSection);
        let ini = ok("[DEFAULT]\nx=1\n[DEFAULT]\ny=2\n");
        assert_eq!(ini.defaults.len(), 2);
        assert_eq!(
            err("[DEFAULT]\nx=1\n[DEFAULT]\nX=2\n").kind,
            IniErrorKind::DuplicateOption
        );
    }

    #[test]
    fn duplicate_option_points_at_second_key() {
        // an indented line is a continuation, not a duplicate
        let ini = ok("[s]\na = 1\n  A = 2\n");
        assert_eq!(
            ini.section("s").and_then(|s| s.get_raw("a")),
            Some("1\nA = 2")
        );
        let e = err("[s]\na = 1\nA = 2\n");
        assert_eq!(e.kind, IniErrorKind::DuplicateOption);
        assert_eq!((e.span.line, e.span.col, e.span.len), (3, 1, 1));
        assert_eq!(e.message, "option 'a' in section 's' already exists");
    }

    #[test]
    fn option_before_any_section_is_missing_header() {
        let e = err("# c\nk = v\n");
        assert_eq!(e.kind, IniErrorKind::MissingSectionHeader);
        assert_eq!(e.span.line, 2);
    }

    #[test]
    fn line_without_delimiter_is_a_parsing_error_reported_at_end() {
        let e = err("[s]\njunk\n= empty key\n");
        assert_eq!(e.kind, IniErrorKind::Parsing);
        assert_eq!(e.span.line, 2);
        assert_eq!(e.other_spans.len(), 1);
    }

    #[test]
    fn spans_count_columns_in_characters() {
        let ini = ok("[s]\n  é = ünï # c\n");
        let e = &ini.sections[0].entries[0];
        assert_eq!((e.key_span.line, e.key_span.col, e.key_span.len), (2, 3, 2));
        assert_eq!(
            (e.value_span.col, e.value_span.offset, e.value_span.len),
            (7, 11, 5)
        );
        assert_eq!(ini.sections[0].span, Span::new(1, 2, 1, 1));
    }

    #[test]
    fn crlf_and_lone_cr_end_lines() {
        let ini = ok("[s]\r\na = 1\rb = 2\r\n");
        assert_eq!(ini.section("s").and_then(|s| s.get_raw("b")), Some("2"));
        assert_eq!(ini.sections[0].entries[1].key_span.line, 3);
    }

    #[test]
    fn first_delimiter_splits_key_from_value() {
        let ini = ok("[s]\nurl : http://x=y\n");
        assert_eq!(
            ini.section("s").and_then(|s| s.get_raw("url")),
            Some("http://x=y")
        );
    }
}
