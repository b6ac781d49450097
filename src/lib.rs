//! nodecannon: pay in Monero for a public Monero node on DigitalOcean, for as
//! long as the money lasts. `main.rs` only calls [`cli::main`].

pub mod app;
pub mod bootstrap;
pub mod cache;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod ops;
pub mod pricing;
pub mod sandbox;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod test_hooks;
pub mod util;
pub mod web;
