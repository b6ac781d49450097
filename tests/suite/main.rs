//! Every integration test, in one binary: the support code and the library
//! are compiled and linked once (one binary per file compiled `support` 17
//! times). Run a part with `cargo test --release --features test-hooks
//! --test suite <module>::`, e.g. `crash::` or `hostile_input::`.

mod support;

mod architecture;
mod bootstrap;
mod bootstrap_system;
mod browser;
mod cli_do;
// Kills the binary at failpoints: needs the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
mod crash;
mod do_behaviour;
mod do_contract;
mod hostile_input;
mod hostile_servers;
mod http;
mod jobs;
mod lifecycle;
mod market_price;
mod node_health;
mod notify;
mod page_weight;
mod real_simulation;
mod real_wallet;
mod rebuild;
mod recovery;
mod secrets;
mod security;
mod security_headers;
mod seed;
mod simulation;
mod soak;
mod wallet_rpc;
