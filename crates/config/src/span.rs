//! Source positions: where a piece of text sits in the file it came from.

use serde::Serialize;

/// A region of source text. `line` and `col` are 1-based, `col` counts
/// characters; `offset` and `len` are in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    pub line: u32,
    pub col: u32,
    pub offset: usize,
    pub len: usize,
}

impl Span {
    /// A span of `len` bytes starting at byte `offset`, which lies on `line`
    /// at 1-based character column `col`.
    pub fn new(line: u32, col: u32, offset: usize, len: usize) -> Self {
        Span {
            line,
            col,
            offset,
            len,
        }
    }

    /// Byte offset just past the end of the span.
    pub fn end(&self) -> usize {
        self.offset.saturating_add(self.len)
    }
}
