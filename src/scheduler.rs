//! Wires the cron strings of the configuration to the jobs. A failed pass is
//! logged; the scheduler keeps going.

use tokio_cron_scheduler::{Job as CronJob, JobScheduler};

use crate::app::AppState;
use crate::jobs::{self, Job};

/// Starts the scheduler with every job on its schedule.
pub async fn start(st: &AppState) -> Result<JobScheduler, String> {
    let sched = JobScheduler::new().await.map_err(|e| e.to_string())?;
    for job in Job::ALL {
        let cron = st.config.schedules.of(job.name());
        let st = st.clone();
        let j = CronJob::new_async(cron, move |_, _| {
            let st = st.clone();
            Box::pin(async move {
                for pass in jobs::tick(&st, job).await {
                    match pass {
                        Ok(o) if o.errors.is_empty() => {
                            tracing::debug!(job = job.name(), "{}", o.summary())
                        }
                        Ok(o) => tracing::warn!(job = job.name(), "{}", o.summary()),
                        Err(e) => tracing::warn!(job = job.name(), error = %e, "job pass failed"),
                    }
                }
            })
        })
        .map_err(|e| format!("{}: {e}", job.name()))?;
        sched.add(j).await.map_err(|e| e.to_string())?;
    }
    sched.start().await.map_err(|e| e.to_string())?;
    st.guards
        .scheduler_started
        .store(st.now(), std::sync::atomic::Ordering::SeqCst);
    st.guards
        .scheduler_running
        .store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(sched)
}
