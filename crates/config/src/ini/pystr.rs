//! Python `str` semantics that configparser relies on: `isspace`, `strip`
//! and `lower` (used as `optionxform`).

/// Python's `str.isspace()` for one character. This is wider than Rust's
/// `char::is_whitespace`: it also counts the separators U+001C..U+001F.
pub fn is_space(c: char) -> bool {
    matches!(c, '\u{1c}'..='\u{1f}') || c.is_whitespace()
}

/// Python's `str.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `str.rstrip()`.
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// Python's `str.lower()`, configparser's default `optionxform`.
pub fn lower(s: &str) -> String {
    s.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_separators_count_as_space_like_python() {
        assert!(is_space('\u{1f}'));
        assert_eq!(strip("\u{1c} a \u{a0}"), "a");
        assert!(!is_space('\u{feff}'));
    }

    #[test]
    fn lower_handles_final_sigma_like_python() {
        assert_eq!(lower("ΑΣ"), "ας");
        assert_eq!(lower("KEY"), "key");
    }
}
