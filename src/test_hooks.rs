//! Hooks for the crash tests, compiled in only with the `test-hooks` cargo
//! feature (the shipped binary has neither):
//!
//! - `NODECANNON_CRASH_AT=<failpoint>`: the process exits with [`CRASH_EXIT`]
//!   the first time the work reaches that failpoint, skipping every destructor
//!   as a `kill -9` would (what was committed stays, nothing after happens).
//! - `NODECANNON_TEST_NOW=<seconds since the epoch>`: the clock stands still
//!   at that time, so a test moves time between runs of the binary instead of
//!   sleeping.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};

/// Exit status of a process stopped at a failpoint.
pub const CRASH_EXIT: i32 = 86;

/// The clock of the process: the system's, or the test's fixed time.
pub fn clock() -> Arc<dyn Clock> {
    #[cfg(feature = "test-hooks")]
    if let Some(t) = std::env::var("NODECANNON_TEST_NOW")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return Arc::new(crate::clock::ManualClock::new(t));
    }
    Arc::new(SystemClock)
}

/// Exits the process here when a test asked for a crash at `name`.
pub fn crash_point(name: &str) {
    #[cfg(feature = "test-hooks")]
    if std::env::var("NODECANNON_CRASH_AT").is_ok_and(|v| v == name) {
        eprintln!("nodecannon: crashing at failpoint {name} (NODECANNON_CRASH_AT)");
        std::process::exit(CRASH_EXIT);
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = name;
}
