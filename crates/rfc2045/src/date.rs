//! Dates: RFC 2822 `Date:` values, IMAP date-time (INTERNALDATE, APPEND) and SEARCH dates.

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1-12, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn month(s: &[u8]) -> Option<u32> {
    if s.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| s[..3].eq_ignore_ascii_case(&m[..]))
        .map(|i| i as u32 + 1)
}

fn zone_name(s: &[u8]) -> Option<i32> {
    let up = s.to_ascii_uppercase();
    let h = match &up[..] {
        b"UT" | b"UTC" | b"GMT" | b"Z" => 0,
        b"EST" => -5,
        b"EDT" => -4,
        b"CST" => -6,
        b"CDT" => -5,
        b"MST" => -7,
        b"MDT" => -6,
        b"PST" => -8,
        b"PDT" => -7,
        // Military zones are ambiguous (RFC 2822 4.3): treated as +0000.
        [c] if c.is_ascii_alphabetic() => 0,
        _ => return None,
    };
    Some(h * 3600)
}

fn num(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter()
        .try_fold(0i64, |a, &d| Some(a * 10 + i64::from(d - b'0')))
}

/// Tokens of a date: words and numbers, comments and punctuation removed; `+`/`-` kept
/// in front of numbers; `:` kept inside times.
fn tokens(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    while i < v.len() {
        let b = v[i];
        if b == b'(' {
            depth += 1;
            i += 1;
        } else if b == b')' {
            depth = depth.saturating_sub(1);
            i += 1;
        } else if depth > 0 || !(b.is_ascii_alphanumeric() || b == b'+' || b == b'-') {
            i += 1;
        } else {
            let start = i;
            i += 1;
            while i < v.len() && (v[i].is_ascii_alphanumeric() || v[i] == b':') {
                i += 1;
            }
            out.push(&v[start..i]);
        }
    }
    out
}

fn epoch(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64, tz: i32) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - i64::from(tz))
}

/// RFC 2822 / RFC 822 Date header value -> (UTC epoch secs, tz offset secs). Lenient:
/// weekday optional, 2-digit (and 3-digit) years, obsolete zone names, comments, missing
/// seconds or zone (then +0000).
pub fn parse_rfc2822(v: &[u8]) -> Option<(i64, i32)> {
    let mut toks = tokens(v);
    // Drop a weekday or any leading words that are not months.
    while let Some(t) = toks.first() {
        if t[0].is_ascii_alphabetic() && month(t).is_none() {
            toks.remove(0);
        } else {
            break;
        }
    }
    let (mut day, mut mo) = (None, None);
    let mut i = 0;
    // "7 Feb" or "Feb 7".
    while i < toks.len() && (day.is_none() || mo.is_none()) {
        let t = toks[i];
        if let Some(m) = month(t).filter(|_| t[0].is_ascii_alphabetic()) {
            mo = Some(m);
        } else if let Some(n) = num(t) {
            day = Some(n);
        } else {
            return None;
        }
        i += 1;
    }
    let (day, mo) = (day?, mo?);
    let mut year = num(toks.get(i)?)?;
    i += 1;
    let yl = toks[i - 1].len();
    if yl <= 2 {
        year += if year < 50 { 2000 } else { 1900 };
    } else if yl == 3 {
        year += 1900;
    }
    let (mut h, mut mi, mut s) = (0, 0, 0);
    if let Some(t) = toks.get(i).filter(|t| t.contains(&b':')) {
        let mut parts = t.split(|&b| b == b':');
        h = num(parts.next()?)?;
        mi = num(parts.next()?)?;
        s = parts.next().map(num).unwrap_or(Some(0))?;
        i += 1;
    }
    let tz = match toks.get(i) {
        Some(t) if (t[0] == b'+' || t[0] == b'-') && t.len() == 5 => {
            let n = num(&t[1..])?;
            let off = ((n / 100) * 3600 + (n % 100) * 60) as i32;
            if t[0] == b'-' { -off } else { off }
        }
        Some(t) => zone_name(t).unwrap_or(0),
        None => 0,
    };
    Some((epoch(year, mo, u32::try_from(day).ok()?, h, mi, s, tz)?, tz))
}

/// IMAP date-time `dd-Mon-yyyy hh:mm:ss +zzzz` (without quotes; the day may be one digit
/// or space-padded).
pub fn parse_date_time(v: &[u8]) -> Option<(i64, i32)> {
    let v = v.strip_prefix(b" ").unwrap_or(v);
    let mut it = v.split(|&b| b == b' ');
    let date = it.next()?;
    let time = it.next()?;
    let zone = it.next()?;
    if it.next().is_some() {
        return None;
    }
    let mut d = date.split(|&b| b == b'-');
    let day = d
        .next()
        .filter(|x| (1..=2).contains(&x.len()))
        .and_then(num)?;
    let mo = d.next().filter(|m| m.len() == 3).and_then(month)?;
    let year = d.next().filter(|y| y.len() == 4).and_then(num)?;
    if d.next().is_some() || time.len() != 8 || zone.len() != 5 {
        return None;
    }
    let mut t = time.split(|&b| b == b':');
    let h = t.next().filter(|x| x.len() == 2).and_then(num)?;
    let mi = t.next().filter(|x| x.len() == 2).and_then(num)?;
    let s = t.next().filter(|x| x.len() == 2).and_then(num)?;
    let sign = match zone[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let z = num(&zone[1..])?;
    if z % 100 > 59 {
        return None;
    }
    let tz = sign * ((z / 100) * 3600 + (z % 100) * 60) as i32;
    Some((epoch(year, mo, u32::try_from(day).ok()?, h, mi, s, tz)?, tz))
}

/// INTERNALDATE text as Debian's imapd prints it, without quotes:
/// `05-Mar-2020 04:05:06 +0000` (two-digit day), in the zone `tz_offset_secs`.
pub fn format_date_time(epoch: i64, tz_offset_secs: i32) -> String {
    let local = epoch + i64::from(tz_offset_secs);
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    let sign = if tz_offset_secs < 0 { '-' } else { '+' };
    let off = i64::from(tz_offset_secs).abs() / 60;
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
        d,
        std::str::from_utf8(MONTHS[(m - 1) as usize]).unwrap_or("Jan"),
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        sign,
        off / 60,
        off % 60
    )
}

/// SEARCH date `d-Mon-yyyy` (day 1 or 2 digits, optionally quoted by the caller) -> days
/// since 1970-01-01.
pub fn parse_search_date(v: &[u8]) -> Option<i64> {
    let mut d = v.split(|&b| b == b'-');
    let day = d
        .next()
        .filter(|x| (1..=2).contains(&x.len()))
        .and_then(num)?;
    let mo = d.next().filter(|m| m.len() == 3).and_then(month)?;
    let year = d.next().filter(|y| y.len() == 4).and_then(num)?;
    if d.next().is_some() || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, mo, u32::try_from(day).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2822() {
        let t = parse_rfc2822(b"Mon, 7 Feb 1994 21:52:25 -0800 (PST)").unwrap();
        assert_eq!(t, (760_686_745, -8 * 3600));
        assert_eq!(parse_rfc2822(b"7 Feb 94 21:52:25 PST"), Some(t));
        assert_eq!(parse_rfc2822(b"7 Feb 94 21:52:25 PST").unwrap().1, -28800);
        assert_eq!(parse_rfc2822(b"Thu, 1 Jan 1970 00:00:00 GMT"), Some((0, 0)));
        assert_eq!(parse_rfc2822(b"1 Jan 70 00:00 UT"), Some((0, 0)));
        assert_eq!(parse_rfc2822(b"Jan 1 2000 00:00:00 +0100").unwrap().1, 3600);
        assert_eq!(parse_rfc2822(b"garbage"), None);
        assert_eq!(parse_rfc2822(b""), None);
        assert_eq!(parse_rfc2822(b"32 Jan 2000"), None);
    }

    #[test]
    fn imap_dates() {
        assert_eq!(
            format_date_time(1_583_381_106, -5 * 3600),
            "04-Mar-2020 23:05:06 -0500"
        );
        assert_eq!(format_date_time(0, 0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(format_date_time(0, 19_800), "01-Jan-1970 05:30:00 +0530");
        assert_eq!(
            parse_date_time(b"04-Mar-2020 23:05:06 -0500"),
            Some((1_583_381_106, -18_000))
        );
        assert_eq!(
            parse_date_time(b" 4-Mar-2020 23:05:06 -0500").unwrap().0,
            1_583_381_106
        );
        assert_eq!(parse_date_time(b"4-Mar-2020 23:05:06"), None);
        assert_eq!(parse_search_date(b"1-Jan-1970"), Some(0));
        assert_eq!(parse_search_date(b"01-Feb-1970"), Some(31));
        assert_eq!(parse_search_date(b"1-Foo-1970"), None);
        for d in [-1_000_000i64, -1, 0, 1, 11_016, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
