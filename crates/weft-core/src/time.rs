//! Timestamps as Gen3 writes them: naive UTC ISO-8601 with microseconds, no offset.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDateTime, Utc};

/// The wire and storage format, e.g. `2020-04-23T21:42:36.506404`. It sorts as text.
pub const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// Now, formatted.
#[must_use]
pub fn now_string() -> String {
    format_utc(Utc::now())
}

/// [`FORMAT`], parsed once: a bulk import formats a date per record.
static FORMAT_ITEMS: std::sync::LazyLock<Vec<Item<'static>>> = std::sync::LazyLock::new(|| {
    StrftimeItems::new(FORMAT)
        .parse_to_owned()
        .unwrap_or_default()
});

/// Format a UTC instant.
#[must_use]
pub fn format_utc(t: DateTime<Utc>) -> String {
    t.naive_utc()
        .format_with_items(FORMAT_ITEMS.iter())
        .to_string()
}

/// Parse an ISO-8601 date-time as indexd accepts it (RFC 3339 with offset, or naive,
/// with or without fractional seconds, `T` or space separated). Returns UTC.
#[must_use]
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t);
        }
    }
    None
}

/// Normalize an accepted date-time to [`FORMAT`].
#[must_use]
pub fn normalize(s: &str) -> Option<String> {
    parse_datetime(s).map(|t| t.format(FORMAT).to_string())
}

/// Format a stored naive UTC timestamp as RFC 3339 with a `Z`, as GA4GH DRS requires.
#[must_use]
pub fn to_rfc3339(stored: &str) -> String {
    // Every timestamp weft writes is already in [`FORMAT`], whose RFC 3339 spelling is the
    // same text plus `Z`: checking the shape costs a fraction of a chrono parse and format
    // (which were a seventh of a DRS object GET's instructions).
    if is_canonical(stored) {
        let mut out = String::with_capacity(stored.len() + 1);
        out.push_str(stored);
        out.push('Z');
        return out;
    }
    match NaiveDateTime::parse_from_str(stored, FORMAT) {
        Ok(t) => t.and_utc().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Err(_) => stored.to_owned(),
    }
}

/// Whether `s` is a valid date-time exactly as [`FORMAT`] writes it
/// (`YYYY-MM-DDTHH:MM:SS.ffffff`, no leap second), so that parsing and formatting it again
/// would give back the same text.
fn is_canonical(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 26 {
        return false;
    }
    let shape_ok = b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        19 => *c == b'.',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return false;
    }
    let num = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .fold(0u32, |n, c| n * 10 + u32::from(c - b'0'))
    };
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && num(11, 13) < 24 && num(14, 16) < 60 && num(17, 19) < 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            normalize("2020-04-23T21:42:36.506404").unwrap(),
            "2020-04-23T21:42:36.506404"
        );
        assert_eq!(
            normalize("2020-04-23T21:42:36Z").unwrap(),
            "2020-04-23T21:42:36.000000"
        );
        assert_eq!(
            normalize("2020-04-23T23:42:36+02:00").unwrap(),
            "2020-04-23T21:42:36.000000"
        );
        assert_eq!(
            normalize("2020-04-23 21:42:36.5").unwrap(),
            "2020-04-23T21:42:36.500000"
        );
        assert!(normalize("yesterday").is_none());
        assert!(normalize("").is_none());
        assert_eq!(
            to_rfc3339("2020-04-23T21:42:36.506404"),
            "2020-04-23T21:42:36.506404Z"
        );
        assert_eq!(to_rfc3339("not a date"), "not a date");
        let now = now_string();
        assert_eq!(now.len(), 26, "{now}");
        // the format parsed once writes what chrono's format string does
        for t in [
            Utc::now(),
            DateTime::from_timestamp(0, 0).unwrap_or_default(),
            DateTime::from_timestamp(253_402_300_799, 999_999_999).unwrap_or_default(),
        ] {
            assert_eq!(
                format_utc(t),
                t.naive_utc().format(FORMAT).to_string(),
                "{t:?}"
            );
        }
        assert_eq!(
            format_utc(DateTime::from_timestamp(1_587_678_156, 506_404_000).unwrap_or_default()),
            "2020-04-23T21:42:36.506404"
        );
    }

    /// The shortcut answers exactly what chrono's parse and format do.
    #[test]
    fn rfc3339_shortcut_agrees_with_chrono() {
        fn slow(stored: &str) -> String {
            match NaiveDateTime::parse_from_str(stored, FORMAT) {
                Ok(t) => t.and_utc().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                Err(_) => stored.to_owned(),
            }
        }
        let cases = [
            "2020-04-23T21:42:36.506404",
            "0000-01-01T00:00:00.000000",
            "9999-12-31T23:59:59.999999",
            "2024-02-29T12:00:00.000000",
            "2023-02-29T12:00:00.000000",
            "2100-02-29T12:00:00.000000",
            "2000-02-29T12:00:00.000000",
            "2020-04-31T00:00:00.000000",
            "2020-13-01T00:00:00.000000",
            "2020-00-01T00:00:00.000000",
            "2020-01-00T00:00:00.000000",
            "2020-01-01T24:00:00.000000",
            "2020-01-01T23:60:00.000000",
            "2020-01-01T23:59:60.000000",
            "2020-01-01 23:59:59.000000",
            "2020-01-01T23:59:59.00000",
            "2020-01-01T23:59:59.0000000",
            "2020-01-01T23:59:59",
            "2020-01-01T23:59:59.00000a",
            "2020-01-01T23:59:59Z",
            "+020-01-01T23:59:59.000000",
            "",
        ];
        for c in cases {
            assert_eq!(to_rfc3339(c), slow(c), "{c}");
        }
        let now = now_string();
        assert_eq!(to_rfc3339(&now), slow(&now));
    }
}
