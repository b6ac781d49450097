//! Hostile input: property tests of every parser that reads what visitors,
//! nodes and remote services send (issue "Security: hostile input").
//!
//! Each parser is fed random and near-miss input, mutated valid input and,
//! for the remote clients, arbitrary JSON with keys close to the expected
//! ones, wrong types, huge, negative and fractional numbers. None may panic;
//! each either accepts with sane values or refuses with a message. The case
//! counts (`cases(N)` of each block) add up to 148,500; the file runs in
//! about 5 s in release mode on 2 cores:
//! `cargo test --release --features test-hooks --test suite hostile_input`.
//! The last test keeps the answers that once panicked or misled a parser.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use nodecannon::app::AppState;
use nodecannon::clients::cloud::CloudError;
use nodecannon::clients::digitalocean::{self as digitalocean, DigitalOcean};
use nodecannon::clients::market::{
    MAX_AHEAD_SECS, parse_bitfinex, parse_coingecko, parse_kraken, report_of, timed,
};
use nodecannon::clients::monero as wallet;
use nodecannon::clients::node::{parse_get_info, parse_report};
use nodecannon::clients::price::{Quote, Said};
use nodecannon::clients::wallet::{TransferStatus, WalletError};
use nodecannon::domain::codename;
use nodecannon::domain::health::{classify, sync_percent};
use nodecannon::domain::money::{format_xmr, parse_decimal_micro, parse_xmr};
use nodecannon::domain::price_guard::{PriceState, Rules};
use nodecannon::domain::price_median::{agree, median};
use nodecannon::domain::xmr_address::{Network, check_address};
use nodecannon::error::AppError;
use nodecannon::ops::LaunchForm;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Value, json};

/// A block's configuration: `n` cases, no regression files written into
/// the checkout (a failure prints its minimal input), the rest as proptest's default.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

mod addresses;
mod amounts;
mod codenames;
mod do_answers;
mod launchpad;
mod nodes;
mod prices;
mod regressions;
mod wallet_answers;

use do_answers::do_client;
use launchpad::REGIONS;
use prices::NOW;
use wallet_answers::hex;

// ---------------------------------------------------------------------------
// Generators shared by every parser.

/// Strings that break naive parsers: signs, exponents, non-ASCII digits,
/// case-folding surprises, invisible characters, overflow edges, dates,
/// form syntax, links to other hosts.
const ODD: &[&str] = &[
    "",
    " ",
    "\0",
    "\t\n\r",
    "-",
    "+",
    ".",
    "..",
    "-0",
    "-1",
    "+1",
    "1.",
    ".5",
    "1.2.3",
    "1e3",
    "1E-3",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "0x10",
    "1_000",
    "1,5",
    "\u{661}\u{662}",
    "\u{ff11}",
    "\u{212a}",
    "\u{130}",
    "\u{df}",
    "\u{200b}",
    "\u{feff}",
    "\u{202e}",
    "\u{3000}",
    "\u{e9}",
    "\u{1f4a5}",
    "null",
    "true",
    "{}",
    "[]",
    "{\"step\":",
    "%00",
    "%FF",
    "%",
    "+%2B+",
    "&",
    "=",
    "&&==",
    "a=b&a=c",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "99999999999999999999999999999",
    "0.000000000001",
    "0.0000000000001",
    "18446744.073709551615",
    "18446744.073709551616",
    "000000000000000000000000001",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:00:00+99:99",
    "2026-01-01T00:00:00.999999999999Z",
    ".onion",
    "a.onion",
    "ams3",
    "AMS3",
    "s-2vcpu-4gb",
    "storage",
    "public",
    "failed",
    "http://evil.example/",
    "@evil.example",
    "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC",
];

/// Any text: random Unicode, printable ASCII, near-valid words, odd strings
/// and their concatenations, long runs of one character.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        3 => "[ -~]{0,40}",
        2 => "[a-zA-Z0-9 ._-]{0,40}",
        2 => select(ODD).prop_map(String::from),
        1 => (select(ODD), "[ -~]{0,4}", select(ODD)).prop_map(|(a, b, c)| format!("{a}{b}{c}")),
        1 => (any::<char>(), 0usize..4000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
    .boxed()
}

/// Keys: the ones the parsers look for, near misses, and random ones.
const KEYS: &[&str] = &[
    "result",
    "error",
    "code",
    "message",
    "id",
    "jsonrpc",
    "subaddress_accounts",
    "account_index",
    "base_address",
    "label",
    "address",
    "balance",
    "unlocked_balance",
    "in",
    "pool",
    "txid",
    "amount",
    "confirmations",
    "timestamp",
    "unlock_time",
    "tx_hash",
    "tx_metadata",
    "fee",
    "tx_hash_list",
    "tx_metadata_list",
    "amount_list",
    "fee_list",
    "transfer",
    "transfers",
    "type",
    "droplet",
    "droplets",
    "volume",
    "volumes",
    "domain_record",
    "domain_records",
    "regions",
    "sizes",
    "account",
    "droplet_limit",
    "name",
    "slug",
    "available",
    "features",
    "price_hourly",
    "region",
    "status",
    "networks",
    "v4",
    "v6",
    "ip_address",
    "tags",
    "created_at",
    "size_gigabytes",
    "droplet_ids",
    "data",
    "links",
    "pages",
    "next",
    "failures",
    "ssh_key",
    "fingerprint",
    "public_key",
    "monero",
    "usd",
    "last_updated_at",
    "XXMRZUSD",
    "c",
    "height",
    "target_height",
    "synchronized",
    "step",
    "onion",
    "",
    "Balance",
    "amount ",
    "tx-hash",
    "r\u{e9}sult",
    "__proto__",
];

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(KEYS).prop_map(String::from),
        1 => "[a-z_]{0,8}",
        1 => any::<String>(),
    ]
    .boxed()
}

/// Numbers at the edges of every integer type the parsers read.
const EDGE_U64: &[u64] = &[
    0,
    1,
    9,
    10,
    11,
    255,
    65_535,
    4_294_967_295,
    4_294_967_296,
    1_000_000_000_000,
    9_007_199_254_740_993,
    i64::MAX as u64,
    u64::MAX - 1,
    u64::MAX,
];

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        select(EDGE_U64).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        select(&[i64::MIN, -1, -10, i64::MIN + 1][..]).prop_map(Value::from),
        // NaN and infinities become null: JSON has none.
        any::<f64>().prop_map(Value::from),
        select(&[0.5, -0.0, 1e-300, 5e-324, 1e300, 1.8e19, 150.123_456_789][..])
            .prop_map(Value::from),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        3 => number(),
        3 => text().prop_map(Value::from),
    ]
    .boxed()
}

/// Arbitrary JSON, nested up to 4 levels.
fn any_json() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(4, 48, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

/// One change to a node of a JSON document.
#[derive(Debug, Clone)]
enum Mutation {
    /// The node becomes another value (a wrong type, a huge number...).
    Replace(Value),
    /// The node leaves its object or array.
    Remove,
    /// The node's key changes (a near miss).
    Rename(String),
    /// A number changes sign; anything else becomes `-1`.
    Negate,
    /// The node becomes the string of its JSON (`5` → `"5"`).
    Stringify,
    /// A number gains a fraction.
    Fraction,
    /// The node becomes an array holding it.
    Wrap,
    /// An array's first element is repeated; an object gains a key.
    Grow(String, Value),
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        3 => any_json().prop_map(Mutation::Replace),
        2 => leaf().prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        1 => key().prop_map(Mutation::Rename),
        1 => Just(Mutation::Negate),
        1 => Just(Mutation::Stringify),
        1 => Just(Mutation::Fraction),
        1 => Just(Mutation::Wrap),
        1 => (key(), leaf()).prop_map(|(k, v)| Mutation::Grow(k, v)),
    ]
    .boxed()
}

fn mutations() -> BoxedStrategy<Vec<(Index, Mutation)>> {
    prop::collection::vec((any::<Index>(), mutation()), 1..4).boxed()
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn unescape(t: &str) -> String {
    t.replace("~1", "/").replace("~0", "~")
}

/// JSON pointers of every node, the root first.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(c, format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Applies each mutation to a node chosen by its index.
fn mutate(doc: &mut Value, muts: &[(Index, Mutation)]) {
    for (at, m) in muts {
        let mut all = Vec::new();
        pointers(doc, String::new(), &mut all);
        let ptr = all[at.index(all.len())].clone();
        let (parent, token) = match ptr.rfind('/') {
            Some(i) => (ptr[..i].to_string(), Some(unescape(&ptr[i + 1..]))),
            None => (String::new(), None),
        };
        match m {
            Mutation::Remove | Mutation::Rename(_) => {
                let Some(token) = token else {
                    *doc = Value::Null;
                    continue;
                };
                match doc.pointer_mut(&parent) {
                    Some(Value::Object(o)) => {
                        if let (Some(v), Mutation::Rename(k)) = (o.remove(&token), m) {
                            o.insert(k.clone(), v);
                        }
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = token.parse::<usize>()
                            && i < a.len()
                        {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
            }
            _ => {
                let Some(node) = doc.pointer_mut(&ptr) else {
                    continue;
                };
                *node = match (m, node.take()) {
                    (Mutation::Replace(v), _) => v.clone(),
                    (Mutation::Negate, Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                        (Some(i), _) => json!(i.checked_neg().unwrap_or(i64::MIN)),
                        (None, Some(f)) => json!(-f),
                        _ => json!(-1),
                    },
                    (Mutation::Negate, _) => json!(-1),
                    (Mutation::Stringify, v) => Value::String(v.to_string()),
                    (Mutation::Fraction, Value::Number(n)) => {
                        json!(n.as_f64().unwrap_or(0.0) + 0.5)
                    }
                    (Mutation::Fraction, v) => v,
                    (Mutation::Wrap, v) => json!([v]),
                    (Mutation::Grow(_, _), Value::Array(mut a)) => {
                        if let Some(first) = a.first().cloned() {
                            a.push(first);
                        }
                        Value::Array(a)
                    }
                    (Mutation::Grow(k, x), Value::Object(mut o)) => {
                        o.insert(k.clone(), x.clone());
                        Value::Object(o)
                    }
                    (_, v) => v,
                };
            }
        }
    }
}

/// A valid document, then mutated.
fn mutated(valid: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    (valid, mutations())
        .prop_map(|(mut v, m)| {
            mutate(&mut v, &m);
            v
        })
        .boxed()
}

/// What a remote may answer in place of `valid`: it mutated (most often),
/// anything at all, or `valid` itself.
fn answers(valid: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => mutated(valid.clone()),
        2 => any_json(),
        1 => valid,
    ]
    .boxed()
}
