//! Jobs: plain async `run_once` functions that tests call directly; the
//! scheduler and `run <job>` only trigger them. One pass at a time.

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod cancel;
pub mod health;
pub mod launch;
pub mod payouts;
pub mod reconcile;
pub mod send;
mod teardown;

use serde::{Deserialize, Serialize};

pub use teardown::{holds_resources, teardown, teardown_and_clear};

use crate::app::AppState;
use crate::clients::Notice;
use crate::clients::price::Quote;
use crate::domain::event::EventKind;
use crate::domain::money::{HourlyCost, Rates};
use crate::domain::operation::Operation;
use crate::domain::price_guard::{self, PriceState, Verdict};
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

/// Runs one pass of a job, records it for `/status` and the metrics.
pub async fn run(st: &AppState, job: Job, dry_run: bool) -> Result<Outcome, AppError> {
    let _guard = st.job_lock.lock().await;
    run_held(st, job, dry_run).await
}

/// Runs one pass unless another is running (the scheduler skips a tick then
/// instead of queueing passes behind a slow one). `None`: skipped.
pub async fn try_run(st: &AppState, job: Job) -> Option<Result<Outcome, AppError>> {
    let _guard = st.job_lock.try_lock().ok()?;
    Some(run_held(st, job, false).await)
}

async fn run_held(st: &AppState, job: Job, dry_run: bool) -> Result<Outcome, AppError> {
    // Money moves only from a wallet checked against the store, every pass.
    if matches!(job, Job::LaunchFunded | Job::ProcessPayouts)
        && !dry_run
        && let Err(why) = st.check_wallet_accounts().await
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
    st.metrics.job_duration(job.name(), watch.secs());
    st.cache.node_rows.invalidate_all();
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
            st.notifier
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
    if st.wallet_reconciled.load(Ordering::SeqCst) {
        return Ok(Vec::new());
    }
    let lines = accounts::adopt_unrecorded_payouts(st).await.map_err(|e| {
        AppError::Unavailable(format!(
            "the store could not be reconciled with the wallet's payouts, so no money moves yet: {e}"
        ))
    })?;
    st.wallet_reconciled.store(true, Ordering::SeqCst);
    Ok(lines)
}

/// Applies `f` to the stored operation and appends an event, in one transaction.
pub async fn change(
    st: &AppState,
    id: &str,
    kind: EventKind,
    message: impl Into<String>,
    f: impl FnOnce(&mut Operation, i64) -> Result<(), AppError> + Send + 'static,
) -> Result<Operation, AppError> {
    let (id, message, now) = (id.to_string(), message.into(), st.now());
    st.store
        .run(move |s| {
            s.write(|tx| {
                let mut op = tx.op(&id)?;
                f(&mut op, now)?;
                tx.put_op(&op)?;
                tx.event(&id, now, kind, message)?;
                Ok::<_, AppError>(op)
            })
        })
        .await
}

/// Moves an operation to another state (if allowed), with an event and a notice.
pub async fn transition(
    st: &AppState,
    op: &Operation,
    to: crate::domain::state::State,
    kind: EventKind,
    message: impl Into<String>,
    f: impl FnOnce(&mut Operation) + Send + 'static,
) -> Result<Operation, AppError> {
    let message = message.into();
    let op = change(st, &op.id, kind, message.clone(), move |op, now| {
        op.go(to, now)
            .map_err(|e| AppError::Conflict(e.to_string()))?;
        f(op);
        Ok(())
    })
    .await?;
    if kind.is_notice() {
        let notice = Notice {
            op_id: Some(op.id.clone()),
            codename: Some(op.codename.clone()),
            kind: format!("{kind:?}"),
            message,
        };
        st.notifier.notify(&notice).await;
    }
    Ok(op)
}

/// Every operation in one of `states`.
pub async fn ops_in(
    st: &AppState,
    states: &'static [crate::domain::state::State],
) -> Result<Vec<Operation>, AppError> {
    st.store
        .run(move |s| Ok::<_, AppError>(s.operations_where(|o| states.contains(&o.state))?))
        .await
}

/// Cost, a fresh price and the fee, read from the clients (not the page
/// caches): launches, payouts and ends decide on nothing older than
/// `PRICE_MAX_AGE_MINUTES`.
pub async fn fresh_rates(st: &AppState) -> Result<(HourlyCost, Rates), AppError> {
    let quote = decision_price(st).await?;
    let cost = crate::ops::hourly_cost(st).await?;
    let recent: Vec<crate::domain::money::Pico> = st
        .store
        .run(|s| Ok::<_, AppError>(s.setting(send::RECENT_FEES_KEY)?.unwrap_or_default()))
        .await?;
    let fee = st.cache.refresh_fee(&st.wallet, median_fee(recent)).await?;
    Ok((
        cost,
        Rates {
            cost: cost.total(),
            price: quote.usd,
            fee,
            payout_every: st.config.payout_frequency_secs,
        },
    ))
}

/// The median fee of the last payouts' transactions (the estimate never
/// goes below what payouts of the usual size really cost).
fn median_fee(mut fees: Vec<crate::domain::money::Pico>) -> Option<crate::domain::money::Pico> {
    fees.sort_unstable();
    fees.get(fees.len() / 2).copied()
}

/// Where the price guard keeps its state.
pub const PRICE_GUARD_KEY: &str = "price_guard";

/// The price guard's rules from the configuration.
pub fn price_rules(st: &AppState) -> price_guard::Rules {
    let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    price_guard::Rules {
        max_age_secs: secs(st.config.price_max_age_secs),
        max_move_percent: st.config.price_max_move_percent,
        max_wait_secs: secs(st.config.price_max_wait_secs),
    }
}

/// The price a decision that moves money or ends a node may use: fresh and
/// sane, or after `PRICE_MAX_WAIT_HOURS` without one the last accepted price
/// (logged and told). The operator hears once when decisions start waiting.
pub async fn decision_price(st: &AppState) -> Result<Quote, AppError> {
    let fetched = st.price.xmr_usd().await.map_err(|e| e.0);
    let now = st.now();
    let rules = price_rules(st);
    let (verdict, tell) = st
        .store
        .run(move |s| {
            s.write(|tx| {
                let mut state: PriceState = tx.setting(PRICE_GUARD_KEY)?.unwrap_or_default();
                let verdict = state.judge(fetched, now, &rules);
                let tell = match &verdict {
                    Verdict::Use(_) => None,
                    Verdict::Wait(why) if !state.notified => {
                        state.notified = true;
                        Some(format!(
                            "Launches, payouts and ends wait for a sane XMR price: {why}."
                        ))
                    }
                    Verdict::UseLast(_, why) if !state.fell_back => {
                        state.fell_back = true;
                        Some(format!(
                            "Decisions now use the last accepted XMR price: {why}."
                        ))
                    }
                    _ => None,
                };
                tx.put_setting(PRICE_GUARD_KEY, &state)?;
                Ok::<_, AppError>((verdict, tell))
            })
        })
        .await?;
    if let Some(message) = tell {
        tracing::warn!("{message}");
        st.notifier
            .notify(&Notice {
                op_id: None,
                codename: None,
                kind: "price".into(),
                message,
            })
            .await;
    }
    match verdict {
        Verdict::Use(q) => Ok(q),
        Verdict::UseLast(q, why) => {
            tracing::warn!("{why}");
            Ok(q)
        }
        Verdict::Wait(why) => Err(AppError::Unavailable(format!(
            "{why}; no launch, payout or end decision until a fresh, sane price arrives"
        ))),
    }
}
