//! `BasicInterpolation`: `%(name)s` references to the same section or
//! `[DEFAULT]`, `%%` for a literal percent, at most 10 levels deep.

use thiserror::Error;

use super::pystr::lower;
use super::{DEFAULT_SECTION, Entry, Ini, Span};

/// configparser's `MAX_INTERPOLATION_DEPTH`.
pub const MAX_INTERPOLATION_DEPTH: usize = 10;

/// Which configparser exception an interpolation failure corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterpolationErrorKind {
    /// `InterpolationSyntaxError`: a `%` not followed by `%` or `(name)s`.
    Syntax,
    /// `InterpolationMissingOptionError`: `%(name)s` names no option.
    MissingOption,
    /// `InterpolationDepthError`: references nested more than 10 deep.
    Depth,
    /// Not in Python: the expansion grew past a size bound proportional to
    /// the input (an expansion bomb). Python would run out of memory.
    TooLarge,
}

impl InterpolationErrorKind {
    /// The Python exception class name (`TooLarge` has none).
    pub fn python_name(self) -> &'static str {
        match self {
            InterpolationErrorKind::Syntax => "InterpolationSyntaxError",
            InterpolationErrorKind::MissingOption => "InterpolationMissingOptionError",
            InterpolationErrorKind::Depth => "InterpolationDepthError",
            InterpolationErrorKind::TooLarge => "InterpolationTooLarge",
        }
    }
}

/// An interpolation failure for `option` in `section`; `span` is the
/// option's value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct InterpolationError {
    pub kind: InterpolationErrorKind,
    pub section: String,
    pub option: String,
    pub span: Span,
    pub message: String,
    pub hint: &'static str,
}

struct Ctx<'a> {
    ini: &'a Ini,
    section: &'a str,
    entry: &'a Entry,
    budget: usize,
}

impl<'a> Ctx<'a> {
    fn error(
        &self,
        kind: InterpolationErrorKind,
        message: String,
        hint: &'static str,
    ) -> InterpolationError {
        InterpolationError {
            kind,
            section: self.section.to_string(),
            option: self.entry.key.clone(),
            span: self.entry.value_span,
            message,
            hint,
        }
    }

    fn spend(&mut self, n: usize) -> Result<(), InterpolationError> {
        match self.budget.checked_sub(n.max(1)) {
            Some(b) => {
                self.budget = b;
                Ok(())
            }
            None => Err(self.error(
                InterpolationErrorKind::TooLarge,
                format!(
                    "Value substitution for option '{}' in section '{}' expands too far",
                    self.entry.key, self.section
                ),
                "the %(name)s references multiply the text; simplify them",
            )),
        }
    }

    /// Transcription of `BasicInterpolation._interpolate_some`.
    fn some(
        &mut self,
        out: &mut String,
        mut rest: &str,
        depth: usize,
    ) -> Result<(), InterpolationError> {
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(self.error(
                InterpolationErrorKind::Depth,
                format!(
                    "Recursion limit exceeded in value substitution: option '{}' in section '{}' contains an interpolation key which cannot be substituted in {} steps",
                    self.entry.key, self.section, MAX_INTERPOLATION_DEPTH
                ),
                "a %(name)s reference chain is circular or nested more than 10 deep",
            ));
        }
        while !rest.is_empty() {
            let Some(p) = rest.find('%') else {
                self.spend(rest.len())?;
                out.push_str(rest);
                return Ok(());
            };
            self.spend(p)?;
            out.push_str(&rest[..p]);
            rest = &rest[p..];
            let next = rest.as_bytes().get(1).copied();
            if next == Some(b'%') {
                out.push('%');
                rest = &rest[2..];
            } else if next == Some(b'(') {
                let Some((name, len)) = key_ref(rest) else {
                    return Err(self.error(
                        InterpolationErrorKind::Syntax,
                        format!("bad interpolation variable reference '{rest}'"),
                        "write references as %(name)s, and a literal % as %%",
                    ));
                };
                rest = &rest[len..];
                let var = lower(name);
                let Some(v) = self.lookup(&var) else {
                    return Err(self.error(
                        InterpolationErrorKind::MissingOption,
                        format!(
                            "Bad value substitution: option '{}' in section '{}' contains an interpolation key '{}' which is not a valid option name",
                            self.entry.key, self.section, var
                        ),
                        "define that key in this section or in [DEFAULT], or write a literal % as %%",
                    ));
                };
                if v.contains('%') {
                    self.spend(1)?;
                    self.some(out, v, depth + 1)?;
                } else {
                    self.spend(v.len())?;
                    out.push_str(v);
                }
            } else {
                return Err(self.error(
                    InterpolationErrorKind::Syntax,
                    format!("'%' must be followed by '%' or '(', found: '{rest}'"),
                    "write a literal % as %%",
                ));
            }
        }
        Ok(())
    }

    fn lookup(&self, key: &str) -> Option<&'a str> {
        let ini: &'a Ini = self.ini;
        let own = if self.section == DEFAULT_SECTION {
            None
        } else {
            ini.own_entry(Some(self.section), key)
        };
        own.or_else(|| ini.own_entry(None, key))
            .map(|e| e.raw_value.as_str())
    }
}

/// `_KEYCRE.match(rest)` for `%\(([^)]+)\)s`: the name and the match length.
fn key_ref(rest: &str) -> Option<(&str, usize)> {
    let body = rest.strip_prefix("%(")?;
    let close = body.find(')')?;
    if close == 0 || body.as_bytes().get(close + 1) != Some(&b's') {
        return None;
    }
    Some((&body[..close], close + 4))
}

/// Expand `entry` (as seen from `section`) like `ConfigParser.get`.
pub(super) fn interpolate(
    ini: &Ini,
    section: &str,
    entry: &Entry,
) -> Result<String, InterpolationError> {
    let mut ctx = Ctx {
        ini,
        section,
        entry,
        budget: ini
            .interp_budget
            .max(entry.raw_value.len().saturating_add(4096)),
    };
    let mut out = String::new();
    ctx.some(&mut out, &entry.raw_value, 1)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn get(text: &str, s: &str, k: &str) -> Result<String, InterpolationError> {
        match parse(text) {
            Ok(ini) => ini.get(s, k).unwrap_or_else(|| panic!("no {s}.{k}")),
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    #[test]
    fn references_resolve_in_section_then_default() {
        let t = "[DEFAULT]\nhome = /h\n[s]\nUser = bob\np = %(HOME)s/%(user)s 100%%\n";
        assert_eq!(get(t, "s", "p").ok().as_deref(), Some("/h/bob 100%"));
        assert_eq!(get(t, "DEFAULT", "home").ok().as_deref(), Some("/h"));
    }

    #[test]
    fn missing_reference_names_the_key() {
        let e = get("[s]\na = %(nope)s\n", "s", "a").err();
        let e = e.as_ref().map(|e| (e.kind, e.message.as_str()));
        assert_eq!(
            e,
            Some((
                InterpolationErrorKind::MissingOption,
                "Bad value substitution: option 'a' in section 's' contains an interpolation key 'nope' which is not a valid option name"
            ))
        );
    }

    #[test]
    fn lone_percent_and_bad_reference_are_syntax_errors() {
        assert_eq!(
            get("[s]\na = 5%\n", "s", "a").map_err(|e| e.kind),
            Err(InterpolationErrorKind::Syntax)
        );
        assert_eq!(
            get("[s]\na = %(x)d\nx=1\n", "s", "a").map_err(|e| e.kind),
            Err(InterpolationErrorKind::Syntax)
        );
        assert_eq!(
            get("[s]\na = %()s\n", "s", "a").map_err(|e| e.kind),
            Err(InterpolationErrorKind::Syntax)
        );
    }

    #[test]
    fn self_reference_hits_depth_limit() {
        assert_eq!(
            get("[s]\na = %(a)s\n", "s", "a").map_err(|e| e.kind),
            Err(InterpolationErrorKind::Depth)
        );
    }

    #[test]
    fn nine_nested_levels_are_fine_but_eleven_are_not() {
        // k0 -> k1 -> ... ; each value with '%' adds a level.
        let mut t = String::from("[s]\n");
        for i in 0..10 {
            t.push_str(&format!("k{i} = %(k{})s\n", i + 1));
        }
        t.push_str("k10 = end\n");
        assert_eq!(get(&t, "s", "k0").ok().as_deref(), Some("end"));
        t.push_str("z = %(k0)s\n");
        assert_eq!(
            get(&t, "s", "z").map_err(|e| e.kind),
            Err(InterpolationErrorKind::Depth)
        );
    }

    #[test]
    fn expansion_bomb_is_cut_off() {
        let mut t = String::from("[s]\nk9 = xxxxxxxxxxxxxxxx\n");
        for i in (0..9).rev() {
            t.push_str(&format!("k{i} = {}\n", format!("%(k{})s", i + 1).repeat(8)));
        }
        assert_eq!(
            get(&t, "s", "k0").map_err(|e| e.kind),
            Err(InterpolationErrorKind::TooLarge)
        );
    }
}
