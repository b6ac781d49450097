//! Answers that once panicked or misled a parser, kept as plain examples.

use super::*;

#[test]
fn answers_that_once_broke_a_parser() {
    // Transfers whose amounts add up past u64::MAX panicked the sums
    // (overflow checks are on in release).
    let transfer = |txid: &str| json!({ "txid": txid, "amount": u64::MAX, "confirmations": 20, "timestamp": 1 });
    let body = |r: Value| json!({ "result": r }).to_string().into_bytes();
    let a = wallet::parse_account_state(
        &body(json!({ "balance": u64::MAX, "unlocked_balance": 0 })),
        &body(
            json!({ "in": [transfer("a"), transfer("b")], "pool": [transfer("c"), transfer("d")] }),
        ),
    )
    .expect("readable");
    assert_eq!(
        (a.deposits(), a.in_pool(), a.pending()),
        (u64::MAX, u64::MAX, u64::MAX)
    );

    // A sweep of one transaction without its hash or blob was taken as built.
    let sweep = json!({ "tx_hash_list": [""], "tx_metadata_list": [""], "amount_list": [1], "fee_list": [1] });
    assert!(wallet::parse_sweep(&body(sweep)).is_err());
    // An account without an address would give an operation nobody can pay.
    let created = json!({ "account_index": 7, "address": "" });
    assert!(wallet::parse_create_account(&body(created), "x").is_err());

    // A next-page link glued to the base named another host, and the token went there.
    for link in [
        "@evil.example/v2/droplets",
        "x:@evil.example/",
        ".evil.example/",
    ] {
        let page = json!({ "droplets": [], "links": { "pages": { "next": link } } });
        let (_, next) = do_client().parse_page(&page, "droplets").unwrap();
        let next = next.expect("a next page");
        let url = reqwest::Url::parse(&next).expect("a URL");
        assert_eq!(
            url.host_str(),
            Some("api.digitalocean.com"),
            "{link} became {next}"
        );
    }
    // Empty ids and slugs: `DELETE /v2/volumes/` and an empty form field as a region.
    assert_eq!(
        digitalocean::parse_volume(&json!({ "id": "", "name": "v" })),
        None
    );
    let region = json!({ "slug": "", "available": true, "sizes": ["s"], "features": ["storage"] });
    assert_eq!(digitalocean::parse_regions(&[region], "s"), vec![]);

    // Two huge prices overflowed the median's sum.
    let q = |usd| Quote { usd, at: NOW };
    assert_eq!(
        median(&[q(u64::MAX), q(u64::MAX - 2)]).map(|m| m.usd),
        Some(u64::MAX - 1)
    );
    // A price "updated" at i64::MIN overflowed the guard's `now - at`: a
    // time before the epoch is no time.
    let old = parse_coingecko(&json!({ "monero": { "usd": 150.0, "last_updated_at": i64::MIN } }));
    assert!(old.is_err(), "{old:?}");
    // A time far after now was read as now, so a source stuck there never
    // went stale: it is refused; a clock a little ahead still reads as now.
    let far = parse_coingecko(&json!({ "monero": { "usd": 150.0, "last_updated_at": i64::MAX } }))
        .expect("a time");
    assert!(matches!(timed(far, NOW, 3600), Said::Failed(w) if w.contains("ahead")));
    let near = Quote {
        usd: 1,
        at: NOW + MAX_AHEAD_SECS,
    };
    assert_eq!(
        timed(near, NOW, 3600),
        Said::Fresh(Quote { usd: 1, at: NOW })
    );
    // An answer without a time was stamped now (Kraken's ticker always was).
    assert_eq!(
        parse_coingecko(&json!({ "monero": { "usd": 150.0 } })),
        Err("no time in the answer".to_string())
    );
}
