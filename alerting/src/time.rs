//! Times of day (`HH:MM`, UTC) and quiet hours (`HH:MM-HH:MM`) in alert rules: parsed once, when
//! the configuration is read, into types the rest of alerting uses as they are.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A time of day, `HH:MM` (UTC).
///
/// # Example
///
/// ```
/// use ballotwatch_alerting::time::TimeOfDay;
///
/// let t: TimeOfDay = "08:30".parse().unwrap();
/// assert_eq!(t.minutes(), 8 * 60 + 30);
/// assert_eq!(t.to_string(), "08:30");
/// assert!("8:30".parse::<TimeOfDay>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u32);

impl TimeOfDay {
    /// 08:00, when daily digests go out unless a rule says otherwise.
    pub const EIGHT_AM: TimeOfDay = TimeOfDay(8 * 60);

    /// `hour:minute`, if both are in range.
    pub fn new(hour: u32, minute: u32) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60).then_some(TimeOfDay(hour * 60 + minute))
    }

    /// Minutes after midnight (0 to 1439).
    pub fn minutes(self) -> u32 {
        self.0
    }

    /// The hour (0 to 23).
    pub fn hour(self) -> u32 {
        self.0 / 60
    }

    /// The minute of the hour (0 to 59).
    pub fn minute(self) -> u32 {
        self.0 % 60
    }
}

/// Why a time of day or a span of hours did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not `HH:MM`.
    #[error("`{0}` is not a time of day: write it as HH:MM (UTC), e.g. \"08:00\"")]
    TimeOfDay(String),
    /// Not `HH:MM-HH:MM`, or a span that starts where it ends.
    #[error("`{0}` is not a span of hours: write it as HH:MM-HH:MM (UTC), e.g. \"22:00-07:00\"")]
    QuietHours(String),
}

impl FromStr for TimeOfDay {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<TimeOfDay, TimeError> {
        let bad = || TimeError::TimeOfDay(s.to_string());
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let (h, m) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        TimeOfDay::new(h, m).ok_or_else(bad)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TimeOfDay, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Quiet hours, `HH:MM-HH:MM` (UTC): a span that may wrap past midnight and is never empty.
///
/// # Example
///
/// ```
/// use ballotwatch_alerting::time::QuietHours;
///
/// let q: QuietHours = "22:00-07:00".parse().unwrap();
/// assert!(q.contains(23 * 60) && q.contains(60) && !q.contains(12 * 60));
/// assert!("09:00-09:00".parse::<QuietHours>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// When the span starts.
    pub start: TimeOfDay,
    /// When it ends (the first minute that is no longer quiet).
    pub end: TimeOfDay,
}

impl QuietHours {
    /// Whether `minute` after midnight falls inside the span.
    pub fn contains(self, minute: u32) -> bool {
        let (start, end) = (self.start.minutes(), self.end.minutes());
        if start < end {
            (start..end).contains(&minute)
        } else {
            minute >= start || minute < end
        }
    }
}

impl FromStr for QuietHours {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<QuietHours, TimeError> {
        let bad = || TimeError::QuietHours(s.to_string());
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (start, end): (TimeOfDay, TimeOfDay) =
            (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if start == end {
            return Err(bad());
        }
        Ok(QuietHours { start, end })
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

impl<'de> Deserialize<'de> for QuietHours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<QuietHours, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!("00:00".parse::<TimeOfDay>().unwrap().minutes(), 0);
        assert_eq!("23:59".parse::<TimeOfDay>().unwrap().minutes(), 1439);
        for bad in [
            "24:00", "12:60", "8:00", "08:0", "0800", "", "ab:cd", "-1:00",
        ] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
    }

    #[test]
    fn quiet_hours_may_wrap_but_not_be_empty() {
        let q: QuietHours = "09:00-17:30".parse().unwrap();
        assert!(q.contains(9 * 60) && !q.contains(17 * 60 + 30));
        assert!("22:00-07:00".parse::<QuietHours>().unwrap().contains(0));
        assert!("07:00-07:00".parse::<QuietHours>().is_err());
        assert!("07:00".parse::<QuietHours>().is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(s in "\\PC{0,16}") {
            if let Ok(t) = s.parse::<TimeOfDay>() {
                proptest::prop_assert_eq!(t.to_string().parse::<TimeOfDay>(), Ok(t));
            }
            if let Ok(q) = s.parse::<QuietHours>() {
                proptest::prop_assert_eq!(q.to_string().parse::<QuietHours>(), Ok(q));
            }
        }
    }
}
