//! Errors and warnings about a configuration file, pointing at the offending
//! text and rendered the way rustc and miette render them:
//!
//! ```text
//! error: The configuration parameter 'schedular_typo' is not allowed in the [cluster default] section
//!   --> ssm:19:1
//!    |
//! 19 | schedular_typo = slurm
//!    | ^^^^^^^^^^^^^^ unknown parameter
//!    = help: did you mean 'scheduler'?
//! ```

use std::fmt;

use serde::Serialize;

use crate::span::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// The file name as the user gave it (e.g. `ssm` or `~/.airlock/cluster-config`).
    pub file: String,
    pub span: Option<Span>,
    /// The whole source line `span` starts on.
    pub source_line: Option<String>,
    /// Short text printed after the carets.
    pub label: String,
    pub hint: Option<String>,
    /// True for problems `sanity_check = false` cannot downgrade (the file
    /// cannot be read into a model at all).
    #[serde(skip)]
    pub fatal: bool,
}

impl Diagnostic {
    /// A diagnostic without a location.
    pub fn new(severity: Severity, message: impl Into<String>, file: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            file: file.into(),
            span: None,
            source_line: None,
            label: String::new(),
            hint: None,
            fatal: false,
        }
    }

    /// An error with no location.
    pub fn error(message: impl Into<String>, file: impl Into<String>) -> Self {
        Self::new(Severity::Error, message, file)
    }

    /// A warning with no location.
    pub fn warning(message: impl Into<String>, file: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message, file)
    }

    /// Point at `span` in `source` (the whole file text), underlined with `label`.
    pub fn at(mut self, source: &str, span: Span, label: impl Into<String>) -> Self {
        self.source_line = line_of(source, span);
        self.span = Some(span);
        self.label = label.into();
        self
    }

    /// Add a `= help:` line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Mark as not downgradable by `sanity_check = false`.
    pub fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The full line of `source` containing `span.offset` (without its newline).
fn line_of(source: &str, span: Span) -> Option<String> {
    let off = span.offset.min(source.len());
    if !source.is_char_boundary(off) {
        return None;
    }
    let start = source[..off].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let end = source[off..]
        .find(['\n', '\r'])
        .map_or(source.len(), |i| off + i);
    source.get(start..end).map(str::to_string)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{kind}: {}", self.message)?;
        let (span, line) = match (&self.span, &self.source_line) {
            (Some(s), Some(l)) => (*s, l.as_str()),
            (Some(s), None) => {
                let w = s.line.to_string().len();
                write!(f, "{:w$}--> {}:{}:{}", "", self.file, s.line, s.col)?;
                return self.fmt_hint(f, w);
            }
            _ => {
                write!(f, "  --> {}", self.file)?;
                return self.fmt_hint(f, 1);
            }
        };
        let num = span.line.to_string();
        let w = num.len();
        writeln!(f, "{:w$}--> {}:{}:{}", "", self.file, span.line, span.col)?;
        writeln!(f, "{:w$} |", "")?;
        writeln!(f, "{num} | {line}")?;
        // Pad with the line's own tabs so carets line up under the text.
        let col = usize::try_from(span.col.saturating_sub(1)).unwrap_or(usize::MAX);
        let pad: String = line
            .chars()
            .take(col)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let avail = line.chars().count().saturating_sub(col);
        let start_in_line = line.char_indices().nth(col).map_or(line.len(), |(i, _)| i);
        let span_chars = line
            .get(start_in_line..)
            .map_or(0, |rest| {
                let mut n = 0;
                for (i, _) in rest.char_indices() {
                    if i >= span.len {
                        break;
                    }
                    n += 1;
                }
                n
            })
            .min(avail)
            .max(1);
        let carets = "^".repeat(span_chars);
        if self.label.is_empty() {
            write!(f, "{:w$} | {pad}{carets}", "")?;
        } else {
            write!(f, "{:w$} | {pad}{carets} {}", "", self.label)?;
        }
        self.fmt_hint(f, w)
    }
}

impl Diagnostic {
    fn fmt_hint(&self, f: &mut fmt::Formatter<'_>, w: usize) -> fmt::Result {
        if let Some(h) = &self.hint {
            write!(f, "\n{:w$} = help: {h}", "")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc_with_gutter_carets_and_help() {
        let src = "[cluster default]\n".repeat(18) + "schedular_typo = slurm\n";
        let d = Diagnostic::error(
            "The configuration parameter 'schedular_typo' is not allowed in the [cluster default] section",
            "ssm",
        )
        .at(&src, Span::new(19, 1, 18 * 18, 14), "unknown parameter")
        .with_hint("did you mean 'scheduler'?");
        let expected = "error: The configuration parameter 'schedular_typo' is not allowed in the [cluster default] section
  --> ssm:19:1
   |
19 | schedular_typo = slurm
   | ^^^^^^^^^^^^^^ unknown parameter
   = help: did you mean 'scheduler'?";
        assert_eq!(d.to_string(), expected);
    }

    #[test]
    fn carets_count_characters_not_bytes() {
        let src = "[vpc a]\nuse_public_ips = yé # x\n";
        let d = Diagnostic::warning("w", "f").at(src, Span::new(2, 18, 25, 3), "here");
        assert_eq!(
            d.to_string(),
            "warning: w\n --> f:2:18\n  |\n2 | use_public_ips = yé # x\n  |                  ^^ here"
        );
    }

    #[test]
    fn diagnostic_without_span_names_the_file() {
        let d = Diagnostic::error("no [cluster default] section", "cfg").with_hint("add one");
        assert_eq!(
            d.to_string(),
            "error: no [cluster default] section\n  --> cfg\n  = help: add one"
        );
    }
}
