//! INI files read exactly as Python 3's
//! `configparser.ConfigParser(inline_comment_prefixes=("#", ";"))` reads
//! them (strict mode, `BasicInterpolation`), keeping the source span of every
//! section header, key and value so that diagnostics can point at them.
//!
//! ```
//! let ini = airlock_config::ini::parse("[s]\nDir = /opt\npath = %(dir)s/bin ; note\n").unwrap();
//! assert_eq!(ini.get("s", "PATH").unwrap().unwrap(), "/opt/bin");
//! ```

mod interp;
mod parse;
pub mod pystr;

pub use crate::span::Span;
pub use interp::{InterpolationError, InterpolationErrorKind, MAX_INTERPOLATION_DEPTH};
pub use parse::parse;

use std::collections::HashMap;

use thiserror::Error;

/// The name of the section whose entries every other section inherits.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// A parsed INI file. `sections` excludes `[DEFAULT]`, whose entries are in
/// `defaults`; both are in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ini {
    pub sections: Vec<Section>,
    pub defaults: Vec<Entry>,
    /// Upper bound on the work (bytes produced plus references followed)
    /// one interpolation may do; keeps expansion bombs linear in input size.
    pub(crate) interp_budget: usize,
    /// Lookup tables built by [`parse`]; checked against the entries on use,
    /// so an edited `Ini` still answers correctly (by a linear search).
    pub(crate) index: Index,
}

/// Positions of sections and keys, for constant-time lookups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Index {
    pub sections: HashMap<String, usize>,
    pub keys: Vec<HashMap<String, usize>>,
    pub defaults: HashMap<String, usize>,
}

impl Index {
    pub(crate) fn build(sections: &[Section], defaults: &[Entry]) -> Index {
        let keys_of = |entries: &[Entry]| {
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| (e.key.clone(), i))
                .collect()
        };
        Index {
            sections: sections
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), i))
                .collect(),
            keys: sections.iter().map(|s| keys_of(&s.entries)).collect(),
            defaults: keys_of(defaults),
        }
    }
}

/// One `[name]` section. `span` covers the name between the brackets (of
/// its first header line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub span: Span,
    pub entries: Vec<Entry>,
}

/// One `key = value` option. `key` is lower-cased (configparser's
/// `optionxform`); `raw_value` is the uninterpolated value with
/// continuation lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub raw_value: String,
    pub key_span: Span,
    pub value_span: Span,
}

/// What kind of configparser exception a parse failure corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IniErrorKind {
    /// `MissingSectionHeaderError`: an option before any `[section]`.
    MissingSectionHeader,
    /// `DuplicateSectionError`.
    DuplicateSection,
    /// `DuplicateOptionError`.
    DuplicateOption,
    /// `ParsingError`: a line that is neither header, option, comment nor
    /// continuation (e.g. a key without `=`/`:`, or an empty key).
    Parsing,
}

impl IniErrorKind {
    /// The Python exception class name.
    pub fn python_name(self) -> &'static str {
        match self {
            IniErrorKind::MissingSectionHeader => "MissingSectionHeaderError",
            IniErrorKind::DuplicateSection => "DuplicateSectionError",
            IniErrorKind::DuplicateOption => "DuplicateOptionError",
            IniErrorKind::Parsing => "ParsingError",
        }
    }
}

/// A parse failure. `span` points at the offending text; for `Parsing`,
/// `other_spans` lists the further bad lines (configparser reports them all).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct IniError {
    pub kind: IniErrorKind,
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
    pub other_spans: Vec<Span>,
}

impl Ini {
    /// The section called `name` (case-sensitive), not `[DEFAULT]`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.section_index(name).and_then(|i| self.sections.get(i))
    }

    fn section_index(&self, name: &str) -> Option<usize> {
        match self.index.sections.get(name) {
            Some(&i) if self.sections.get(i).is_some_and(|s| s.name == name) => Some(i),
            _ => self.sections.iter().position(|s| s.name == name),
        }
    }

    /// The entry for lower-cased `key` in section `name`'s own entries, or
    /// (for `None`) in `[DEFAULT]`.
    pub(crate) fn own_entry(&self, section: Option<&str>, key: &str) -> Option<&Entry> {
        let (entries, map) = match section {
            Some(name) => {
                let i = self.section_index(name)?;
                (
                    self.sections.get(i).map(|s| s.entries.as_slice())?,
                    self.index.keys.get(i),
                )
            }
            None => (self.defaults.as_slice(), Some(&self.index.defaults)),
        };
        match map.and_then(|m| m.get(key)).and_then(|&i| entries.get(i)) {
            Some(e) if e.key == key => Some(e),
            _ => entries.iter().find(|e| e.key == key),
        }
    }

    /// Names of all sections except `[DEFAULT]`, in file order.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.name.as_str())
    }

    /// The entry for `key` as `section` sees it: its own, else `[DEFAULT]`'s.
    /// `section` may be `"DEFAULT"`. `None` if the section or key is absent.
    pub fn entry(&self, section: &str, key: &str) -> Option<&Entry> {
        let key = pystr::lower(key);
        if section != DEFAULT_SECTION {
            self.section_index(section)?;
            if let Some(e) = self.own_entry(Some(section), &key) {
                return Some(e);
            }
        }
        self.own_entry(None, &key)
    }

    /// The interpolated value of `key` in `section` (falling back to
    /// `[DEFAULT]`), as `ConfigParser.get` returns it. `None` if the section
    /// or key is absent.
    pub fn get(&self, section: &str, key: &str) -> Option<Result<String, InterpolationError>> {
        let entry = self.entry(section, key)?;
        Some(interp::interpolate(self, section, entry))
    }

    /// Keys visible in `section`: its own in file order, then those of
    /// `[DEFAULT]` it does not override (`ConfigParser.options`).
    pub fn options(&self, section: &str) -> Vec<&str> {
        self.visible_entries(section)
            .into_iter()
            .map(|e| e.key.as_str())
            .collect()
    }

    /// Entries visible in `section`, in the order of [`Ini::options`].
    pub fn visible_entries(&self, section: &str) -> Vec<&Entry> {
        let own: &[Entry] = self.section(section).map_or(&[], |s| s.entries.as_slice());
        let keys: std::collections::HashSet<&str> = own.iter().map(|e| e.key.as_str()).collect();
        own.iter()
            .chain(
                self.defaults
                    .iter()
                    .filter(|d| !keys.contains(d.key.as_str())),
            )
            .collect()
    }

    /// Interpolate `entry` as seen from `section` (like [`Ini::get`], without
    /// looking the entry up again).
    pub fn interpolate(&self, section: &str, entry: &Entry) -> Result<String, InterpolationError> {
        interp::interpolate(self, section, entry)
    }
}

impl Section {
    /// This section's own entry for `key` (lower-cased before lookup).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        let key = pystr::lower(key);
        self.entries.iter().find(|e| e.key == key)
    }

    /// This section's own raw (uninterpolated) value for `key`.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.raw_value.as_str())
    }
}
