//! Times of day (`HH:MM`) and quiet hours (`HH:MM-HH:MM`) in alert rules, and the council's time
//! zone (`[alerts] timezone`) they are read in: parsed once, when the configuration is read, into
//! types the rest of alerting uses as they are. [`Zone`] turns a local time of day on a date into
//! an instant, across clock changes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Offset, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer};

/// A time of day, `HH:MM`, on the council's clock (`[alerts] timezone`).
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
    #[error("`{0}` is not a time of day: write it as HH:MM, e.g. \"08:00\"")]
    TimeOfDay(String),
    /// Not `HH:MM-HH:MM`, or a span that starts where it ends.
    #[error("`{0}` is not a span of hours: write it as HH:MM-HH:MM, e.g. \"22:00-07:00\"")]
    QuietHours(String),
    /// Not a name in the IANA time zone database.
    #[error(
        "`{0}` is not a time zone: use an IANA name such as \"Europe/London\" (the default) or \"UTC\""
    )]
    Zone(String),
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

/// The time zone alert rules' times are read in (`[alerts] timezone`, an IANA name; default
/// `Europe/London`). The zone database is compiled in, so the host's tzdata does not matter.
///
/// # Example
///
/// ```
/// use ballotwatch_alerting::time::{TimeOfDay, Zone};
/// use chrono::{NaiveDate, TimeZone, Utc};
///
/// let london: Zone = "Europe/London".parse().unwrap();
/// let eight = TimeOfDay::EIGHT_AM;
/// // 08:00 in London is 08:00 UTC in winter and 07:00 UTC in summer.
/// let winter = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
/// let summer = NaiveDate::from_ymd_opt(2026, 7, 15).unwrap();
/// assert_eq!(london.at(winter, eight), Utc.with_ymd_and_hms(2026, 1, 15, 8, 0, 0).unwrap());
/// assert_eq!(london.at(summer, eight), Utc.with_ymd_and_hms(2026, 7, 15, 7, 0, 0).unwrap());
/// assert!("Europe/Londn".parse::<Zone>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(chrono_tz::Tz);

impl Zone {
    /// `Europe/London`, the default.
    pub const LONDON: Zone = Zone(chrono_tz::Europe::London);
    /// UTC.
    pub const UTC: Zone = Zone(chrono_tz::UTC);

    /// The instant `time` falls on `date` on this zone's clock. When the clocks go forward and
    /// `time` does not exist that day, the same time after the jump (01:30 on the spring change
    /// day in London is 02:30 BST); when they go back and it happens twice, the first.
    pub fn at(self, date: NaiveDate, time: TimeOfDay) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        let local = midnight + Duration::minutes(i64::from(time.minutes()));
        if let Some(t) = self.0.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        // In a gap: read `local` with the offset in force just before the clocks jumped. A gap
        // is at most a few hours in any zone; find its end a quarter-hour at a time.
        let mut probe = local;
        for _ in 0..16 {
            probe += Duration::minutes(15);
            if let Some(after) = self.0.from_local_datetime(&probe).earliest() {
                let before = after.with_timezone(&Utc) - Duration::seconds(1);
                let offset = self.0.offset_from_utc_datetime(&before.naive_utc()).fix();
                let utc = local - Duration::seconds(i64::from(offset.local_minus_utc()));
                return Utc.from_utc_datetime(&utc);
            }
        }
        Utc.from_utc_datetime(&local)
    }

    /// `t`'s date and minutes after midnight on this zone's clock.
    pub fn local(self, t: DateTime<Utc>) -> (NaiveDate, u32) {
        let l = t.with_timezone(&self.0);
        (l.date_naive(), l.hour() * 60 + l.minute())
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::LONDON
    }
}

impl FromStr for Zone {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<Zone, TimeError> {
        s.parse::<chrono_tz::Tz>()
            .map(Zone)
            .map_err(|_| TimeError::Zone(s.to_string()))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, d, h, min, 0).unwrap()
    }

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    fn hm(s: &str) -> TimeOfDay {
        s.parse().unwrap()
    }

    #[test]
    fn london_times_follow_the_clock_changes() {
        let z = Zone::LONDON;
        // Clocks go forward at 01:00 UTC on Sunday 29 March 2026 and back at 01:00 UTC on
        // Sunday 25 October 2026.
        assert_eq!(z.at(day(3, 28), hm("08:00")), utc(3, 28, 8, 0));
        assert_eq!(z.at(day(3, 29), hm("08:00")), utc(3, 29, 7, 0));
        assert_eq!(z.at(day(10, 24), hm("08:00")), utc(10, 24, 7, 0));
        assert_eq!(z.at(day(10, 25), hm("08:00")), utc(10, 25, 8, 0));
        // 01:30 does not exist on the spring day: the same time after the jump, 02:30 BST.
        assert_eq!(z.at(day(3, 29), hm("01:30")), utc(3, 29, 1, 30));
        // 01:30 happens twice on the autumn day: the first, 01:30 BST.
        assert_eq!(z.at(day(10, 25), hm("01:30")), utc(10, 25, 0, 30));
        assert_eq!(z.local(utc(3, 29, 1, 0)), (day(3, 29), 2 * 60));
        assert_eq!(z.local(utc(10, 25, 1, 0)), (day(10, 25), 60));
    }

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(Zone::default(), Zone::LONDON);
        assert_eq!("UTC".parse::<Zone>(), Ok(Zone::UTC));
        assert_eq!(Zone::LONDON.to_string(), "Europe/London");
        let err = "GMT+1 please".parse::<Zone>().unwrap_err().to_string();
        assert!(err.contains("Europe/London"), "{err}");
        let kolkata: Zone = "Asia/Kolkata".parse().unwrap();
        assert_eq!(kolkata.at(day(6, 1), hm("05:30")), utc(6, 1, 0, 0));
    }

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
