//! RFC 3339 timestamps as images write them (`created`, history entries), on top of
//! `jiff`: whole seconds since the Unix epoch in, UTC text out.

use jiff::civil::DateTime;
use jiff::Timestamp;

/// Formats seconds since the epoch as RFC 3339 UTC without fractions
/// (`2024-05-01T12:00:00Z`), the form the generated configs carry.
pub(crate) fn rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    match Timestamp::from_second(secs) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        // Past jiff's range (year 9999): clamp to its last second rather than fail.
        Err(_) => Timestamp::MAX.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

/// Parses an RFC 3339 timestamp to whole seconds since the epoch: fractions are
/// dropped, offsets applied, and a timestamp without an offset (some image tools
/// write them) is taken as UTC.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t.as_second());
    }
    let civil: DateTime = text.parse().ok()?;
    jiff::tz::Offset::UTC.to_timestamp(civil).ok().map(Timestamp::as_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for s in [0u64, 1_700_000_000, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339(s)), Some(s as i64));
        }
        assert_eq!(parse_rfc3339("2023-11-14T23:13:20.123456789+01:00"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14t22:13:20z"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14 22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2023-13-01T00:00:00Z"), None);
    }
}
