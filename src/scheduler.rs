//! Wires the cron strings of the configuration to the jobs.

/// Checks a six-field cron string (with seconds); the error says what is expected.
pub fn check_cron(cron: &str) -> Result<(), String> {
    tokio_cron_scheduler::Job::new_async(cron, |_, _| Box::pin(async {}))
        .map(|_| ())
        .map_err(|_| format!("{cron:?} is not a cron schedule with seconds, e.g. \"0 */10 * * * *\""))
}
