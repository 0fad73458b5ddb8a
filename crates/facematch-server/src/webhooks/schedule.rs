//! When a failed webhook delivery is tried again: `--webhook-retry-schedule`, a comma list
//! of delays (`10s,30s,2m,1h`), each drawn with ±20 % jitter so that many events failing
//! together do not come back together.
//!
//! The default, [`DEFAULT_SCHEDULE`], is `10s,30s,2m,10m,30m,1h,2h,4h,8h,8h`: the first
//! try plus 10 retries, 11 tries spread over about 24 hours (before jitter: 23 h 42 min
//! 40 s), after which the delivery is given up (state `failed`, still in the delivery log
//! and resendable). Any 2xx answer is a delivery; anything else (a 3xx, which is never
//! followed, a 4xx, a 5xx, a timeout, a refused address, a connection error) is a failed try.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The default `--webhook-retry-schedule`: 11 tries over about 24 hours.
pub const DEFAULT_SCHEDULE: &str = "10s,30s,2m,10m,30m,1h,2h,4h,8h,8h";

/// Most retries a schedule may list.
pub const MAX_RETRIES: usize = 100;

/// Longest single delay a schedule may list: 7 days.
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Jitter applied to every delay: the delay is drawn uniformly within ±this fraction.
pub const JITTER: f64 = 0.2;

/// Why a `--webhook-retry-schedule` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Nothing in it: every schedule has at least one retry.
    #[error("the retry schedule is empty: give at least one delay, e.g. `10s,1m`")]
    Empty,
    /// More than [`MAX_RETRIES`] delays.
    #[error("the retry schedule lists {0} delays; at most {MAX_RETRIES}")]
    TooLong(usize),
    /// One item is not a number followed by `ms`, `s`, `m` or `h`.
    #[error("`{0}` is not a delay: write a whole number followed by ms, s, m or h (e.g. 30s, 2m)")]
    BadItem(String),
    /// One delay is zero or longer than [`MAX_DELAY`].
    #[error("`{0}` is out of range: each delay must be above 0 and at most 7 days")]
    OutOfRange(String),
}

/// The delays between tries of one delivery (`--webhook-retry-schedule`).
#[derive(Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// A schedule of these delays (the first is waited after the first failed try).
    pub fn new(delays: Vec<Duration>) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if delays.len() > MAX_RETRIES {
            return Err(ScheduleError::TooLong(delays.len()));
        }
        if let Some(bad) = delays.iter().find(|d| d.is_zero() || **d > MAX_DELAY) {
            return Err(ScheduleError::OutOfRange(format!("{bad:?}")));
        }
        Ok(Self { delays })
    }

    /// The delays, without jitter.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Tries a delivery gets in all: the first plus one per delay.
    pub fn max_tries(&self) -> usize {
        self.delays.len() + 1
    }

    /// The delay before the next try once `attempts_done` tries (≥ 1) have failed, with
    /// ±20 % jitter; `None` when the schedule is spent (give up).
    pub fn next(&self, attempts_done: u32) -> Option<Duration> {
        self.base(attempts_done).map(jittered)
    }

    /// The delay before the next try once `attempts_done` tries have failed, without
    /// jitter; `None` when the schedule is spent (or `attempts_done` is 0).
    pub fn base(&self, attempts_done: u32) -> Option<Duration> {
        let index = usize::try_from(attempts_done).ok()?.checked_sub(1)?;
        self.delays.get(index).copied()
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        // Ten hand-written delays, all valid.
        Self {
            delays: [10, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 28_800]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        }
    }
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let items: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.len() > MAX_RETRIES {
            return Err(ScheduleError::TooLong(items.len()));
        }
        let delays = items
            .into_iter()
            .map(parse_delay)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(delays)
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.delays.iter().map(|d| format_delay(*d)).collect();
        f.write_str(&items.join(","))
    }
}

impl fmt::Debug for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetrySchedule({self})")
    }
}

/// One delay: a whole number and a unit (`ms`, `s`, `m`, `h`).
fn parse_delay(item: &str) -> Result<Duration, ScheduleError> {
    let bad = || ScheduleError::BadItem(item.to_owned());
    let split = item.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = item.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let per_unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    let ms = n
        .checked_mul(per_unit_ms)
        .ok_or_else(|| ScheduleError::OutOfRange(item.to_owned()))?;
    let delay = Duration::from_millis(ms);
    if delay.is_zero() || delay > MAX_DELAY {
        return Err(ScheduleError::OutOfRange(item.to_owned()));
    }
    Ok(delay)
}

/// A delay in the largest unit that writes it whole.
fn format_delay(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `d` scaled by a factor drawn uniformly in [1 − JITTER, 1 + JITTER].
fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::random_range((1.0 - JITTER)..=(1.0 + JITTER)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_documented_string_eleven_tries_over_about_a_day() {
        let parsed: RetrySchedule = DEFAULT_SCHEDULE.parse().expect("default parses");
        assert_eq!(parsed, RetrySchedule::default());
        assert_eq!(parsed.to_string(), DEFAULT_SCHEDULE);
        assert_eq!(parsed.max_tries(), 11);
        let total: Duration = parsed.delays().iter().sum();
        assert_eq!(total, Duration::from_secs(23 * 3600 + 42 * 60 + 40));
    }

    #[test]
    fn next_follows_the_list_then_gives_up() {
        let s: RetrySchedule = "200ms, 1s,2m,1h".parse().expect("parses");
        assert_eq!(s.base(0), None);
        assert_eq!(s.base(1), Some(Duration::from_millis(200)));
        assert_eq!(s.base(2), Some(Duration::from_secs(1)));
        assert_eq!(s.base(3), Some(Duration::from_secs(120)));
        assert_eq!(s.base(4), Some(Duration::from_secs(3600)));
        assert_eq!(s.base(5), None);
        assert_eq!(s.next(5), None);
        assert_eq!(s.next(u32::MAX), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_varies() {
        let s: RetrySchedule = "10s".parse().expect("parses");
        let draws: Vec<Duration> = (0..200).filter_map(|_| s.next(1)).collect();
        assert_eq!(draws.len(), 200);
        for d in &draws {
            assert!(
                (Duration::from_secs(8)..=Duration::from_secs(12)).contains(d),
                "{d:?}"
            );
        }
        let min = draws.iter().min().copied().unwrap_or_default();
        let max = draws.iter().max().copied().unwrap_or_default();
        assert!(
            max - min > Duration::from_millis(500),
            "no jitter: {min:?}..{max:?}"
        );
    }

    #[test]
    fn bad_schedules_are_refused_with_a_reason() {
        assert_eq!("".parse::<RetrySchedule>(), Err(ScheduleError::Empty));
        assert_eq!(" , ".parse::<RetrySchedule>(), Err(ScheduleError::Empty));
        for bad in ["10", "s", "10x", "1.5s", "-1s", "10 s"] {
            assert_eq!(
                bad.parse::<RetrySchedule>(),
                Err(ScheduleError::BadItem(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            "0s".parse::<RetrySchedule>(),
            Err(ScheduleError::OutOfRange("0s".into()))
        );
        assert_eq!(
            "169h".parse::<RetrySchedule>(),
            Err(ScheduleError::OutOfRange("169h".into()))
        );
        assert_eq!(
            "99999999999999999999h".parse::<RetrySchedule>(),
            Err(ScheduleError::BadItem("99999999999999999999h".into()))
        );
        let long = vec!["1s"; MAX_RETRIES + 1].join(",");
        assert_eq!(
            long.parse::<RetrySchedule>(),
            Err(ScheduleError::TooLong(MAX_RETRIES + 1))
        );
    }
}
