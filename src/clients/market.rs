//! The real price oracle: CoinGecko's simple price and the last public trade
//! on Kraken and on Bitfinex, asked at once. Each quote carries its source's
//! own time (an answer without one is refused); a quote older than
//! `PRICE_MAX_AGE_MINUTES` is stale and left out; the fresh ones are combined
//! by [`crate::domain::price_median::combine`] (one wrong source never moves
//! the price).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::clients::price::{PriceError, PriceOracle, PriceReport, Quote, Said, SourceReport};
use crate::clock::Clock;
use crate::domain::Timestamp;
use crate::domain::money::{Micro, micro_from_f64};
use crate::domain::price_median::{agree, combine, median};
use crate::metrics::Metrics;

/// Timeout of one source.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How far ahead of ours a source's clock may be (its time is then read as
/// now); a time further ahead is refused, since it would never grow stale.
pub const MAX_AHEAD_SECS: i64 = 5 * 60;

/// A price source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// CoinGecko-compatible base URL (`PRICE_API_URL`).
    CoinGecko(String),
    /// Kraken base URL (`KRAKEN_API_URL`).
    Kraken(String),
    /// Bitfinex public API base URL (`BITFINEX_API_URL`).
    Bitfinex(String),
}

impl Source {
    /// The names `PRICE_SOURCES` may list.
    pub const NAMES: [&'static str; 3] = ["coingecko", "kraken", "bitfinex"];

    /// Its name in `PRICE_SOURCES` and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Source::CoinGecko(_) => "coingecko",
            Source::Kraken(_) => "kraken",
            Source::Bitfinex(_) => "bitfinex",
        }
    }

    fn url(&self) -> String {
        match self {
            Source::CoinGecko(base) => format!(
                "{base}/api/v3/simple/price?ids=monero&vs_currencies=usd&include_last_updated_at=true"
            ),
            Source::Kraken(base) => format!("{base}/0/public/Trades?pair=XMRUSD&count=1"),
            Source::Bitfinex(base) => format!("{base}/v2/trades/tXMRUSD/hist?limit=1"),
        }
    }

    fn parse(&self, v: &Value) -> Result<Quote, String> {
        match self {
            Source::CoinGecko(_) => parse_coingecko(v),
            Source::Kraken(_) => parse_kraken(v),
            Source::Bitfinex(_) => parse_bitfinex(v),
        }
    }
}

/// The median of several market sources.
pub struct MarketPrice {
    http: reqwest::Client,
    sources: Vec<Source>,
    max_age_secs: i64,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl MarketPrice {
    /// An oracle over `sources`; a quote older than `max_age_secs` (by its
    /// source's own time) is stale.
    pub fn new(
        http: reqwest::Client,
        sources: Vec<Source>,
        max_age_secs: i64,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            http,
            sources,
            max_age_secs,
            clock,
            metrics,
        }
    }

    async fn ask(&self, source: &Source) -> Result<Quote, String> {
        self.metrics.client_call("price");
        let resp = self
            .http
            .get(source.url())
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if let Some(why) = crate::clients::body::redirect_refused(&resp) {
            return Err(why);
        }
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        // A ticker is a few hundred bytes.
        let bytes = crate::clients::body::read_capped(resp, 64 * 1024).await?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
        source.parse(&v)
    }
}

#[async_trait]
impl PriceOracle for MarketPrice {
    async fn report(&self) -> PriceReport {
        let answers =
            futures_util::future::join_all(self.sources.iter().map(|s| self.ask(s))).await;
        let answers = self
            .sources
            .iter()
            .map(Source::name)
            .zip(answers)
            .collect::<Vec<_>>();
        let r = report_of(answers, self.clock.now(), self.max_age_secs);
        for s in r.sources.iter().filter(|s| !s.is_fine()) {
            tracing::warn!(source = %s.source, "price source: {s}");
        }
        r
    }
}

/// The report of `answers` (source name, what it gave) judged at `now`:
/// each quote's own time against `max_age_secs`, then the fresh ones combined.
pub fn report_of(
    answers: Vec<(&str, Result<Quote, String>)>,
    now: Timestamp,
    max_age_secs: i64,
) -> PriceReport {
    let configured = answers.len();
    let mut sources: Vec<SourceReport> = answers
        .into_iter()
        .map(|(name, answer)| SourceReport {
            source: name.to_string(),
            said: match answer {
                Ok(q) => timed(q, now, max_age_secs),
                Err(why) => Said::Failed(why),
            },
        })
        .collect();
    let fresh: Vec<(String, Quote)> = sources
        .iter()
        .filter_map(|s| match s.said {
            Said::Fresh(q) => Some((s.source.clone(), q)),
            _ => None,
        })
        .collect();
    let combined = combine(&fresh, configured);
    // Name who disagrees: with two, both (which one is wrong cannot be
    // told); with more, those far from the median.
    let quotes: Vec<Quote> = fresh.iter().map(|(_, q)| *q).collect();
    let center = median(&quotes).map(|m| m.usd);
    let disagrees = |usd: Micro| match (fresh.len(), center) {
        (2, _) => combined.is_err(),
        (n, Some(m)) if n > 2 => !agree(usd, m),
        _ => false,
    };
    for s in &mut sources {
        if let Said::Fresh(q) = s.said
            && disagrees(q.usd)
        {
            s.said = Said::Disagrees(q);
        }
    }
    let median = combined.map_err(|why| {
        let others: Vec<String> = sources
            .iter()
            .filter(|s| matches!(s.said, Said::Stale(_) | Said::Failed(_)))
            .map(|s| s.to_string())
            .collect();
        PriceError(if others.is_empty() {
            why
        } else {
            format!("{why}; {}", others.join("; "))
        })
    });
    PriceReport {
        asked_at: now,
        median,
        sources,
    }
}

/// A quote by its own time at `now`: fresh, stale, or refused when its time
/// is too far ahead of ours.
pub fn timed(q: Quote, now: Timestamp, max_age_secs: i64) -> Said {
    if q.at > now.saturating_add(MAX_AHEAD_SECS) {
        let ahead = u64::try_from(q.at.saturating_sub(now)).unwrap_or(u64::MAX);
        return Said::Failed(format!(
            "its time is {} ahead of ours",
            crate::clock::duration(ahead)
        ));
    }
    let q = Quote {
        at: q.at.min(now),
        ..q
    };
    if now.saturating_sub(q.at) > max_age_secs {
        Said::Stale(q)
    } else {
        Said::Fresh(q)
    }
}

// The answers as [`MarketPrice`] reads them, without I/O, so hostile answers
// are tested without a server (`tests/suite/hostile_input/`). Each gives the
// price and the source's own time of it; none reads our clock.

/// Reads CoinGecko's simple price answer:
/// `{"monero": {"usd": 150.1, "last_updated_at": 1767225600}}`.
pub fn parse_coingecko(v: &Value) -> Result<Quote, String> {
    let usd = v["monero"]["usd"]
        .as_f64()
        .ok_or("no monero.usd in the answer")?;
    Ok(Quote {
        usd: positive(usd)?,
        at: seconds(&v["monero"]["last_updated_at"], 1)?,
    })
}

/// Reads Kraken's recent trades answer: `{"error": [], "result": {"XXMRZUSD":
/// [["150.1", "0.5", 1767225600.12, "b", "m", "", 123]], "last": "..."}}`;
/// the latest trade's price and time.
pub fn parse_kraken(v: &Value) -> Result<Quote, String> {
    if let Some(errs) = v["error"].as_array()
        && !errs.is_empty()
    {
        return Err(format!("error {}", Value::Array(errs.clone())));
    }
    let trades = v["result"]
        .as_object()
        .and_then(|m| m.values().find_map(Value::as_array))
        .ok_or("no trades in the answer")?;
    let last = latest(trades, 2, 1)?;
    let price = last[0]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or("no price in the last trade")?;
    Ok(Quote {
        usd: positive(price)?,
        at: seconds(&last[2], 1)?,
    })
}

/// Reads Bitfinex's public trades answer: `[[ID, MTS, AMOUNT, PRICE]]`, MTS
/// in milliseconds; the latest trade's price and time. An error is
/// `["error", code, "message"]`.
pub fn parse_bitfinex(v: &Value) -> Result<Quote, String> {
    if v[0].as_str() == Some("error") {
        return Err(format!("error {v}"));
    }
    let trades = v.as_array().ok_or("no trades in the answer")?;
    let last = latest(trades, 1, 1000)?;
    let price = last[3].as_f64().ok_or("no price in the last trade")?;
    Ok(Quote {
        usd: positive(price)?,
        at: seconds(&last[1], 1000)?,
    })
}

/// The trade (an array) with the latest readable time at index `at` (in
/// `1/per` seconds), whatever order the source lists them in.
fn latest(trades: &[Value], at: usize, per: i64) -> Result<&Value, String> {
    if trades.is_empty() {
        return Err("no trades in the answer".into());
    }
    trades
        .iter()
        .filter_map(|t| seconds(&t[at], per).ok().map(|s| (s, t)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, t)| t)
        .ok_or_else(|| "no time in the answer".into())
}

/// A time in `1/per` seconds since the epoch (a whole or fractional number),
/// in seconds; refused when missing, negative or not a number.
fn seconds(v: &Value, per: i64) -> Result<Timestamp, String> {
    if v.is_null() {
        return Err("no time in the answer".into());
    }
    let secs = match v.as_i64() {
        Some(t) => Some(t.div_euclid(per)),
        None => v
            .as_f64()
            .map(|f| f / per as f64)
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.floor() as i64),
    };
    match secs {
        Some(s) if s >= 0 => Ok(s),
        _ => Err(format!("{v} is not a time")),
    }
}

fn positive(usd: f64) -> Result<Micro, String> {
    micro_from_f64(usd)
        .filter(|m| *m > 0)
        .ok_or_else(|| format!("{usd} is not a price"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_767_225_600;

    fn q(usd: Micro, at: i64) -> Quote {
        Quote { usd, at }
    }

    #[test]
    fn each_answer_is_timed_by_its_source() {
        let gecko = json!({ "monero": { "usd": 150.5, "last_updated_at": NOW - 60 } });
        assert_eq!(parse_coingecko(&gecko), Ok(q(150_500_000, NOW - 60)));
        let kraken = json!({ "error": [], "result": { "XXMRZUSD": [
            ["151.00000000", "0.5", (NOW - 30) as f64 + 0.75, "b", "m", "", 7],
            ["150.00000000", "0.5", (NOW - 900) as f64, "s", "l", "", 6]
        ], "last": "1767225570750000000" } });
        assert_eq!(parse_kraken(&kraken), Ok(q(151_000_000, NOW - 30)));
        let bitfinex = json!([[1, (NOW - 5) * 1000 + 999, 0.1, 152.25]]);
        assert_eq!(parse_bitfinex(&bitfinex), Ok(q(152_250_000, NOW - 5)));
    }

    #[test]
    fn an_answer_without_a_time_is_refused_not_stamped_now() {
        let gecko = json!({ "monero": { "usd": 150.0 } });
        assert_eq!(parse_coingecko(&gecko), Err("no time in the answer".into()));
        let kraken = json!({ "error": [], "result": { "XXMRZUSD": [["150.0", "1"]] } });
        assert_eq!(parse_kraken(&kraken), Err("no time in the answer".into()));
        assert!(parse_bitfinex(&json!([])).is_err());
        let e = parse_bitfinex(&json!(["error", 10020, "symbol: invalid"])).unwrap_err();
        assert!(e.contains("symbol: invalid"), "{e}");
    }

    #[test]
    fn stale_and_future_times() {
        assert_eq!(
            timed(q(1, NOW - 3600), NOW, 3600),
            Said::Fresh(q(1, NOW - 3600))
        );
        assert_eq!(
            timed(q(1, NOW - 3601), NOW, 3600),
            Said::Stale(q(1, NOW - 3601))
        );
        // A clock a little ahead reads as now; far ahead is refused.
        assert_eq!(timed(q(1, NOW + 300), NOW, 3600), Said::Fresh(q(1, NOW)));
        assert!(
            matches!(timed(q(1, NOW + 301), NOW, 3600), Said::Failed(w) if w.contains("ahead"))
        );
    }

    #[test]
    fn the_report_names_stale_failed_and_disagreeing_sources() {
        let r = report_of(
            vec![
                ("coingecko", Ok(q(150_000_000, NOW - 10))),
                ("kraken", Ok(q(75_000_000, NOW - 10))),
                ("bitfinex", Ok(q(151_000_000, NOW - 7200))),
            ],
            NOW,
            3600,
        );
        let e = r.median.clone().unwrap_err().0;
        assert!(
            e.contains("coingecko said $150.00 and kraken $75.00"),
            "{e}"
        );
        assert!(e.contains("bitfinex: stale since"), "{e}");
        assert!(matches!(r.sources[0].said, Said::Disagrees(_)));
        assert!(matches!(r.sources[1].said, Said::Disagrees(_)));

        let r = report_of(
            vec![
                ("coingecko", Ok(q(150_000_000, NOW - 10))),
                ("kraken", Ok(q(75_000_000, NOW - 20))),
                ("bitfinex", Ok(q(151_000_000, NOW - 30))),
            ],
            NOW,
            3600,
        );
        assert_eq!(r.median, Ok(q(150_000_000, NOW - 30)));
        assert_eq!(r.sources[1].said, Said::Disagrees(q(75_000_000, NOW - 20)));
        let s = r.summary();
        assert!(
            s.starts_with("150000000 µUSD/XMR (from coingecko $150.00, bitfinex $151.00)")
                && s.contains("kraken $75.00 (disagrees"),
            "{s}"
        );
    }
}
