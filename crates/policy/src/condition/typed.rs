//! Typed condition values: numbers, dates (ISO 8601 or epoch seconds),
//! booleans, base64 binaries and IP addresses/CIDR blocks. Each parser
//! returns `None` on anything it does not accept; none of them panics.

use std::net::IpAddr;

/// Parses a decimal number: optional sign, digits with an optional
/// fraction, optional exponent. `NaN`, `inf` and overflow are refused.
pub(crate) fn number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `true`/`false`, any case (IAM compares Bool values case-insensitively).
pub(crate) fn boolean(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub(crate) type Instant = i128;

const NANOS: i128 = 1_000_000_000;

/// Parses a date: epoch seconds (`1563278400`), or ISO 8601
/// `YYYY-MM-DD[Thh:mm[:ss[.fff]]][Z|±hh:mm|±hhmm]` (no zone means UTC).
pub(crate) fn date(s: &str) -> Option<Instant> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 18 && s.bytes().all(|c| c.is_ascii_digit()) {
        return s.parse::<i128>().ok().map(|secs| secs * NANOS);
    }
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    let mut nanos: i128 = 0;
    let mut i = 10;
    if b.len() > i {
        if !matches!(b.get(i), Some(b'T' | b't' | b' ')) {
            return None;
        }
        let hour = digits(b, i + 1, 2)?;
        expect(b, i + 3, b':')?;
        let minute = digits(b, i + 4, 2)?;
        i += 6;
        let mut second = 0;
        if b.get(i) == Some(&b':') {
            second = digits(b, i + 1, 2)?;
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let frac = s.get(start..i)?;
                if frac.is_empty() {
                    return None;
                }
                // Keep nanosecond precision; ignore further digits.
                let mut scaled: i128 = 0;
                for (n, c) in frac.bytes().take(9).enumerate() {
                    scaled += i128::from(c - b'0') * 10i128.pow(8 - n as u32);
                }
                nanos = scaled;
            }
        }
        // A leap second is read as :59.
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs += i128::from(hour) * 3600 + i128::from(minute) * 60 + i128::from(second.min(59));
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) => {
                let oh = digits(b, i + 1, 2)?;
                let om = match b.get(i + 3) {
                    Some(b':') if i + 6 == b.len() => digits(b, i + 4, 2)?,
                    Some(_) if i + 5 == b.len() => digits(b, i + 3, 2)?,
                    None => 0,
                    Some(_) => return None,
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                let offset = i128::from(oh) * 3600 + i128::from(om) * 60;
                secs += if *sign == b'+' { -offset } else { offset };
            }
            Some(_) => return None,
        }
    }
    Some(secs * NANOS + nanos)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = b.get(at..at + n)?;
    slice.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn expect(b: &[u8], at: usize, c: u8) -> Option<()> {
    (b.get(at) == Some(&c)).then_some(())
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: u32, m: u32, d: u32) -> i128 {
    let y = i128::from(y) - i128::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i128::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i128::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Decodes standard base64 (padding optional).
pub(crate) fn base64(s: &str) -> Option<Vec<u8>> {
    let trimmed = s.trim_end_matches('=');
    if s.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in trimmed.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?)
            }
            None => {
                let a = s.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` lies in this block. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`) is compared as IPv4.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8, width: u32) -> bool {
    let prefix = u32::from(prefix).min(width);
    if prefix == 0 {
        return true;
    }
    let shift = width - prefix;
    (a >> shift) == (b >> shift)
}

/// Parses a request's address (a bare IP; a CIDR is read as its address).
pub(crate) fn ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s.split_once('/').map_or(s, |(a, _)| a);
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_accept_decimal_forms_only() {
        assert_eq!(number("10"), Some(10.0));
        assert_eq!(number("-1.5"), Some(-1.5));
        assert_eq!(number("+.5"), Some(0.5));
        assert_eq!(number("1e3"), Some(1000.0));
        for bad in [
            "", "-", ".", "NaN", "inf", "1e", "1e999", "0x10", " 1", "1.2.3",
        ] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_in_iso_and_epoch_agree() {
        let epoch = date("1563278400");
        assert!(epoch.is_some());
        assert_eq!(date("2019-07-16T12:00:00Z"), epoch);
        assert_eq!(date("2019-07-16T12:00:00"), epoch);
        assert_eq!(date("2019-07-16T14:00:00+02:00"), epoch);
        assert_eq!(date("2019-07-16T07:00:00-0500"), epoch);
        assert_eq!(date("2019-07-16T12:00Z"), epoch);
        assert_eq!(date("2019-07-16"), date("1563235200"));
        assert_eq!(date("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn fractional_seconds_order_correctly() {
        let (Some(a), Some(b)) = (
            date("2020-01-01T00:00:00.5Z"),
            date("2020-01-01T00:00:00.25Z"),
        ) else {
            panic!("parse");
        };
        assert_eq!(a - b, 250_000_000);
    }

    #[test]
    fn invalid_dates_are_refused() {
        for bad in [
            "",
            "2019-13-01",
            "2019-02-30",
            "2019-07-16T25:00:00Z",
            "2019-07-16T12:00:00Q",
            "2019-07-16X",
            "19-07-16",
            "2019-07-16T12:00:00.Z",
            "2019-07-16T12:00:00+2",
            "9999999999999999999",
            "२०१९-07-16",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
        assert!(date("2020-02-29").is_some());
        assert!(date("2100-02-29").is_none());
    }

    #[test]
    fn base64_round_trips_and_rejects_junk() {
        assert_eq!(base64("QmluYXJ5VmFsdWU="), Some(b"BinaryValue".to_vec()));
        assert_eq!(base64("QQ"), Some(b"A".to_vec()));
        assert_eq!(base64(""), Some(vec![]));
        assert_eq!(base64("Q"), None);
        assert_eq!(base64("QQ==="), None);
        assert_eq!(base64("Q!=="), None);
    }

    #[test]
    fn cidr_membership_v4_and_v6() {
        let Some(net) = Cidr::parse("203.0.113.0/24") else {
            panic!("parse");
        };
        assert!(net.contains("203.0.113.77".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!net.contains(IpAddr::from([203, 0, 114, 1])));
        assert!(net.contains(IpAddr::from([0, 0, 0, 0, 0, 0xffff, 0xcb00, 0x7101])));
        let Some(v6) = Cidr::parse("2001:db8::/32") else {
            panic!("parse");
        };
        assert!(v6.contains(IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, 1])));
        assert!(!v6.contains(IpAddr::from([10, 0, 0, 1])));
        let Some(all) = Cidr::parse("0.0.0.0/0") else {
            panic!("parse");
        };
        assert!(all.contains(IpAddr::from([8, 8, 8, 8])));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("10.0.0.0/"), None);
        assert_eq!(Cidr::parse("hello"), None);
    }
}
