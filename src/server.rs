//! Starting the whole appliance: check the wallet and warm what pages need
//! (beside serving), start the scheduler, serve until shutdown, then let a
//! running job pass finish.

use std::future::Future;

use tokio::net::TcpListener;

use crate::app::AppState;

/// Runs the web server and the scheduler on `listener` until `shutdown`.
pub async fn run(
    st: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(st, listener, shutdown, true).await
}

/// Like [`run`]; tests that move the clock and trigger jobs themselves pass
/// `scheduler: false`.
pub async fn run_with(
    st: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    scheduler: bool,
) -> std::io::Result<()> {
    // Pages are served while the wallet is checked against the store (its
    // account list grows with every operation; a page needs neither): the
    // jobs that move money check it again themselves before every pass.
    let checking = st.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::jobs::accounts::check_wallet(&checking).await {
            tracing::warn!("wallet check at start-up: {e}");
        }
    });
    // The fee estimate pages show does not wait for that check.
    let pricing = st.clone();
    tokio::spawn(async move {
        if let Err(e) = pricing
            .cache
            .refresh_fee(&pricing.clients.wallet, None)
            .await
        {
            tracing::warn!(error = %e, "no fee estimate from the wallet yet; pages use the default");
        }
    });
    let mut sched = match scheduler.then_some(()) {
        None => None,
        Some(()) => match crate::scheduler::start(&st).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "the scheduler did not start; /status reports it");
                None
            }
        },
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, sandbox = st.clients.sandbox.is_some(), "serving {}", st.config.public_url);
    let result = crate::web::serve(st.clone(), listener, shutdown).await;
    if let Some(s) = sched.as_mut() {
        let _ = s.shutdown().await;
    }
    let _finished = st.guards.job_lock.lock().await;
    // Health and backup passes run beside it: each finishes too.
    let slots: Vec<_> = crate::jobs::Job::ALL
        .iter()
        .map(|j| st.guards.slot(j.name()))
        .collect();
    for s in &slots {
        let _done = s.running.lock().await;
    }
    // Notices of the last pass go out before the process ends (bounded).
    if !st
        .clients
        .notifier
        .flush(std::time::Duration::from_secs(10))
        .await
    {
        tracing::warn!("some notices were not delivered before stopping");
    }
    result
}
