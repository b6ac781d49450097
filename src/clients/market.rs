//! The real price oracle: CoinGecko's simple price and Kraken's public ticker,
//! asked at once; the median of those that answer, timed by the oldest.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::clients::price::{PriceError, PriceOracle, Quote};
use crate::clock::Clock;
use crate::domain::Timestamp;
use crate::domain::money::{Micro, micro_from_f64};
use crate::metrics::Metrics;

/// Timeout of one source.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A price source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// CoinGecko-compatible base URL.
    CoinGecko(String),
    /// Kraken base URL.
    Kraken(String),
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Source::CoinGecko(_) => "coingecko",
            Source::Kraken(_) => "kraken",
        }
    }
}

/// The median of several market sources.
pub struct MarketPrice {
    http: reqwest::Client,
    sources: Vec<Source>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl MarketPrice {
    /// An oracle over `sources`.
    pub fn new(
        http: reqwest::Client,
        sources: Vec<Source>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            http,
            sources,
            clock,
            metrics,
        }
    }

    async fn ask(&self, source: &Source) -> Result<Quote, String> {
        self.metrics.client_call("price");
        let url = match source {
            Source::CoinGecko(base) => {
                format!(
                    "{base}/api/v3/simple/price?ids=monero&vs_currencies=usd&include_last_updated_at=true"
                )
            }
            Source::Kraken(base) => format!("{base}/0/public/Ticker?pair=XMRUSD"),
        };
        let resp = self
            .http
            .get(&url)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let v: Value = resp.json().await.map_err(|e| format!("not JSON: {e}"))?;
        let now = self.clock.now();
        match source {
            Source::CoinGecko(_) => parse_coingecko(&v, now),
            Source::Kraken(_) => parse_kraken(&v, now),
        }
    }
}

// The answers as [`MarketPrice`] reads them, without I/O, so hostile answers
// are tested without a server (`tests/hostile_input.rs`).

/// Reads CoinGecko's simple price answer at `now`.
pub fn parse_coingecko(v: &Value, now: Timestamp) -> Result<Quote, String> {
    let usd = v["monero"]["usd"]
        .as_f64()
        .ok_or("no monero.usd in the answer")?;
    // A time after now is now; one before the epoch is the epoch (stale), so
    // the price guard's `now - at` cannot overflow.
    let at = v["monero"]["last_updated_at"]
        .as_i64()
        .map_or(now, |t| t.clamp(0, now.max(0)));
    Ok(Quote {
        usd: positive(usd)?,
        at,
    })
}

/// Reads Kraken's ticker answer at `now`.
pub fn parse_kraken(v: &Value, now: Timestamp) -> Result<Quote, String> {
    if let Some(errs) = v["error"].as_array()
        && !errs.is_empty()
    {
        return Err(format!("error {}", Value::Array(errs.clone())));
    }
    let pair = v["result"]
        .as_object()
        .and_then(|m| m.values().next())
        .ok_or("no result in the answer")?;
    let last = pair["c"][0]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or("no last trade price")?;
    // The ticker carries no time: it is the price now.
    Ok(Quote {
        usd: positive(last)?,
        at: now,
    })
}

fn positive(usd: f64) -> Result<Micro, String> {
    micro_from_f64(usd)
        .filter(|m| *m > 0)
        .ok_or_else(|| format!("{usd} is not a price"))
}

/// The median of quotes (the mean of the middle two for an even count), timed
/// by the oldest quote used.
pub fn median(mut quotes: Vec<Quote>) -> Option<Quote> {
    if quotes.is_empty() {
        return None;
    }
    quotes.sort_by_key(|q| q.usd);
    let n = quotes.len();
    let usd = if n % 2 == 1 {
        quotes[n / 2].usd
    } else {
        // Halves first: two huge prices must not overflow.
        let (a, b) = (quotes[n / 2 - 1].usd, quotes[n / 2].usd);
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    };
    let at = quotes.iter().map(|q| q.at).min()?;
    Some(Quote { usd, at })
}

#[async_trait]
impl PriceOracle for MarketPrice {
    async fn xmr_usd(&self) -> Result<Quote, PriceError> {
        let answers =
            futures_util::future::join_all(self.sources.iter().map(|s| self.ask(s))).await;
        let mut quotes = Vec::new();
        let mut failures = Vec::new();
        for (source, answer) in self.sources.iter().zip(answers) {
            match answer {
                Ok(q) => quotes.push(q),
                Err(e) => {
                    tracing::warn!(source = source.name(), "price source failed: {e}");
                    failures.push(format!("{}: {e}", source.name()));
                }
            }
        }
        median(quotes).ok_or_else(|| PriceError(failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_quotes() {
        let q = |usd, at| Quote { usd, at };
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![q(150, 10)]), Some(q(150, 10)));
        assert_eq!(median(vec![q(150, 10), q(160, 5)]), Some(q(155, 5)));
        assert_eq!(
            median(vec![q(150, 10), q(1000, 9), q(160, 8)]),
            Some(q(160, 8))
        );
    }
}
