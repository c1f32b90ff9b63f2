//! Times of day (`HH:MM`, UTC) and quiet hours (`HH:MM-HH:MM`) in alert rules.

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Parses quiet hours `HH:MM-HH:MM` into (start, end) minutes after midnight; the span may
/// wrap past midnight.
pub fn parse_quiet_hours(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (parse_hhmm(a)?, parse_hhmm(b)?);
    (a != b).then_some((a, b))
}
