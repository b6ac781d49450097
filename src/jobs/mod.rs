//! Jobs: plain async `run_once` functions that tests call directly; the
//! scheduler and `run <job>` only trigger them. One pass at a time.

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod cancel;
mod funding;
pub mod health;
pub mod launch;
pub mod payouts;
pub mod rebuild;
pub mod reconcile;
mod relay;
pub mod schedule;
pub mod send;
mod teardown;

use serde::{Deserialize, Serialize};

pub use teardown::{holds_resources, teardown, teardown_and_clear};

use crate::app::AppState;
use crate::clients::Notice;
use crate::error::AppError;
use crate::store::JobRecord;

/// The jobs, by the names of `run` and `POST /admin/jobs/{job}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    LaunchFunded,
    ProcessPayouts,
    Reconcile,
    Health,
    Backup,
}

impl Job {
    /// Every job.
    pub const ALL: [Job; 5] = [
        Job::LaunchFunded,
        Job::ProcessPayouts,
        Job::Reconcile,
        Job::Health,
        Job::Backup,
    ];

    /// The job's name.
    pub fn name(&self) -> &'static str {
        match self {
            Job::LaunchFunded => "launch-funded",
            Job::ProcessPayouts => "process-payouts",
            Job::Reconcile => "reconcile",
            Job::Health => "health",
            Job::Backup => "backup",
        }
    }

    /// Whether its passes move money or change operations: those take the
    /// money lock and never overlap. Health and backup do not.
    pub fn moves_money(&self) -> bool {
        matches!(
            self,
            Job::LaunchFunded | Job::ProcessPayouts | Job::Reconcile
        )
    }

    /// Parses a job name (the original's names too).
    pub fn parse(s: &str) -> Option<Job> {
        match s {
            "launch_funded_operations" => Some(Job::LaunchFunded),
            "process_payouts" => Some(Job::ProcessPayouts),
            _ => Job::ALL.into_iter().find(|j| j.name() == s),
        }
    }
}

/// What a pass did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub job: String,
    pub dry_run: bool,
    /// One line per action.
    pub actions: Vec<String>,
    /// Failures that did not stop the pass.
    pub errors: Vec<String>,
}

impl Outcome {
    fn new(job: Job, dry_run: bool) -> Self {
        Self {
            job: job.name().into(),
            dry_run,
            ..Default::default()
        }
    }
    /// Records an action.
    pub fn did(&mut self, s: impl Into<String>) {
        self.actions.push(s.into());
    }
    /// Records a failure that did not stop the pass.
    pub fn failed(&mut self, s: impl Into<String>) {
        let s = s.into();
        tracing::warn!(job = %self.job, "{s}");
        self.errors.push(s);
    }
    /// The pass's summary as printed by `run`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}{}: {} action(s), {} error(s)",
            self.job,
            if self.dry_run { " (dry run)" } else { "" },
            self.actions.len(),
            self.errors.len()
        );
        for a in &self.actions {
            s.push_str(&format!("\n  - {a}"));
        }
        for e in &self.errors {
            s.push_str(&format!("\n  ! {e}"));
        }
        s
    }
}

/// Runs one pass of a job now (admin, CLI), after a running pass of the same
/// job and, for a job that moves money, after any pass that does; records
/// it for `/status` and the metrics.
pub async fn run(st: &AppState, job: Job, dry_run: bool) -> Result<Outcome, AppError> {
    let slot = st.guards.slot(job.name());
    let _own = slot.running.lock().await;
    run_locked(st, job, dry_run).await
}

/// One pass with the money lock when the job needs it.
async fn run_locked(st: &AppState, job: Job, dry_run: bool) -> Result<Outcome, AppError> {
    let _money = match job.moves_money() {
        true => Some(st.guards.job_lock.lock().await),
        false => None,
    };
    run_held(st, job, dry_run).await
}

/// A scheduler tick of `job`: never dropped. A tick that finds the job's
/// own pass running leaves one pending pass, made as soon as it ends (ticks
/// meanwhile coalesce into it); a job that moves money waits for the money
/// lock instead of skipping. Returns the passes this call made.
pub async fn tick(st: &AppState, job: Job) -> Vec<Result<Outcome, AppError>> {
    use std::sync::atomic::Ordering;
    let slot = st.guards.slot(job.name());
    let mut passes = Vec::new();
    loop {
        // Pending first, then the lock: a pass ending now sees the request.
        slot.pending.store(true, Ordering::SeqCst);
        let Ok(own) = slot.running.try_lock() else {
            tracing::debug!(job = job.name(), "a pass is running; one more follows it");
            return passes;
        };
        slot.pending.store(false, Ordering::SeqCst);
        passes.push(run_locked(st, job, false).await);
        drop(own);
        if !slot.pending.load(Ordering::SeqCst) {
            return passes;
        }
    }
}

#[tracing::instrument(name = "pass", skip(st), fields(job = job.name()))]
async fn run_held(st: &AppState, job: Job, dry_run: bool) -> Result<Outcome, AppError> {
    // Money moves only from a wallet checked against the store, every pass.
    if matches!(job, Job::LaunchFunded | Job::ProcessPayouts)
        && !dry_run
        && let Err(why) = crate::jobs::accounts::check_wallet(st).await
    {
        st.metrics.job_run(job.name(), false);
        return Err(AppError::Unavailable(why));
    }
    let mut out = Outcome::new(job, dry_run);
    // Once per start, before any money moves: the store catches up with
    // payouts the wallet made that it does not record (a restored backup).
    if matches!(job, Job::LaunchFunded | Job::ProcessPayouts) && !dry_run {
        match ensure_reconciled(st).await {
            Ok(lines) => lines.into_iter().for_each(|l| out.did(l)),
            Err(e) => {
                st.metrics.job_run(job.name(), false);
                return Err(e);
            }
        }
    }
    let watch = crate::clock::Stopwatch::start();
    let result = match job {
        Job::LaunchFunded => launch::run_once(st, &mut out).await,
        Job::ProcessPayouts => payouts::run_once(st, &mut out).await,
        Job::Reconcile => reconcile::run_once(st, &mut out).await,
        Job::Health => health::run_once(st, &mut out).await,
        Job::Backup => backup::run_once(st, &mut out).await,
    };
    let ok = result.is_ok() && out.errors.is_empty();
    st.metrics.job_run(job.name(), ok);
    if ok && !dry_run {
        st.metrics.job_succeeded(job.name(), st.now());
    }
    st.metrics.job_duration(job.name(), watch.secs());
    if !dry_run {
        let rec = JobRecord {
            last_run: st.now(),
            ok,
            outcome: match &result {
                Ok(()) => format!(
                    "{} action(s), {} error(s)",
                    out.actions.len(),
                    out.errors.len()
                ),
                Err(e) => e.to_string(),
            },
            actions: out
                .actions
                .iter()
                .chain(out.errors.iter())
                .take(100)
                .cloned()
                .collect(),
        };
        let name = job.name();
        let was_ok = st
            .store
            .jobs()
            .ok()
            .and_then(|j| j.into_iter().find(|(n, _)| n == name))
            .is_none_or(|(_, r)| r.ok);
        let failed = (!ok).then(|| rec.outcome.clone());
        st.store
            .run(move |s| s.write(|tx| tx.put_job(name, &rec)))
            .await?;
        // Told once when a job starts failing, not on every pass after.
        if let Some(why) = failed.filter(|_| was_ok) {
            st.clients
                .notifier
                .notify(&Notice {
                    op_id: None,
                    codename: None,
                    kind: "job-failed".into(),
                    message: format!("The {name} pass failed: {why}. See /admin for details."),
                })
                .await;
        }
    }
    result.map(|()| out)
}

/// Reconciles the store with the wallet's payouts once per process, before
/// the first decision that moves money (see
/// [`accounts::adopt_unrecorded_payouts`]); the caller holds the job lock.
pub async fn ensure_reconciled(st: &AppState) -> Result<Vec<String>, AppError> {
    use std::sync::atomic::Ordering;
    if st.guards.wallet_reconciled.load(Ordering::SeqCst) {
        return Ok(Vec::new());
    }
    let lines = accounts::adopt_unrecorded_payouts(st).await.map_err(|e| {
        AppError::Unavailable(format!(
            "the store could not be reconciled with the wallet's payouts, so no money moves yet: {e}"
        ))
    })?;
    st.guards.wallet_reconciled.store(true, Ordering::SeqCst);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::Job;

    #[test]
    fn every_job_has_exactly_one_schedule_setting() {
        let names: Vec<&str> = Job::ALL.iter().map(|j| j.name()).collect();
        let scheduled: Vec<&str> = crate::config::JOB_SCHEDULES
            .iter()
            .map(|(job, ..)| *job)
            .collect();
        assert_eq!(names, scheduled);
        for j in Job::ALL {
            assert_eq!(Job::parse(j.name()), Some(j));
        }
    }
}
