//! External services behind small traits. The sandbox implements them in-process;
//! real clients (monero-wallet-rpc, DigitalOcean, price APIs, nodes, webhooks)
//! implement the same traits, so handlers and jobs never know which runs.

pub mod body;
pub mod cloud;
pub mod digitalocean;
pub mod market;
pub mod monero;
pub mod node;
pub mod notify;
pub mod price;
pub mod wallet;
pub mod webhook;

pub use cloud::{Cloud, CloudError};
pub use node::{NodeError, NodeInfo, NodeProbe};
pub use notify::{Notice, Notifier};
pub use price::{PriceError, PriceOracle, Quote};
pub use wallet::{Wallet, WalletError};
