//! The market price of XMR in USD.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::domain::money::Micro;

/// A price and when it was true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// Micro-USD per XMR.
    pub usd: Micro,
    pub at: Timestamp,
}

/// Why no price could be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("no price: {0}")]
pub struct PriceError(pub String);

/// A source of the XMR price.
#[async_trait]
pub trait PriceOracle: Send + Sync {
    /// The current XMR price in USD.
    async fn xmr_usd(&self) -> Result<Quote, PriceError>;
}
