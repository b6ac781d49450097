//! When each job is due, and which are overdue: a job whose last pass is
//! older than twice its interval (from its cron string) while the scheduler
//! runs makes `/status` degraded, with the job named.

use chrono::{DateTime, Utc};

use super::Job;
use crate::app::AppState;
use crate::domain::Timestamp;

/// One job's timing as `/status` and `/admin` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub job: Job,
    /// Seconds between two passes (the longest gap of its next few).
    pub every: i64,
    /// The next pass by the schedule.
    pub next: Option<Timestamp>,
    /// The last pass, if any was recorded.
    pub last: Option<Timestamp>,
    /// Late by more than twice its interval (only while the scheduler runs).
    pub overdue: bool,
}

fn cron(s: &str) -> Option<croner::Cron> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(s)
        .ok()
}

/// The next run of `schedule` after `now`, and the longest gap between its
/// next five runs.
pub fn next_and_every(schedule: &str, now: Timestamp) -> Option<(Timestamp, i64)> {
    let c = cron(schedule)?;
    let start = DateTime::<Utc>::from_timestamp(now, 0)?;
    let runs: Vec<i64> = c.iter_after(start).take(6).map(|t| t.timestamp()).collect();
    let every = runs.windows(2).map(|w| w[1] - w[0]).max()?;
    Some((*runs.first()?, every))
}

/// Every job's timing now.
pub fn timings(st: &AppState) -> Vec<Timing> {
    use std::sync::atomic::Ordering;
    let now = st.now();
    let running = st.guards.scheduler_running.load(Ordering::SeqCst);
    let started = st.guards.scheduler_started.load(Ordering::SeqCst);
    let records = st.store.jobs().unwrap_or_default();
    Job::ALL
        .iter()
        .map(|job| {
            let (next, every) = next_and_every(st.config.schedules.of(job.name()), now)
                .map_or((None, 0), |(n, e)| (Some(n), e));
            let last = records
                .iter()
                .find(|(n, _)| n == job.name())
                .map(|(_, r)| r.last_run);
            let since = last.unwrap_or(started).max(started);
            Timing {
                job: *job,
                every,
                next,
                last,
                overdue: running && every > 0 && now - since > 2 * every,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::next_and_every;

    #[test]
    fn the_interval_is_the_longest_gap_of_the_next_runs() {
        // 2026-01-01T00:00:00Z.
        let t = 1_767_225_600;
        assert_eq!(next_and_every("0 */15 * * * *", t), Some((t + 900, 900)));
        assert_eq!(next_and_every("30 * * * * *", t), Some((t + 30, 60)));
        assert_eq!(next_and_every("0 5 * * * *", t), Some((t + 300, 3600)));
        assert_eq!(next_and_every("not cron", t), None);
    }
}
