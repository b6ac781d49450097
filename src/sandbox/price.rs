//! A simulated XMR price: fixed until the admin sets another.

use async_trait::async_trait;

use super::Ctx;
use crate::clients::price::{PriceError, PriceOracle, Quote};
use crate::domain::money::Micro;

/// The simulated price source.
pub struct SandboxPrice(pub(super) Ctx);

/// The sandbox's price until the admin sets another: $150 per XMR.
pub const DEFAULT_USD: Micro = 150_000_000;

impl SandboxPrice {
    /// Sets the simulated price (admin page, `POST /sandbox/price`).
    pub async fn set(&self, usd: Micro) -> Result<(), PriceError> {
        self.0
            .run(PriceError, move |s| {
                s.write(|tx| tx.sandbox_put("price", &usd))
                    .map_err(|e| PriceError(e.to_string()))
            })
            .await
    }
}

#[async_trait]
impl PriceOracle for SandboxPrice {
    async fn xmr_usd(&self) -> Result<Quote, PriceError> {
        self.0.metrics.client_call("price");
        let at = self.0.clock.now();
        self.0
            .run(PriceError, move |s| {
                let usd = s
                    .sandbox_get::<Micro>("price")
                    .map_err(|e| PriceError(e.to_string()))?
                    .unwrap_or(DEFAULT_USD);
                Ok(Quote { usd, at })
            })
            .await
    }
}
