//! Timestamps as Gen3 writes them: naive UTC ISO-8601 with microseconds, no offset.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The wire and storage format, e.g. `2020-04-23T21:42:36.506404`. It sorts as text.
pub const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// Now, formatted.
#[must_use]
pub fn now_string() -> String {
    format_utc(Utc::now())
}

/// Format a UTC instant.
#[must_use]
pub fn format_utc(t: DateTime<Utc>) -> String {
    t.naive_utc().format(FORMAT).to_string()
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
    match NaiveDateTime::parse_from_str(stored, FORMAT) {
        Ok(t) => t.and_utc().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Err(_) => stored.to_owned(),
    }
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
        let now = now_string();
        assert_eq!(now.len(), 26, "{now}");
    }
}
