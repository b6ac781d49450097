//! The sandbox: simulated wallet, cloud, price and nodes, in-process, behind the
//! same traits as the real clients, with their state in the same redb file so
//! a restart keeps it. It never talks to the network.

mod cloud;
mod node;
mod price;
pub(crate) mod wallet;

use std::sync::Arc;

pub use cloud::SandboxCloud;
pub use node::SandboxNode;
pub use price::SandboxPrice;
pub use wallet::{RelayFailure, SandboxWallet};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::Store;

/// The operator address of a sandbox: visibly fake.
pub const FAKE_PAYOUT_ADDRESS: &str = "sandbox-operator-address-not-a-real-monero-address";

/// Seconds a simulated droplet takes to boot.
pub const BOOT_SECS: i64 = 20;
/// Seconds a simulated transfer stays in the pool.
pub const POOL_SECS: i64 = 20;
/// Seconds per simulated block.
pub const BLOCK_SECS: i64 = 6;
/// Blocks until a transfer unlocks.
pub const UNLOCK_BLOCKS: i64 = 10;
/// Network fee of a simulated payout, piconero.
pub const FEE: u64 = 30_000_000;

/// Every simulated service.
#[derive(Clone)]
pub struct Sandbox {
    pub wallet: Arc<SandboxWallet>,
    pub cloud: Arc<SandboxCloud>,
    pub price: Arc<SandboxPrice>,
    pub node: Arc<SandboxNode>,
}

impl Sandbox {
    /// Builds the simulated services on a store and clock.
    pub fn new(store: Store, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        let ctx = Ctx {
            store,
            clock,
            metrics,
        };
        Self {
            wallet: Arc::new(SandboxWallet(ctx.clone(), Default::default())),
            cloud: Arc::new(SandboxCloud(ctx.clone(), Default::default())),
            price: Arc::new(SandboxPrice(ctx.clone())),
            node: Arc::new(SandboxNode(ctx)),
        }
    }
}

#[derive(Clone)]
struct Ctx {
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl Ctx {
    /// Runs blocking store work for a simulated client, mapping store errors.
    async fn run<T: Send + 'static, E: Send + 'static>(
        &self,
        map: fn(String) -> E,
        f: impl FnOnce(&Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| map(e.to_string()))?
    }
}

/// 32 random bytes as hex: sandbox transaction hashes.
fn random_hash() -> String {
    crate::util::random_hex(32)
}
