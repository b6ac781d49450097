//! The price APIs.

use super::*;

pub(super) const NOW: i64 = 1_767_225_600;

fn coingecko() -> BoxedStrategy<Value> {
    (
        number(),
        prop_oneof![number(), (0i64..NOW * 2).prop_map(Value::from)],
    )
        .prop_map(|(usd, at)| json!({ "monero": { "usd": usd, "last_updated_at": at } }))
        .boxed()
}

/// A time as a source may give it: a number of any kind, or a plausible one.
fn time(per: i64) -> BoxedStrategy<Value> {
    prop_oneof![
        number(),
        (0i64..NOW * 2).prop_map(move |t| Value::from(t * per)),
        (0.0..(NOW * 2) as f64).prop_map(move |t| Value::from(t * per as f64)),
    ]
    .boxed()
}

fn kraken() -> BoxedStrategy<Value> {
    let trade = (
        prop_oneof![
            text(),
            any::<f64>().prop_map(|f| f.to_string()),
            (0u32..1_000_000, 0u32..100_000_000).prop_map(|(a, b)| format!("{a}.{b:08}")),
        ],
        time(1),
    )
        .prop_map(|(price, at)| json!([price, "0.5", at, "b", "m", "", 42]));
    (
        prop::collection::vec(trade, 0..3),
        prop::collection::vec(text(), 0..2),
    )
        .prop_map(|(trades, errors)| {
            json!({ "error": errors, "result": { "XXMRZUSD": trades, "last": "1767225600000000000" } })
        })
        .boxed()
}

fn bitfinex() -> BoxedStrategy<Value> {
    let trade = (any::<u64>(), time(1000), number(), number())
        .prop_map(|(id, mts, amount, price)| json!([id, mts, amount, price]));
    prop::collection::vec(trade, 0..3)
        .prop_map(Value::from)
        .boxed()
}

/// Whether `q` is a positive price whose time is one the answer gave (in
/// seconds, from `1/per` seconds), never ours.
fn from_the_answer(q: &Quote, times: &[&Value], per: i64) -> bool {
    let secs = |t: &Value| match t.as_i64() {
        Some(t) => Some(t.div_euclid(per)),
        None => t.as_f64().map(|f| (f / per as f64).floor() as i64),
    };
    q.usd > 0 && q.at >= 0 && times.iter().any(|t| secs(t) == Some(q.at))
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn coingecko_answers_give_a_positive_price_at_their_own_time(v in answers(coingecko())) {
        match parse_coingecko(&v) {
            Ok(q) => prop_assert!(from_the_answer(&q, &[&v["monero"]["last_updated_at"]], 1), "{q:?}"),
            Err(m) => prop_assert!(!m.is_empty()),
        }
    }

    #[test]
    fn kraken_answers_give_a_positive_price_at_their_own_time(v in answers(kraken())) {
        match parse_kraken(&v) {
            Ok(q) => {
                let trades = v["result"].as_object().and_then(|m| m.values().find_map(Value::as_array)).unwrap();
                let times: Vec<&Value> = trades.iter().map(|t| &t[2]).collect();
                prop_assert!(from_the_answer(&q, &times, 1), "{q:?} from {v}");
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
    }

    #[test]
    fn bitfinex_answers_give_a_positive_price_at_their_own_time(v in answers(bitfinex())) {
        match parse_bitfinex(&v) {
            Ok(q) => {
                let times: Vec<&Value> = v.as_array().unwrap().iter().map(|t| &t[1]).collect();
                prop_assert!(from_the_answer(&q, &times, 1000), "{q:?} from {v}");
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(cases(3_000))]

    /// Whatever the sources say, the report, its median and the price guard
    /// that judges it neither panic nor use a stale, future or lone price,
    /// and the price stays within what fresh sources said and near most of them.
    #[test]
    fn hostile_quotes_pass_through_the_report_and_the_guard(
        gecko in answers(coingecko()),
        kraken in answers(kraken()),
        bitfinex in answers(bitfinex()),
        // Any quote, or one near the market and near now (fresh, stale, a bit ahead).
        others in prop::collection::vec(prop_oneof![
            (1u64..=u64::MAX, 0i64..=NOW * 2),
            (140_000_000u64..=165_000_000, NOW - 7200..=NOW + 600),
        ], 0..4),
        last in prop::option::of((1u64..=u64::MAX, 0i64..=NOW)),
    ) {
        let names: Vec<String> = (0..others.len()).map(|i| format!("other{i}")).collect();
        let mut answers = vec![
            ("coingecko", parse_coingecko(&gecko)),
            ("kraken", parse_kraken(&kraken)),
            ("bitfinex", parse_bitfinex(&bitfinex)),
        ];
        answers.extend(names.iter().zip(&others).map(|(n, (usd, at))| (n.as_str(), Ok(Quote { usd: *usd, at: *at }))));
        let configured = answers.len();
        let r = report_of(answers, NOW, 3600);
        prop_assert_eq!(r.sources.len(), configured);
        let fresh: Vec<Quote> = r.sources.iter().filter_map(|s| match s.said {
            Said::Fresh(q) | Said::Disagrees(q) => Some(q),
            _ => None,
        }).collect();
        for q in &fresh {
            prop_assert!(q.at <= NOW && NOW - q.at <= 3600, "{q:?}");
        }
        if let Ok(m) = &r.median {
            let (lo, hi) = (fresh.iter().map(|q| q.usd).min().unwrap(), fresh.iter().map(|q| q.usd).max().unwrap());
            prop_assert!(lo <= m.usd && m.usd <= hi);
            prop_assert!(fresh.len() >= 2, "{r:?}");
            prop_assert!(fresh.iter().filter(|q| agree(q.usd, m.usd)).count() * 2 >= fresh.len(), "{r:?}");
            prop_assert!(NOW - m.at <= 3600);
        }
        let mut guard = PriceState { accepted: last.map(|(usd, at)| Quote { usd, at }), ..PriceState::default() };
        let rules = Rules { max_age_secs: 3600, max_move_percent: 25, max_wait_secs: 12 * 3600 };
        let _ = guard.judge(r.median.map_err(|e| e.0), NOW, &rules);
    }
}
