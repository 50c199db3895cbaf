//! Tables that fit a width. Columns keep their full width when the rows
//! fit; otherwise narrow columns (ids, states, dates) stay whole and the
//! columns of long text wrap at spaces, as an HTML table's automatic layout
//! does; and when even the longest word of each column cannot sit side by
//! side, each row prints as a record, one `Header: value` line per column
//! (psql's expanded display), which any width can show.

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use unicode_width::UnicodeWidthStr;

/// The narrowest a record's values may wrap to before they stop wrapping.
const MIN_VALUE_WIDTH: usize = 20;

/// `rows` under `headers` (none: a table without a header row), fitted to
/// `width`; `None` keeps whole rows. Cells are printed as they are: escape
/// them first.
pub fn render(headers: &[String], rows: &[Vec<String>], width: Option<u16>) -> String {
    let n = headers
        .len()
        .max(rows.iter().map(Vec::len).max().unwrap_or(0));
    let Some(width) = width.map(usize::from) else {
        return table(headers, rows, None);
    };
    let column = |i: usize| {
        headers
            .get(i)
            .into_iter()
            .chain(rows.iter().filter_map(move |r| r.get(i)))
    };
    let widest = |i: usize| column(i).map(|c| widest_line(c)).max().unwrap_or(0);
    let longest_word = |i: usize| column(i).map(|c| longest_word(c)).max().unwrap_or(0);
    let max: Vec<usize> = (0..n).map(widest).collect();
    let min: Vec<usize> = (0..n).map(|i| longest_word(i).min(max[i]).max(1)).collect();
    // Two outer borders; a space of padding either side of each cell and a
    // blank column between cells.
    let room = width.saturating_sub(3 * n + 1);
    if max.iter().sum::<usize>() <= room {
        return table(headers, rows, None);
    }
    if min.iter().sum::<usize>() <= room || headers.is_empty() {
        let widths = share(&min, &max, room);
        return table(headers, rows, Some(&widths));
    }
    records(headers, rows, width)
}

/// Widths between `min` and `max` that add up to at most `room`: each
/// column gets its minimum, and what is left goes to the columns in
/// proportion to how much more they could use.
fn share(min: &[usize], max: &[usize], room: usize) -> Vec<usize> {
    let spare = room.saturating_sub(min.iter().sum());
    let wants: usize = min.iter().zip(max).map(|(a, b)| b - a).sum();
    let mut widths: Vec<usize> = min
        .iter()
        .zip(max)
        .map(|(&a, &b)| a + (b - a) * spare / wants.max(1))
        .collect();
    // What rounding left over, to the columns that still want it.
    let mut left = room.saturating_sub(widths.iter().sum());
    for (w, &b) in widths.iter_mut().zip(max) {
        let more = b.saturating_sub(*w).min(left);
        *w += more;
        left -= more;
    }
    widths
}

fn table(headers: &[String], rows: &[Vec<String>], widths: Option<&[usize]>) -> String {
    let fit = |i: usize, cell: &str| match widths.and_then(|w| w.get(i)) {
        Some(&w) => wrap(cell, w),
        None => cell.to_owned(),
    };
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled);
    if !headers.is_empty() {
        t.set_header(
            headers
                .iter()
                .enumerate()
                .map(|(i, h)| fit(i, h))
                .collect::<Vec<_>>(),
        );
    }
    for r in rows {
        t.add_row(
            r.iter()
                .enumerate()
                .map(|(i, c)| fit(i, c))
                .collect::<Vec<_>>(),
        );
    }
    t.to_string()
}

/// Each row as `Header: value` lines, values wrapped to what `width` leaves,
/// a blank line between rows.
fn records(headers: &[String], rows: &[Vec<String>], width: usize) -> String {
    let key_width = headers.iter().map(|h| h.width()).max().unwrap_or(0) + 2;
    let value_width = width.saturating_sub(key_width).max(MIN_VALUE_WIDTH);
    let indent = " ".repeat(key_width);
    let mut out = Vec::new();
    for r in rows {
        let mut lines = Vec::new();
        for (h, v) in headers.iter().zip(r) {
            let key = format!("{h}:");
            let pad = " ".repeat(key_width - key.width());
            let wrapped = wrap(v, value_width);
            let mut value = wrapped.lines();
            lines.push(
                format!("{key}{pad}{}", value.next().unwrap_or(""))
                    .trim_end()
                    .to_owned(),
            );
            lines.extend(value.map(|l| format!("{indent}{l}")));
        }
        out.push(lines.join("\n"));
    }
    out.join("\n\n")
}

fn widest_line(s: &str) -> usize {
    s.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
}

fn longest_word(s: &str) -> usize {
    s.split_whitespace()
        .map(UnicodeWidthStr::width)
        .max()
        .unwrap_or(0)
}

/// `s` wrapped to `width` columns at spaces; a word longer than a line is
/// cut. Lines already in `s` are kept.
pub fn wrap(s: &str, width: usize) -> String {
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    for line in s.lines() {
        let mut cur = String::new();
        for word in line.split_whitespace() {
            let sep = usize::from(!cur.is_empty());
            if cur.width() + sep + word.width() <= width {
                if sep == 1 {
                    cur.push(' ');
                }
                cur.push_str(word);
                continue;
            }
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            // A word wider than the line: cut it into pieces that fit.
            for c in word.chars() {
                if cur.width() + c.to_string().width() > width {
                    out.push(std::mem::take(&mut cur));
                }
                cur.push(c);
            }
        }
        out.push(cur);
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn fits(out: &str, width: usize) {
        for l in out.lines() {
            assert!(l.width() <= width, "{} columns: {l:?}\n{out}", l.width());
        }
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_cuts_only_words_too_long() {
        assert_eq!(
            wrap("not authorized to perform", 14),
            "not authorized\nto perform"
        );
        assert_eq!(wrap("abcdefgh", 3), "abc\ndef\ngh");
        assert_eq!(wrap("a\nb c", 10), "a\nb c");
        assert_eq!(wrap("", 5), "");
    }

    #[test]
    fn rows_that_fit_are_left_whole() {
        let out = render(&strings(&["A", "B"]), &[strings(&["x y", "z"])], Some(80));
        assert_eq!(out.lines().count(), 5, "{out}");
        assert!(out.contains("x y"));
    }

    #[test]
    fn narrow_columns_stay_whole_and_long_text_wraps() {
        let headers = strings(&["InstanceId", "Status", "Reason"]);
        let reason = "User: arn:aws:sts::123456789012:assumed-role/BareRole/mi-0123 is not authorized to perform: ssm:UpdateInstanceInformation because no identity-based policy allows it";
        let rows = [strings(&["mi-0123456789abcdef0", "ConnectionLost", reason])];
        let out = render(&headers, &rows, Some(80));
        fits(&out, 80);
        assert!(
            out.contains("mi-0123456789abcdef0") && out.contains("ConnectionLost"),
            "{out}"
        );
        assert!(out.contains("authorized"), "{out}");
        // No word of the reason was cut.
        for word in reason.split(' ') {
            assert!(out.contains(word), "{word} cut:\n{out}");
        }
    }

    #[test]
    fn too_many_columns_print_as_records() {
        let headers = strings(&[
            "InstanceId",
            "ComputerName",
            "IPAddress",
            "Platform",
            "AgentVersion",
            "IamRole",
            "LastPing",
            "PingStatus",
        ]);
        let row = strings(&[
            "mi-3c0422b5f8055e501",
            "vm",
            "127.0.0.1",
            "Debian GNU/Linux 12 (bookworm)",
            "0.1.0",
            "NodeRole",
            "2026-12-07T04:43:33Z",
            "ConnectionLost: not authorized to perform: ssm:UpdateInstanceInformation",
        ]);
        let out = render(&headers, &[row.clone(), row], Some(60));
        fits(&out, 60);
        assert!(
            out.starts_with("InstanceId:   mi-3c0422b5f8055e501\nComputerName: vm\n"),
            "{out}"
        );
        assert!(out.contains("\n\nInstanceId:"), "{out}");
        assert!(out.contains("PingStatus:   ConnectionLost: not authorized to perform:\n              ssm:UpdateInstanceInformation"), "{out}");
        // With no width to fit, one table row each.
        assert_eq!(
            render(&headers, &[strings(&["a"; 8])], None)
                .lines()
                .count(),
            5
        );
    }

    #[test]
    fn shares_never_exceed_the_room() {
        for room in 10..60 {
            let w = share(&[3, 5, 2], &[30, 5, 40], room);
            assert!(w.iter().sum::<usize>() <= room.max(10), "{room}: {w:?}");
            assert!(w[1] == 5 && w[0] >= 3 && w[2] >= 2, "{w:?}");
        }
        assert_eq!(share(&[3, 5, 2], &[30, 5, 40], 75), vec![30, 5, 40]);
    }
}
