//! Wildcard patterns (`*`, `?`) and templates with policy variables
//! (`${aws:username}`, `${key, 'default'}`, and the escapes `${*}` `${?}` `${$}`).

use std::borrow::Cow;

use crate::context::Context;

/// One pattern character: a literal, or a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PChar {
    Lit(char),
    /// `*`: any run of characters, including none and including `:` and `/`.
    Star,
    /// `?`: exactly one character.
    Quest,
}

/// Compiles text in which `*` and `?` are wildcards.
pub(crate) fn compile(text: &str) -> Vec<PChar> {
    text.chars().map(wild).collect()
}

fn wild(c: char) -> PChar {
    match c {
        '*' => PChar::Star,
        '?' => PChar::Quest,
        c => PChar::Lit(c),
    }
}

/// Renders a pattern back to text (wildcards as `*` and `?`).
pub(crate) fn render(p: &[PChar]) -> String {
    p.iter()
        .map(|c| match c {
            PChar::Lit(c) => *c,
            PChar::Star => '*',
            PChar::Quest => '?',
        })
        .collect()
}

/// Matches `subject` against `pattern`, case-sensitively. Iterative with a
/// single backtrack point (the last `*`), so it is O(n·m) at worst and
/// never recurses; after a `*` it skips straight to the next occurrence of
/// the literal that follows.
pub(crate) fn glob(pattern: &[PChar], subject: &str) -> bool {
    let s = subject.as_bytes();
    let (mut pi, mut si) = (0usize, 0usize);
    // (pattern index after the last star, subject index it is tried at)
    let mut star: Option<(usize, usize)> = None;
    loop {
        match pattern.get(pi) {
            Some(PChar::Star) => {
                while pattern.get(pi) == Some(&PChar::Star) {
                    pi += 1;
                }
                if pi == pattern.len() {
                    return true;
                }
                let Some(start) = next_start(pattern, pi, s, si) else {
                    return false;
                };
                star = Some((pi, start));
                si = start;
                continue;
            }
            Some(p) => {
                if let Some(w) = step(*p, s, si) {
                    pi += 1;
                    si += w;
                    continue;
                }
            }
            None if si == s.len() => return true,
            None => {}
        }
        // Mismatch: let the last star swallow one more character.
        let Some((sp, ss)) = star else {
            return false;
        };
        let Some(w) = s.get(ss).map(|b| width(*b)) else {
            return false;
        };
        let Some(start) = next_start(pattern, sp, s, ss + w) else {
            return false;
        };
        star = Some((sp, start));
        pi = sp;
        si = start;
    }
}

/// Bytes in the UTF-8 character that starts with `lead`.
fn width(lead: u8) -> usize {
    match lead {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Matches one non-star pattern character at `si`; returns bytes consumed.
fn step(p: PChar, s: &[u8], si: usize) -> Option<usize> {
    let b = *s.get(si)?;
    match p {
        PChar::Quest => Some(width(b)),
        PChar::Lit(c) if c.is_ascii() => (u32::from(b) == u32::from(c)).then_some(1),
        PChar::Lit(c) => {
            let mut buf = [0u8; 4];
            let enc = c.encode_utf8(&mut buf).as_bytes();
            (s.get(si..si + enc.len()) == Some(enc)).then_some(enc.len())
        }
        PChar::Star => None,
    }
}

/// The first subject index at or after `from` where the pattern from `pi`
/// could start matching (skips to the next occurrence of an ASCII literal).
fn next_start(pattern: &[PChar], pi: usize, s: &[u8], from: usize) -> Option<usize> {
    let rest = s.get(from..)?;
    match pattern.get(pi) {
        Some(PChar::Lit(c)) if c.is_ascii() => rest
            .iter()
            .position(|b| u32::from(*b) == u32::from(*c))
            .map(|p| from + p),
        _ => Some(from),
    }
}

/// A policy variable reference: `${key}` or `${key, 'default'}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variable {
    /// The key as written.
    pub(crate) name: String,
    /// The key lowercased, for lookup.
    pub(crate) key: String,
    pub(crate) default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Char(PChar),
    Var(Variable),
}

/// A value from a policy that may contain variables: resolved per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Template {
    Static { text: String, pattern: Vec<PChar> },
    Dynamic(Vec<Part>),
}

/// A variable with no value in the request: the statement does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unresolved;

impl Template {
    /// Parses `text`. With `variables` false (policy version 2008-10-17)
    /// `${...}` is plain text, as in IAM.
    pub(crate) fn parse(text: &str, variables: bool) -> Result<Template, String> {
        if !variables || !text.contains("${") {
            return Ok(Template::Static {
                text: text.to_string(),
                pattern: compile(text),
            });
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            parts.extend(
                rest.get(..start)
                    .unwrap_or("")
                    .chars()
                    .map(|c| Part::Char(wild(c))),
            );
            let after = rest.get(start + 2..).unwrap_or("");
            let Some(end) = after.find('}') else {
                // No closing brace: the rest is plain text.
                parts.extend(
                    rest.get(start..)
                        .unwrap_or("")
                        .chars()
                        .map(|c| Part::Char(wild(c))),
                );
                rest = "";
                break;
            };
            let inner = after.get(..end).unwrap_or("");
            parts.push(parse_variable(inner)?);
            rest = after.get(end + 1..).unwrap_or("");
        }
        parts.extend(rest.chars().map(|c| Part::Char(wild(c))));
        if parts.iter().all(|p| matches!(p, Part::Char(_))) {
            let pattern: Vec<PChar> = parts
                .into_iter()
                .filter_map(|p| match p {
                    Part::Char(c) => Some(c),
                    Part::Var(_) => None,
                })
                .collect();
            return Ok(Template::Static {
                text: render(&pattern),
                pattern,
            });
        }
        Ok(Template::Dynamic(parts))
    }

    /// The context keys this template reads.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &Variable> {
        let parts: &[Part] = match self {
            Template::Static { .. } => &[],
            Template::Dynamic(parts) => parts,
        };
        parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Char(_) => None,
        })
    }

    /// The wildcard pattern for this request.
    pub(crate) fn pattern<'a>(&'a self, ctx: &Context) -> Result<Cow<'a, [PChar]>, Unresolved> {
        match self {
            Template::Static { pattern, .. } => Ok(Cow::Borrowed(pattern)),
            Template::Dynamic(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for part in parts {
                    match part {
                        Part::Char(c) => out.push(*c),
                        Part::Var(v) => out.extend(resolve(v, ctx)?.chars().map(PChar::Lit)),
                    }
                }
                Ok(Cow::Owned(out))
            }
        }
    }

    /// The literal text for this request (for the `...Equals` operators).
    pub(crate) fn text<'a>(&'a self, ctx: &Context) -> Result<Cow<'a, str>, Unresolved> {
        match self {
            Template::Static { text, .. } => Ok(Cow::Borrowed(text)),
            Template::Dynamic(_) => Ok(Cow::Owned(render(&self.pattern(ctx)?))),
        }
    }
}

fn resolve<'c>(v: &'c Variable, ctx: &'c Context) -> Result<&'c str, Unresolved> {
    match ctx.values_lower(&v.key) {
        // A multivalued key cannot stand in for a single value.
        Some([one]) => Ok(one),
        Some(_) | None => v.default.as_deref().ok_or(Unresolved),
    }
}

fn parse_variable(inner: &str) -> Result<Part, String> {
    match inner.trim() {
        "*" => return Ok(Part::Char(PChar::Lit('*'))),
        "?" => return Ok(Part::Char(PChar::Lit('?'))),
        "$" => return Ok(Part::Char(PChar::Lit('$'))),
        _ => {}
    }
    let (name, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((name, default)) => {
            let d = default.trim();
            let quoted = d
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .filter(|d| !d.contains('\''));
            match quoted {
                Some(d) => (name.trim(), Some(d.to_string())),
                None => {
                    return Err(format!(
                        "the default of policy variable ${{{inner}}} must be in single quotes, e.g. ${{{}, 'default'}}",
                        name.trim()
                    ));
                }
            }
        }
    };
    let valid = !name.is_empty()
        && name.contains(':')
        && !name
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '$' | '{' | '\'' | '"' | '*' | '?'));
    if !valid {
        return Err(format!(
            "invalid policy variable ${{{inner}}}: expected a context key such as ${{aws:username}}"
        ));
    }
    Ok(Part::Var(Variable {
        name: name.to_string(),
        key: name.to_lowercase(),
        default,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob(&compile(p), s)
    }

    #[test]
    fn star_matches_any_run_including_empty() {
        assert!(m("*", ""));
        assert!(m("a*", "a"));
        assert!(m("a*c", "abbbc"));
        assert!(m("*c", "abc"));
        assert!(!m("a*c", "abd"));
    }

    #[test]
    fn question_matches_exactly_one_char() {
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(!m("a?c", "abbc"));
        assert!(m("??", "é€"));
    }

    #[test]
    fn star_spans_colons_and_slashes() {
        assert!(m("arn:aws:*", "arn:aws:ec2:us-east-1:1:instance/i-1"));
        assert!(m("arn:*/i-1", "arn:aws:ec2:us-east-1:1:instance/i-1"));
    }

    #[test]
    fn matching_is_case_sensitive() {
        assert!(!m("abc", "ABC"));
    }

    #[test]
    fn backtracking_finds_late_matches() {
        assert!(m("*a*b*c", "xxaxxbxxaxxc"));
        assert!(!m("*a*b*c", "xxaxxcxxb"));
        assert!(m("a*a*a*a*b", "aaaaaaaaaaaaaaaab"));
        assert!(!m("a*a*a*a*b", &"a".repeat(5000)));
    }

    /// Textbook dynamic-programming matcher, to check the fast one against.
    fn reference(p: &[PChar], s: &str) -> bool {
        let s: Vec<char> = s.chars().collect();
        let mut dp = vec![vec![false; s.len() + 1]; p.len() + 1];
        dp[0][0] = true;
        for i in 1..=p.len() {
            for j in 0..=s.len() {
                dp[i][j] = match p[i - 1] {
                    PChar::Star => dp[i - 1][j] || (j > 0 && dp[i][j - 1]),
                    PChar::Quest => j > 0 && dp[i - 1][j - 1],
                    PChar::Lit(c) => j > 0 && s[j - 1] == c && dp[i - 1][j - 1],
                };
            }
        }
        dp[p.len()][s.len()]
    }

    proptest::proptest! {
        #[test]
        fn glob_agrees_with_reference_matcher(p in "[ab:é*?]{0,8}", s in "[ab:é]{0,12}") {
            let pattern = compile(&p);
            proptest::prop_assert_eq!(glob(&pattern, &s), reference(&pattern, &s), "{} vs {}", p, s);
        }
    }

    #[test]
    fn escapes_are_literal_characters() {
        let t = Template::parse("a${*}b${?}c${$}d", true);
        let Ok(Template::Static { text, pattern }) = t else {
            panic!("not static: {t:?}");
        };
        assert_eq!(text, "a*b?c$d");
        assert!(glob(&pattern, "a*b?c$d"));
        assert!(!glob(&pattern, "aXb?c$d"));
        assert!(!glob(&pattern, "a*bXc$d"));
    }

    #[test]
    fn version_2008_keeps_dollar_braces_as_text() {
        let Ok(Template::Static { text, .. }) = Template::parse("${aws:username}", false) else {
            panic!("expected static");
        };
        assert_eq!(text, "${aws:username}");
    }

    #[test]
    fn variable_resolves_from_context_case_insensitively() {
        let Ok(t) = Template::parse("home/${AWS:UserName}/*", true) else {
            panic!("parse");
        };
        let ctx = Context::new().with("aws:username", "alice");
        assert_eq!(t.text(&ctx).as_deref(), Ok("home/alice/*"));
        assert_eq!(t.text(&Context::new()), Err(Unresolved));
    }

    #[test]
    fn substituted_values_are_literal_not_wildcards() {
        let Ok(t) = Template::parse("${aws:username}", true) else {
            panic!("parse");
        };
        let ctx = Context::new().with("aws:username", "*");
        let Ok(p) = t.pattern(&ctx) else {
            panic!("resolve");
        };
        assert!(glob(&p, "*"));
        assert!(!glob(&p, "bob"));
    }

    #[test]
    fn default_value_is_used_when_key_is_missing() {
        let Ok(t) = Template::parse("${aws:PrincipalTag/team , 'company-wide'}", true) else {
            panic!("parse");
        };
        assert_eq!(t.text(&Context::new()).as_deref(), Ok("company-wide"));
        let ctx = Context::new().with("aws:principaltag/TEAM", "hpc");
        assert_eq!(t.text(&ctx).as_deref(), Ok("hpc"));
    }

    #[test]
    fn multivalued_key_without_default_does_not_resolve() {
        let Ok(t) = Template::parse("${aws:TagKeys}", true) else {
            panic!("parse");
        };
        let ctx = Context::new().with_values("aws:TagKeys", ["a", "b"]);
        assert_eq!(t.text(&ctx), Err(Unresolved));
    }

    #[test]
    fn unclosed_variable_is_plain_text() {
        let Ok(Template::Static { text, .. }) = Template::parse("a${aws:username", true) else {
            panic!("expected static");
        };
        assert_eq!(text, "a${aws:username");
    }

    #[test]
    fn bad_variables_are_rejected() {
        assert!(Template::parse("${}", true).is_err());
        assert!(Template::parse("${username}", true).is_err());
        assert!(Template::parse("${aws:username, default}", true).is_err());
        assert!(Template::parse("${aws user:x}", true).is_err());
    }
}
