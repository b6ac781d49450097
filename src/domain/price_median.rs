//! One price from several market sources (`PRICE_SOURCES`): which fresh
//! quotes are enough, and what their price is. One wrong source must never
//! move the price, so two sources must agree and three or more give their
//! median, which a majority must stand near.

use super::money::Quote;
use super::money::{Micro, format_usd};

/// How far apart (in percent of the lower price) two sources may be and
/// still agree.
pub const AGREE_PERCENT: u64 = 5;

/// Whether `a` and `b` are within [`AGREE_PERCENT`] of the lower one.
pub fn agree(a: Micro, b: Micro) -> bool {
    let (a, b) = (u128::from(a), u128::from(b));
    a.abs_diff(b) * 100 <= u128::from(AGREE_PERCENT) * a.min(b)
}

/// The median of quotes (the mean of the middle two for an even count),
/// timed by the oldest quote; `None` for no quotes.
pub fn median(quotes: &[Quote]) -> Option<Quote> {
    let mut prices: Vec<Micro> = quotes.iter().map(|q| q.usd).collect();
    prices.sort_unstable();
    let n = prices.len();
    let usd = if n == 0 {
        return None;
    } else if n % 2 == 1 {
        prices[n / 2]
    } else {
        // Halves first: two huge prices must not overflow.
        let (a, b) = (prices[n / 2 - 1], prices[n / 2]);
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    };
    let at = quotes.iter().map(|q| q.at).min()?;
    Some(Quote { usd, at })
}

/// The price of the `fresh` quotes (source name, quote) when `configured`
/// sources were asked, or why there is none:
///
/// - none fresh: no price;
/// - one fresh: its price when it is the only source configured; with two
///   or more configured one is not enough (the others may have seen what
///   it missed), so no price;
/// - two fresh: their mean when they [`agree`], else no price (which of the
///   two is wrong cannot be told);
/// - three or more: the median, when more than half of them agree with it.
pub fn combine(fresh: &[(String, Quote)], configured: usize) -> Result<Quote, String> {
    let quotes: Vec<Quote> = fresh.iter().map(|(_, q)| *q).collect();
    let said = || {
        fresh
            .iter()
            .map(|(s, q)| format!("{s} {}", format_usd(q.usd)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match fresh {
        [] => Err("no source gave a fresh price".into()),
        [(s, q)] if configured > 1 => Err(format!(
            "only {s} gave a fresh price ({}); one of {configured} sources is not enough",
            format_usd(q.usd)
        )),
        [(_, q)] => Ok(*q),
        [(s1, a), (s2, b)] if !agree(a.usd, b.usd) => Err(format!(
            "{s1} said {} and {s2} {}, more than {AGREE_PERCENT} % apart",
            format_usd(a.usd),
            format_usd(b.usd)
        )),
        _ => {
            let m = median(&quotes).ok_or("no source gave a fresh price")?;
            let near = quotes.iter().filter(|q| agree(q.usd, m.usd)).count();
            if near * 2 > quotes.len() {
                Ok(m)
            } else {
                Err(format!(
                    "the sources disagree ({}): fewer than half are within {AGREE_PERCENT} % of their median",
                    said()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(usd: Micro, at: i64) -> Quote {
        Quote { usd, at }
    }

    fn named(qs: &[(&str, Micro)]) -> Vec<(String, Quote)> {
        qs.iter().map(|(s, u)| (s.to_string(), q(*u, 10))).collect()
    }

    #[test]
    fn median_of_quotes() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[q(150, 10)]), Some(q(150, 10)));
        assert_eq!(median(&[q(150, 10), q(160, 5)]), Some(q(155, 5)));
        assert_eq!(
            median(&[q(150, 10), q(1000, 9), q(160, 8)]),
            Some(q(160, 8))
        );
        assert_eq!(
            median(&[q(u64::MAX, 1), q(u64::MAX - 2, 1)]),
            Some(q(u64::MAX - 1, 1))
        );
    }

    #[test]
    fn agreement_is_within_five_percent_of_the_lower_price() {
        assert!(agree(100, 105) && agree(105, 100) && agree(7, 7));
        assert!(!agree(100, 106) && !agree(106, 100));
        assert!(!agree(150_000_000, 75_000_000));
        assert!(agree(u64::MAX, u64::MAX - 1));
    }

    #[test]
    fn two_sources_that_disagree_give_no_price_not_their_mean() {
        let e = combine(
            &named(&[("coingecko", 150_000_000), ("kraken", 75_000_000)]),
            2,
        )
        .unwrap_err();
        assert!(
            e.contains("coingecko said $150.00") && e.contains("kraken $75.00"),
            "{e}"
        );
        let ok = combine(
            &named(&[("coingecko", 150_000_000), ("kraken", 152_000_000)]),
            2,
        );
        assert_eq!(ok.map(|q| q.usd), Ok(151_000_000));
    }

    #[test]
    fn three_sources_with_one_wrong_give_the_right_price() {
        let three = named(&[
            ("coingecko", 150_000_000),
            ("kraken", 75_000_000),
            ("bitfinex", 151_000_000),
        ]);
        assert_eq!(combine(&three, 3).map(|q| q.usd), Ok(150_000_000));
        // Two wrong ones in opposite directions: no majority near the median.
        let spread = named(&[("a", 100_000_000), ("b", 150_000_000), ("c", 220_000_000)]);
        assert!(combine(&spread, 3).unwrap_err().contains("disagree"));
    }

    #[test]
    fn one_fresh_source_is_enough_only_when_it_is_the_only_one() {
        let one = named(&[("kraken", 150_000_000)]);
        assert_eq!(combine(&one, 1).map(|q| q.usd), Ok(150_000_000));
        let e = combine(&one, 3).unwrap_err();
        assert!(e.contains("only kraken") && e.contains("3 sources"), "{e}");
        assert!(combine(&[], 2).is_err());
    }
}
