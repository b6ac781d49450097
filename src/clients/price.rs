//! The market price of XMR in USD, and what each source said about it.

use async_trait::async_trait;

use crate::clock;
use crate::domain::Timestamp;
use crate::domain::money::format_usd;
use crate::domain::price_median::AGREE_PERCENT;

pub use crate::domain::money::Quote;

/// Why no price could be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("no price: {0}")]
pub struct PriceError(pub String);

/// What one source said at the last ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// A fresh price that agrees with the others (or stands alone).
    Fresh(Quote),
    /// A fresh price too far from the others' ([`AGREE_PERCENT`]).
    Disagrees(Quote),
    /// A price whose own time is older than `PRICE_MAX_AGE_MINUTES`: not used.
    Stale(Quote),
    /// No usable answer: why (HTTP error, unreadable, no time in it, ...).
    Failed(String),
}

/// One source's part of a [`PriceReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    /// `coingecko`, `kraken`, `bitfinex`, `sandbox`.
    pub source: String,
    pub said: Said,
}

impl SourceReport {
    /// Whether this source's price was fresh and agreed with the others.
    pub fn is_fine(&self) -> bool {
        matches!(self.said, Said::Fresh(_))
    }
}

impl std::fmt::Display for SourceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.source;
        match &self.said {
            Said::Fresh(q) => write!(f, "{name} {}", format_usd(q.usd)),
            Said::Disagrees(q) => write!(
                f,
                "{name} {} (disagrees: more than {AGREE_PERCENT} % from the others)",
                format_usd(q.usd)
            ),
            Said::Stale(q) => write!(
                f,
                "{name}: stale since {} ({})",
                clock::human(q.at),
                format_usd(q.usd)
            ),
            Said::Failed(why) => write!(f, "{name}: {why}"),
        }
    }
}

/// The price and what each source said, from one ask of every source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceReport {
    /// When the sources were asked (the app's clock).
    pub asked_at: Timestamp,
    /// The price decisions may use, or why there is none.
    pub median: Result<Quote, PriceError>,
    /// Every configured source, in the configured order.
    pub sources: Vec<SourceReport>,
}

impl PriceReport {
    /// The sources whose price was fresh and agreed, with that price:
    /// `coingecko $150.10, kraken $150.20`.
    pub fn fresh(&self) -> String {
        let fine: Vec<String> = self
            .sources
            .iter()
            .filter(|s| s.is_fine())
            .map(|s| s.to_string())
            .collect();
        fine.join(", ")
    }

    /// The sources that are stale, failed or disagree, each with why
    /// (empty when all are fine).
    pub fn problems(&self) -> String {
        let bad: Vec<String> = self
            .sources
            .iter()
            .filter(|s| !s.is_fine())
            .map(|s| s.to_string())
            .collect();
        bad.join("; ")
    }

    /// Every source and what it said: `coingecko $150.10; kraken: HTTP 502`.
    pub fn sources_line(&self) -> String {
        let all: Vec<String> = self.sources.iter().map(|s| s.to_string()).collect();
        all.join("; ")
    }

    /// One line for `/status`: the price from which sources, then what is
    /// wrong with the others.
    pub fn summary(&self) -> String {
        let problems = self.problems();
        let head = match &self.median {
            Ok(q) => format!("{} µUSD/XMR (from {})", q.usd, self.fresh()),
            Err(e) => e.to_string(),
        };
        if problems.is_empty() || self.median.is_err() {
            // A refusal already names the sources it could not use.
            head
        } else {
            format!("{head}; {problems}")
        }
    }
}

/// A source of the XMR price.
#[async_trait]
pub trait PriceOracle: Send + Sync {
    /// Asks every source: the price and what each said.
    async fn report(&self) -> PriceReport;

    /// The current XMR price in USD.
    async fn xmr_usd(&self) -> Result<Quote, PriceError> {
        self.report().await.median
    }
}
