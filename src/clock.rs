//! The one wall clock: UTC, whole seconds (what state records and log lines show).

use time::OffsetDateTime;

/// Now, in UTC, truncated to the second.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Now as RFC 3339 (`2026-11-29T03:04:05Z`), for plain log lines.
pub fn timestamp() -> String {
    now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
