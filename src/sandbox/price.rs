//! A simulated XMR price: fixed until the admin sets another.

use async_trait::async_trait;

use super::Ctx;
use crate::clients::price::{PriceError, PriceOracle, PriceReport, Quote, Said, SourceReport};
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
    /// One source, "sandbox": the simulated price, timed now.
    async fn report(&self) -> PriceReport {
        self.0.metrics.client_call("price");
        let at = self.0.clock.now();
        let median = self
            .0
            .run(PriceError, move |s| {
                let usd = s
                    .sandbox_get::<Micro>("price")
                    .map_err(|e| PriceError(e.to_string()))?
                    .unwrap_or(DEFAULT_USD);
                Ok(Quote { usd, at })
            })
            .await;
        let said = match &median {
            Ok(q) => Said::Fresh(*q),
            Err(e) => Said::Failed(e.0.clone()),
        };
        PriceReport {
            asked_at: at,
            median,
            sources: vec![SourceReport {
                source: "sandbox".into(),
                said,
            }],
        }
    }
}
