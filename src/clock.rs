//! The only place that reads the system time. Everything else asks a [`Clock`],
//! so tests move time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now().timestamp()
    }
}

/// A clock that only moves when told to (tests, demos).
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start))
    }
    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    /// Sets the clock.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 form of a timestamp.
pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `2026-11-23 15:04 UTC`.
pub fn human(t: Timestamp) -> String {
    use chrono::{Datelike, Timelike};
    // Written field by field: pages print dozens of times per view, and a
    // strftime pattern is parsed again on every call.
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute()
            )
        })
        .unwrap_or_default()
}

/// `3 d 4 h`, `14 d`, `5 h 12 min`, `3 h`, `40 s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        _ if secs == u64::MAX => "unlimited".into(),
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Measures how long something took, for metrics only (never for decisions,
/// which use the injected [`Clock`]).
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Starts measuring.
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }
    /// Seconds since the start.
    pub fn secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_times_match_the_strftime_pattern() {
        assert_eq!(human(0), "1970-01-01 00:00 UTC");
        assert_eq!(human(1_795_014_240), "2026-11-18 15:04 UTC");
        let mut t: i64 = -86_400 * 365;
        while t < 4_102_444_800 {
            let want = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%d %H:%M UTC")
                .to_string();
            assert_eq!(human(t), want, "{t}");
            t += 7_777_777;
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(40), "40 s");
        assert_eq!(duration(3 * 3600), "3 h");
        assert_eq!(duration(3 * 3600 + 60), "3 h 1 min");
        assert_eq!(duration(14 * 86_400), "14 d");
        assert_eq!(duration(86_400 + 7200), "1 d 2 h");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
