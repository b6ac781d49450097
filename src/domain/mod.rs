//! The domain: operations, their lifecycle, money and the rules that decide
//! what is due. Pure: no I/O, no clock; callers pass the time in.

pub mod codename;
pub mod event;
pub mod health;
pub mod money;
pub mod operation;
pub mod payout;
pub mod price_guard;
pub mod price_median;
pub mod state;
pub mod xmr_address;

/// Seconds since the Unix epoch, as given by the injected clock.
pub type Timestamp = i64;
