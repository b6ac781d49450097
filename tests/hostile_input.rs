//! Hostile input: property tests of every parser that reads what visitors,
//! nodes and remote services send (issue "Security: hostile input").
//!
//! Each parser is fed random and near-miss input, mutated valid input and,
//! for the remote clients, arbitrary JSON with keys close to the expected
//! ones, wrong types, huge, negative and fractional numbers. None may panic;
//! each either accepts with sane values or refuses with a message. The case
//! counts (`cases(N)` of each block) add up to 148,500; the file runs in
//! about 5 s in release mode on 2 cores:
//! `cargo test --release --features test-hooks --test hostile_input`.
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

// ---------------------------------------------------------------------------
// Codenames.

fn follows_codename_rules(name: &str) -> bool {
    (1..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

proptest! {
    #![proptest_config(cases(15_000))]

    #[test]
    fn any_codename_is_accepted_only_when_it_follows_the_rules(input in text()) {
        match codename::parse(&input) {
            Ok(name) => {
                prop_assert!(follows_codename_rules(&name), "{input:?} gave {name:?}");
                prop_assert_eq!(codename::parse(&name), Ok(name.clone()));
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(cases(5_000))]

    #[test]
    fn valid_codenames_are_accepted_lowercased(
        name in "[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?",
        upper in prop::collection::vec(any::<bool>(), 30),
        pad in "[ \t\n]{0,3}",
    ) {
        let shouted: String = name
            .chars()
            .zip(&upper)
            .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert_eq!(codename::parse(&format!("{pad}{shouted}{pad}")), Ok(name));
    }
}

// ---------------------------------------------------------------------------
// Monero addresses.

const NETWORKS: [(Network, [u8; 3]); 3] = [
    (Network::Mainnet, [18, 19, 42]),
    (Network::Stagenet, [24, 25, 36]),
    (Network::Testnet, [53, 54, 63]),
];

prop_compose! {
    /// A valid address: (its network, the address, its bytes).
    fn valid_address()(
        net in 0usize..3,
        kind in 0usize..3,
        keys in prop::collection::vec(any::<u8>(), 64),
        payment_id in prop::collection::vec(any::<u8>(), 8),
    ) -> (usize, String, Vec<u8>) {
        let mut bytes = vec![NETWORKS[net].1[kind]];
        bytes.extend(&keys);
        if kind == 1 {
            bytes.extend(&payment_id);
        }
        let addr = base58_monero::encode_check(&bytes).expect("encodable");
        (net, addr, bytes)
    }
}

/// Characters a typo brings: base58 ones, ones base58 leaves out, non-ASCII.
const ADDRESS_CHARS: &str =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl+/=\u{e9}\u{1f4a5}";

#[derive(Debug, Clone)]
enum Typo {
    Substitute(Index, Index),
    Delete(Index),
    Insert(Index, Index),
    Swap(Index),
    Truncate(Index),
}

fn typo() -> BoxedStrategy<Typo> {
    prop_oneof![
        4 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Typo::Substitute(a, b)),
        1 => any::<Index>().prop_map(Typo::Delete),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Typo::Insert(a, b)),
        1 => any::<Index>().prop_map(Typo::Swap),
        1 => any::<Index>().prop_map(Typo::Truncate),
    ]
    .boxed()
}

fn apply_typo(addr: &str, t: &Typo) -> String {
    let mut c: Vec<char> = addr.chars().collect();
    let alphabet: Vec<char> = ADDRESS_CHARS.chars().collect();
    if c.len() < 2 {
        // Too short to cut further: the typo adds a character instead.
        c.push(alphabet[0]);
        return c.into_iter().collect();
    }
    match t {
        Typo::Substitute(i, x) => {
            let i = i.index(c.len());
            let mut x = x.index(alphabet.len());
            if alphabet[x] == c[i] {
                x = (x + 1) % alphabet.len();
            }
            c[i] = alphabet[x];
        }
        Typo::Delete(i) => {
            c.remove(i.index(c.len()));
        }
        Typo::Insert(i, x) => c.insert(i.index(c.len() + 1), alphabet[x.index(alphabet.len())]),
        Typo::Swap(i) => {
            let i = i.index(c.len() - 1);
            c.swap(i, i + 1);
        }
        Typo::Truncate(i) => c.truncate(i.index(c.len())),
    }
    c.into_iter().collect()
}

proptest! {
    #![proptest_config(cases(4_000))]

    #[test]
    fn valid_addresses_round_trip_and_other_networks_are_refused(
        (net, addr, bytes) in valid_address(),
        pad in "[ \t\n]{0,2}",
    ) {
        prop_assert_eq!(addr.len(), if bytes.len() == 73 { 106 } else { 95 });
        prop_assert_eq!(base58_monero::decode_check(&addr).ok(), Some(bytes));
        let padded = format!("{pad}{addr}{pad}");
        for (i, (other, _)) in NETWORKS.iter().enumerate() {
            let r = check_address(&padded, *other);
            if i == net {
                prop_assert_eq!(r, Ok(()));
            } else {
                let m = r.unwrap_err();
                let expected = format!(
                    "it is a {} address, not a {} one",
                    NETWORKS[net].0.as_str(),
                    other.as_str()
                );
                prop_assert_eq!(m, expected);
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(8_000))]

    #[test]
    fn addresses_with_a_typo_are_refused(
        (net, addr, _) in valid_address(),
        typos in prop::collection::vec(typo(), 1..3),
    ) {
        let mut bad = addr.clone();
        for t in &typos {
            bad = apply_typo(&bad, t);
        }
        let r = check_address(&bad, NETWORKS[net].0);
        // A changed address passes only if its 4-byte checksum collides: 2^-32.
        if bad != addr {
            prop_assert!(r.as_ref().is_err_and(|m| !m.is_empty()), "{bad:?} passed");
        } else {
            prop_assert_eq!(r, Ok(()));
        }
    }

    #[test]
    fn random_addresses_never_pass(
        input in prop_oneof![
            text(),
            "[1-9A-HJ-NP-Za-km-z]{95}",
            "4[1-9A-HJ-NP-Za-km-z]{105}",
            // Well-formed base58 with a valid checksum, any prefix and length.
            prop::collection::vec(any::<u8>(), 0..90)
                .prop_map(|b| base58_monero::encode_check(&b).unwrap_or_default()),
        ],
        net in 0usize..3,
    ) {
        let (network, prefixes) = NETWORKS[net];
        match check_address(&input, network) {
            Ok(()) => {
                // Only an encoding of the network's prefix and keys passes.
                let bytes = base58_monero::decode_check(input.trim()).expect("checked");
                prop_assert!(prefixes.contains(&bytes[0]));
                prop_assert_eq!(bytes.len(), if bytes[0] == prefixes[1] { 73 } else { 65 });
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
    }
}

// ---------------------------------------------------------------------------
// XMR and USD amounts from forms.

/// What `digits.digits` means with `decimals` places, computed wide; `None`
/// when it is no amount or does not fit in a `u64`.
fn reference_fixed(s: &str, decimals: usize) -> Option<u64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || frac.len() > decimals
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    if int.len() > 25 {
        return None;
    }
    let i: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: u128 = format!("{frac:0<decimals$}").parse().unwrap_or(0);
    u64::try_from(i * 10u128.pow(decimals as u32) + f).ok()
}

fn amount_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => text(),
        3 => "[ ]?[0-9]{0,22}(\\.[0-9]{0,15})?[ ]?",
        1 => "[-+]?[0-9.eE_,]{0,24}",
    ]
    .boxed()
}

proptest! {
    #![proptest_config(cases(12_000))]

    #[test]
    fn any_xmr_amount_is_read_exactly_or_refused(input in amount_text()) {
        prop_assert_eq!(parse_xmr(&input), reference_fixed(&input, 12), "{:?}", input);
    }
}

proptest! {
    #![proptest_config(cases(5_000))]

    #[test]
    fn every_piconero_amount_round_trips(pico in prop_oneof![any::<u64>(), select(EDGE_U64)]) {
        let whole = format!("{}.{:012}", pico / 1_000_000_000_000, pico % 1_000_000_000_000);
        prop_assert_eq!(parse_xmr(&whole), Some(pico));
        prop_assert_eq!(parse_xmr(&format_xmr(pico)), Some(pico));
        prop_assert_eq!(parse_xmr(&format!("-{whole}")), None);
    }

    #[test]
    fn any_usd_amount_is_read_exactly_or_refused(input in amount_text()) {
        prop_assert_eq!(parse_decimal_micro(&input), reference_fixed(&input, 6), "{:?}", input);
    }
}

// ---------------------------------------------------------------------------
// The launchpad form and its region.

proptest! {
    #![proptest_config(cases(6_000))]

    #[test]
    fn any_form_body_decodes_or_is_refused(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            text().prop_map(String::into_bytes),
            prop::collection::vec((select(&["codename", "region", "refund_address", "x", ""][..]), text()), 0..6)
                .prop_map(|kv| kv.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&").into_bytes()),
        ],
    ) {
        if let Ok(form) = serde_urlencoded::from_bytes::<LaunchForm>(&body) {
            // What the launchpad does next with the fields must not panic either.
            let _ = codename::parse(&form.codename);
            let _ = form.region.trim().to_lowercase();
            let _ = check_address(&form.refund_address, Network::Mainnet);
        }
    }
}

proptest! {
    #![proptest_config(cases(4_000))]

    #[test]
    fn form_fields_arrive_as_sent(
        codename in text(),
        region in text(),
        refund in text(),
        extra in prop::collection::vec(("[a-z_]{1,8}", text()), 0..3),
        order in any::<Index>(),
    ) {
        let mut pairs = vec![
            ("codename".to_string(), codename.clone()),
            ("region".to_string(), region.clone()),
            ("refund_address".to_string(), refund.clone()),
        ];
        pairs.extend(
            extra
                .into_iter()
                .filter(|(k, _)| !["codename", "region", "refund_address"].contains(&k.as_str())),
        );
        let n = pairs.len();
        pairs.rotate_left(order.index(n));
        let body = serde_urlencoded::to_string(&pairs).expect("encodable");
        let form: LaunchForm = serde_urlencoded::from_str(&body).expect("decodable");
        prop_assert_eq!(form.codename, codename);
        prop_assert_eq!(form.region, region);
        prop_assert_eq!(form.refund_address, refund);
    }
}

/// The sandbox's regions (`src/sandbox/cloud.rs`).
const REGIONS: &[&str] = &[
    "ams3", "fra1", "lon1", "nyc3", "sfo3", "sgp1", "syd1", "tor1",
];

/// A sandbox app on its own data directory, for the launchpad's use case.
fn launchpad() -> &'static (tokio::runtime::Runtime, AppState) {
    static APP: OnceLock<(tokio::runtime::Runtime, AppState)> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile_input_launchpad");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("data dir");
        let mut vars = nodecannon::config::VarMap::new();
        for (k, v) in [
            ("DATA_DIR", dir.display().to_string()),
            ("LISTEN_ADDR", "127.0.0.1:0".into()),
            ("STATS_TOKEN", "hostile-input-admin-token".into()),
            ("MAX_AWAITING_FUNDS", "1000000".into()),
        ] {
            vars.insert(k.into(), v);
        }
        let config = nodecannon::config::Config::from_vars(&vars).expect("config");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let clock = std::sync::Arc::new(nodecannon::clock::ManualClock::new(1_767_225_600));
        let st = rt
            .block_on(async { AppState::build_with_clock(config, clock) })
            .expect("app");
        (rt, st)
    })
}

fn region_input() -> BoxedStrategy<String> {
    prop_oneof![
        // A real region, shouted and padded.
        (select(REGIONS), any::<bool>(), "[ \t]{0,2}").prop_map(|(r, up, pad)| {
            let r = if up { r.to_uppercase() } else { r.to_string() };
            format!("{pad}{r}{pad}")
        }),
        // One character off.
        (select(REGIONS), any::<Index>(), any::<char>()).prop_map(|(r, i, c)| {
            let mut s: Vec<char> = r.chars().collect();
            let i = i.index(s.len());
            s[i] = c;
            s.into_iter().collect()
        }),
        text(),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(cases(1_500))]

    #[test]
    fn only_offered_regions_open_an_operation(region in region_input()) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let (rt, st) = launchpad();
        let form = LaunchForm {
            codename: format!("region-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            region: region.clone(),
            refund_address: String::new(),
        };
        let normalised = region.trim().to_lowercase();
        match rt.block_on(nodecannon::ops::create(st, &form)) {
            Ok(op) => {
                prop_assert!(REGIONS.contains(&op.region.as_str()), "{region:?}");
                prop_assert_eq!(op.region, normalised);
            }
            Err(AppError::BadInput(m)) => {
                prop_assert!(!REGIONS.contains(&normalised.as_str()), "{region:?}: {m}");
                prop_assert!(m.contains("is not a region you can choose"), "{m}");
            }
            Err(e) => prop_assert!(false, "{region:?}: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// What nodes send: boot reports and `get_info`.

fn report_body() -> BoxedStrategy<String> {
    let fields = (
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            text(),
            "[a-z2-7]{56}\\.onion",
            "[a-zA-Z0-9.]{0,80}\\.onion",
        ]),
    );
    prop_oneof![
        2 => text(),
        2 => fields.clone().prop_map(|(step, onion)| {
            let mut m = serde_json::Map::new();
            if let Some(s) = step { m.insert("step".into(), s.into()); }
            if let Some(o) = onion { m.insert("onion".into(), o.into()); }
            Value::Object(m).to_string()
        }),
        2 => fields.prop_map(|(step, onion)| {
            let pairs: Vec<(&str, String)> = step
                .map(|s| ("step", s))
                .into_iter()
                .chain(onion.map(|o| ("onion", o)))
                .collect();
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        }),
        2 => answers(Just(json!({ "step": "volume mounted", "onion": "abc.onion" })).boxed())
            .prop_map(|v| v.to_string()),
    ]
    .boxed()
}

fn node_info() -> BoxedStrategy<Value> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        any::<u32>(),
        text(),
    )
        .prop_map(|(height, target, synced, conns, status)| {
            json!({ "jsonrpc": "2.0", "id": "0", "result": {
                "height": height, "target_height": target, "synchronized": synced,
                "incoming_connections_count": conns, "outgoing_connections_count": 8,
                "database_size": 1u64 << 40, "status": status, "nettype": "mainnet",
            }})
        })
        .boxed()
}

proptest! {
    #![proptest_config(cases(8_000))]

    #[test]
    fn node_reports_keep_only_a_clean_step_and_a_plausible_onion(body in report_body()) {
        match parse_report(&body) {
            Ok(r) => {
                prop_assert!(!r.step.is_empty() || r.onion.is_some());
                prop_assert!(r.step.chars().count() <= 64);
                prop_assert!(r.step.chars().all(|c| c.is_ascii_alphanumeric() || " -_.".contains(c)));
                if let Some(o) = &r.onion {
                    prop_assert!(o.ends_with(".onion") && o.len() <= 70);
                    prop_assert!(o.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
                }
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn any_get_info_answer_is_read_or_refused(v in answers(node_info())) {
        match parse_get_info(&v) {
            Ok(info) => {
                prop_assert!(sync_percent(info.height, info.target_height) <= 100);
                let probe = nodecannon::clients::node::probe_of(&Some(info.clone()));
                let _ = classify(Some(probe), 0, 1_767_225_600, u64::MAX, 10);
                let _ = classify(Some(probe), i64::MIN / 2, 0, info.height, u64::MAX);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

// ---------------------------------------------------------------------------
// monero-wallet-rpc's answers.

fn hex(n: usize) -> BoxedStrategy<String> {
    prop::collection::vec(any::<u8>(), n)
        .prop_map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .boxed()
}

fn amount() -> BoxedStrategy<u64> {
    prop_oneof![any::<u64>(), 0u64..10_000_000_000_000, select(EDGE_U64),].boxed()
}

fn transfer_row() -> BoxedStrategy<Value> {
    (
        hex(32),
        amount(),
        prop_oneof![0u64..20, any::<u64>()],
        any::<i64>(),
        prop_oneof![3 => Just(0u64), 1 => any::<u64>()],
    )
        .prop_map(|(txid, amount, confirmations, timestamp, unlock_time)| {
            json!({
                "txid": txid, "amount": amount, "amounts": [amount],
                "confirmations": confirmations, "timestamp": timestamp,
                "unlock_time": unlock_time, "height": 3_000_000, "type": "in",
                "fee": 30_000_000u64, "locked": true, "double_spend_seen": false,
                "subaddr_index": { "major": 1, "minor": 0 },
                "address": ODD[ODD.len() - 1], "payment_id": "0000000000000000",
            })
        })
        .boxed()
}

fn wallet_result(method: &str) -> BoxedStrategy<Value> {
    match method {
        "create_account" => (any::<u32>(), select(ODD))
            .prop_map(|(i, a)| json!({ "account_index": i, "address": a }))
            .boxed(),
        "get_accounts" => prop::collection::vec((any::<u32>(), amount(), text()), 0..4)
            .prop_map(|rows| {
                let rows: Vec<Value> = rows
                    .into_iter()
                    .map(|(i, b, l)| json!({
                        "account_index": i, "balance": b, "unlocked_balance": b / 2,
                        "base_address": ODD[ODD.len() - 1], "label": l, "tag": "",
                    }))
                    .collect();
                json!({ "subaddress_accounts": rows, "total_balance": 0, "total_unlocked_balance": 0 })
            })
            .boxed(),
        "get_balance" => (amount(), amount())
            .prop_map(|(b, u)| json!({
                "balance": b, "unlocked_balance": u, "multisig_import_needed": false,
                "blocks_to_unlock": 9, "time_to_unlock": 0,
                "per_subaddress": [{ "account_index": 1, "address_index": 0, "balance": b }],
            }))
            .boxed(),
        "get_transfers" => (
            prop::collection::vec(transfer_row(), 0..4),
            prop::collection::vec(transfer_row(), 0..3),
        )
            .prop_map(|(incoming, pool)| json!({ "in": incoming, "pool": pool }))
            .boxed(),
        "transfer_split" => (hex(32), hex(64), amount(), amount())
            .prop_map(|(h, m, a, f)| json!({
                "tx_hash_list": [h], "tx_metadata_list": [m], "amount_list": [a], "fee_list": [f],
                "tx_key_list": [""], "tx_blob_list": [""], "weight_list": [1500], "unsigned_txset": "",
            }))
            .boxed(),
        "sweep_all" => prop::collection::vec((hex(32), hex(64), amount(), amount()), 0..3)
            .prop_map(|txs| json!({
                "tx_hash_list": txs.iter().map(|t| t.0.clone()).collect::<Vec<_>>(),
                "tx_metadata_list": txs.iter().map(|t| t.1.clone()).collect::<Vec<_>>(),
                "amount_list": txs.iter().map(|t| t.2).collect::<Vec<_>>(),
                "fee_list": txs.iter().map(|t| t.3).collect::<Vec<_>>(),
                "weight_list": [1500],
            }))
            .boxed(),
        "relay_tx" => hex(32).prop_map(|h| json!({ "tx_hash": h })).boxed(),
        _ => (hex(32), select(&["out", "pending", "failed", "pool", "in"][..]), any::<bool>())
            .prop_map(|(h, kind, many)| {
                let t = json!({ "txid": h, "type": kind, "amount": 1, "fee": 1 });
                if many { json!({ "transfer": t, "transfers": [t] }) } else { json!({ "transfer": t }) }
            })
            .boxed(),
    }
}

/// What monero-wallet-rpc may answer to `method`: its JSON-RPC envelope
/// around a hostile result, an error of any shape, a cut answer, or bytes.
fn wallet_body(method: &str) -> BoxedStrategy<Vec<u8>> {
    let envelope = |r: Value| json!({ "jsonrpc": "2.0", "id": "0", "result": r });
    let valid = wallet_result(method);
    prop_oneof![
        6 => answers(valid.clone()).prop_map(move |r| envelope(r).to_string().into_bytes()),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
        1 => (prop_oneof![select(&[-2i64, -3, -8, -13, -16, -17, -37, -38, 0][..]), any::<i64>()], text())
            .prop_map(|(code, message)| json!({ "jsonrpc": "2.0", "id": "0", "error": { "code": code, "message": message } })
                .to_string().into_bytes()),
        1 => any_json().prop_map(|e| json!({ "id": "0", "error": e }).to_string().into_bytes()),
        1 => (valid, any::<Index>()).prop_map(move |(r, cut)| {
            let mut b = envelope(r).to_string().into_bytes();
            b.truncate(cut.index(b.len()));
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..100),
    ]
    .boxed()
}

fn wallet_error_says_why(e: &WalletError) -> bool {
    !e.to_string().trim().is_empty()
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn create_account_answers(body in wallet_body("create_account")) {
        match wallet::parse_create_account(&body, "op-label") {
            Ok(a) => {
                prop_assert!(!a.address.trim().is_empty());
                prop_assert_eq!(a.label, "op-label");
            }
            Err(e) => prop_assert!(wallet_error_says_why(&e)),
        }
    }

    #[test]
    fn get_accounts_answers(body in wallet_body("get_accounts")) {
        if let Err(e) = wallet::parse_accounts(&body) {
            prop_assert!(wallet_error_says_why(&e));
        }
    }

    #[test]
    fn balance_and_transfers_answers(
        balance in wallet_body("get_balance"),
        transfers in wallet_body("get_transfers"),
    ) {
        match wallet::parse_account_state(&balance, &transfers) {
            Ok(a) => {
                prop_assert!(a.transfers.windows(2).all(|w| w[0].seen_at <= w[1].seen_at));
                for t in &a.transfers {
                    prop_assert_eq!(t.blocks_to_unlock, 10u64.saturating_sub(t.confirmations));
                    if t.status == TransferStatus::Unlocked {
                        prop_assert!(t.confirmations >= 10);
                    }
                }
                // The sums the pages and jobs use: saturating, never a panic.
                let deposits = a.deposits();
                prop_assert!(a.transfers.iter().filter(|t| t.status != TransferStatus::Ignored).all(|t| t.amount <= deposits));
                prop_assert!(a.locked() <= a.balance);
                prop_assert!(a.pending() >= a.in_pool());
            }
            Err(e) => prop_assert!(wallet_error_says_why(&e)),
        }
    }

    #[test]
    fn transfer_answers(body in wallet_body("transfer_split")) {
        match wallet::parse_transfer(&body) {
            Ok(b) => prop_assert!(!b.is_empty() && b.iter().all(|b| !b.hash.is_empty() && !b.metadata.is_empty())),
            Err(e) => prop_assert!(wallet_error_says_why(&e)),
        }
    }

    #[test]
    fn sweep_answers(body in wallet_body("sweep_all")) {
        match wallet::parse_sweep(&body) {
            Ok(b) => prop_assert!(!b.is_empty() && b.iter().all(|b| !b.hash.is_empty() && !b.metadata.is_empty())),
            Err(e) => prop_assert!(wallet_error_says_why(&e)),
        }
    }

    #[test]
    fn relay_answers(body in wallet_body("relay_tx")) {
        if let Err(e) = wallet::parse_relay(&body) {
            prop_assert!(wallet_error_says_why(&e));
        }
    }

    #[test]
    fn transfer_by_txid_answers(body in wallet_body("get_transfer_by_txid")) {
        if let Err(e) = wallet::parse_knows_tx(&body) {
            prop_assert!(wallet_error_says_why(&e));
        }
    }
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn valid_wallet_answers_are_read_as_sent(
        balance in wallet_result("get_balance"),
        transfers in wallet_result("get_transfers"),
        built in wallet_result("transfer_split"),
    ) {
        let envelope = |r: &Value| json!({ "jsonrpc": "2.0", "id": "0", "result": r }).to_string().into_bytes();
        let a = wallet::parse_account_state(&envelope(&balance), &envelope(&transfers)).expect("valid");
        prop_assert_eq!(Some(a.balance), balance["balance"].as_u64());
        prop_assert_eq!(Some(a.unlocked), balance["unlocked_balance"].as_u64());
        let rows = transfers["in"].as_array().map_or(0, Vec::len) + transfers["pool"].as_array().map_or(0, Vec::len);
        prop_assert_eq!(a.transfers.len(), rows);
        let b = wallet::parse_transfer(&envelope(&built)).expect("valid");
        prop_assert_eq!(b.len(), 1);
        prop_assert_eq!(Some(b[0].amount), built["amount_list"][0].as_u64());
        prop_assert_eq!(Some(b[0].fee), built["fee_list"][0].as_u64());
    }
}

// ---------------------------------------------------------------------------
// DigitalOcean's answers.

fn rfc3339_or_odd() -> BoxedStrategy<Value> {
    prop_oneof![
        (0i64..4_102_444_800).prop_map(|t| json!(nodecannon::clock::rfc3339(t))),
        select(ODD).prop_map(Value::from),
    ]
    .boxed()
}

fn ip() -> BoxedStrategy<String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| std::net::Ipv4Addr::from(b).to_string()),
        any::<u128>().prop_map(|b| std::net::Ipv6Addr::from(b).to_string()),
        text(),
    ]
    .boxed()
}

fn droplet() -> BoxedStrategy<Value> {
    (any::<u64>(), "[a-z0-9-]{1,30}", select(REGIONS), rfc3339_or_odd(), ip(), ip(), any::<bool>())
        .prop_map(|(id, name, region, created, v4, v6, public)| {
            let kind = if public { "public" } else { "private" };
            json!({
                "id": id, "name": name, "memory": 4096, "vcpus": 2, "disk": 80, "locked": false,
                "status": "active", "created_at": created, "region": { "slug": region, "name": region },
                "networks": {
                    "v4": [{ "ip_address": v4, "netmask": "255.255.240.0", "gateway": "10.0.0.1", "type": kind }],
                    "v6": [{ "ip_address": v6, "netmask": 64, "type": "public" }],
                },
                "tags": ["nodecannon", format!("nodecannon-op-{name}")],
                "volume_ids": [],
            })
        })
        .boxed()
}

fn volume() -> BoxedStrategy<Value> {
    (
        hex(16),
        "[a-z0-9-]{1,30}",
        select(REGIONS),
        any::<u64>(),
        rfc3339_or_odd(),
        prop::collection::vec(any::<u64>(), 0..3),
    )
        .prop_map(|(id, name, region, size, created, droplets)| {
            json!({
                "id": id, "name": name, "region": { "slug": region }, "size_gigabytes": size,
                "created_at": created, "droplet_ids": droplets, "tags": ["nodecannon"],
                "filesystem_type": "ext4", "description": "",
            })
        })
        .boxed()
}

fn record() -> BoxedStrategy<Value> {
    (any::<u64>(), select(&["A", "AAAA", "CNAME", "TXT"][..]), "[a-z0-9.-]{1,30}", ip())
        .prop_map(|(id, kind, name, data)| {
            json!({ "id": id, "type": kind, "name": name, "data": data, "ttl": 300, "priority": null })
        })
        .boxed()
}

fn ssh_key() -> BoxedStrategy<Value> {
    (any::<u64>(), text(), hex(16))
        .prop_map(|(id, name, fp)| {
            json!({ "id": id, "name": name, "fingerprint": fp, "public_key": "ssh-ed25519 AAAA x" })
        })
        .boxed()
}

const SIZES: &[&str] = &["s-1vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb"];

fn region() -> BoxedStrategy<Value> {
    (
        select(REGIONS),
        any::<bool>(),
        prop::collection::vec(select(SIZES), 0..3),
        prop::collection::vec(select(&["storage", "backups", "ipv6", "metadata"][..]), 0..4),
    )
        .prop_map(|(slug, available, sizes, features)| {
            json!({ "slug": slug, "name": slug.to_uppercase(), "available": available, "sizes": sizes, "features": features })
        })
        .boxed()
}

fn size() -> BoxedStrategy<Value> {
    (select(SIZES), number(), any::<bool>())
        .prop_map(|(slug, price, available)| {
            json!({ "slug": slug, "price_hourly": price, "price_monthly": 24, "available": available, "regions": REGIONS })
        })
        .boxed()
}

/// A list of `item`s as DigitalOcean pages it.
fn items(item: BoxedStrategy<Value>) -> BoxedStrategy<Vec<Value>> {
    prop::collection::vec(answers(item), 0..5).boxed()
}

/// Links that point elsewhere, or nowhere.
const LINK_HEADS: &[&str] = &[
    "https://api.digitalocean.com/v2/droplets?page=",
    "https://api.digitalocean.com:8443/v2/droplets?page=",
    "http://evil.example",
    "https://evil.example:8443/",
    "//evil.example/",
    "@evil.example/",
    "x:@evil.example/",
    "a:b@evil.example",
    ":9999/",
    ".evil.example/",
    "\\\\evil.example\\",
    "mailto:a@evil.example",
    "javascript:alert(1)",
    "data:text/plain,x",
    "file:///etc/passwd",
    "/v2/droplets?page=",
    "v2/droplets?page=",
    "?page=",
    "#",
    "%2F%2Fevil.example",
    "http://127.0.0.1:4010@evil.example/",
    "http://[::1]:4010/",
    "\t//evil.example",
    " /x",
    "../../",
    "/../../../x",
];

fn next_link() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (select(LINK_HEADS), "[a-z0-9/?=&.:@~%-]{0,12}").prop_map(|(h, t)| json!(format!("{h}{t}"))),
        1 => text().prop_map(Value::from),
        1 => leaf(),
    ]
    .boxed()
}

/// The real API's base: without a port, a link glued to it could extend its host name.
const BASE: &str = "https://api.digitalocean.com";

fn do_client() -> &'static DigitalOcean {
    static DO: OnceLock<DigitalOcean> = OnceLock::new();
    DO.get_or_init(|| {
        DigitalOcean::new(
            reqwest::Client::new(),
            &format!("{BASE}/"),
            "token",
            std::sync::Arc::new(nodecannon::metrics::Metrics::default()),
        )
    })
}

fn status() -> BoxedStrategy<u16> {
    prop_oneof![
        select(
            &[
                200u16, 201, 202, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504
            ][..]
        ),
        100u16..1000,
        any::<u16>(),
    ]
    .boxed()
}

fn do_body() -> BoxedStrategy<String> {
    prop_oneof![
        text(),
        any_json().prop_map(|v| v.to_string()),
        (
            select(
                &[
                    "not_found",
                    "unauthorized",
                    "too_many_requests",
                    "unprocessable_entity"
                ][..]
            ),
            text()
        )
            .prop_map(|(id, m)| json!({ "id": id, "message": m, "request_id": "x" }).to_string()),
        select(
            &[
                "creating this/these droplet(s) will exceed your droplet limit",
                "volume limit reached"
            ][..]
        )
        .prop_map(|m| json!({ "id": "forbidden", "message": m }).to_string()),
        (droplet(), any::<Index>()).prop_map(|(d, cut)| {
            let s = json!({ "droplet": d }).to_string();
            let cut = cut.index(s.len() + 1);
            s.get(..cut).unwrap_or(&s).to_string()
        }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(cases(5_000))]

    #[test]
    fn any_answer_is_json_or_an_error_that_says_whether_to_retry(status in status(), body in do_body()) {
        match digitalocean::parse_answer(status, &body) {
            Ok(v) => {
                prop_assert!((200..300).contains(&status));
                if body.trim().is_empty() {
                    prop_assert_eq!(v, Value::Null);
                }
            }
            Err((e, retry)) => {
                prop_assert!(!e.to_string().trim().is_empty());
                match status {
                    200..=299 => prop_assert!(!retry && matches!(e, CloudError::Unavailable(_))),
                    401 => prop_assert_eq!((e, retry), (CloudError::Unauthorized, false)),
                    404 => prop_assert_eq!((e, retry), (CloudError::NotFound, false)),
                    429 | 500..=599 => prop_assert!(retry),
                    _ if !(100..1000).contains(&status) => prop_assert!(retry),
                    _ => prop_assert!(!retry),
                }
            }
        }
    }

    #[test]
    fn pages_never_lead_away_from_the_configured_api(
        list in items(droplet()),
        next in next_link(),
        page_mutations in prop::option::of(mutations()),
    ) {
        let mut page = json!({ "droplets": list, "links": { "pages": { "next": next, "last": next } }, "meta": { "total": 10_000 } });
        if let Some(m) = page_mutations {
            mutate(&mut page, &m);
        }
        let (got, next) = do_client().parse_page(&page, "droplets");
        prop_assert_eq!(got.len(), page["droplets"].as_array().map_or(0, Vec::len));
        if let Some(url) = next {
            prop_assert!(url.starts_with(&format!("{BASE}/")), "{url}");
            // A URL reqwest cannot parse is never sent; one it can stays on the API's host.
            if let Ok(u) = reqwest::Url::parse(&url) {
                prop_assert_eq!(u.scheme(), "https");
                prop_assert_eq!(u.host_str(), Some("api.digitalocean.com"), "{}", url);
                prop_assert_eq!(u.port(), None, "{}", url);
                prop_assert_eq!((u.username(), u.password()), ("", None), "{}", url);
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn droplets_are_read_or_skipped(v in answers(droplet())) {
        if let Some(d) = digitalocean::parse_droplet(&v) {
            prop_assert_eq!(Some(d.id), v["id"].as_u64());
            prop_assert_eq!(Some(d.name.as_str()), v["name"].as_str());
            let _ = nodecannon::clock::rfc3339(d.created_at);
            let _ = 1_767_225_600 - d.created_at;
        }
    }

    #[test]
    fn volumes_are_read_or_skipped(v in answers(volume())) {
        if let Some(vol) = digitalocean::parse_volume(&v) {
            prop_assert!(!vol.id.is_empty());
            prop_assert_eq!(Some(vol.id.as_str()), v["id"].as_str());
            prop_assert_eq!(Some(vol.name.as_str()), v["name"].as_str());
            let _ = 1_767_225_600 - vol.created_at;
        }
    }

    #[test]
    fn records_and_ssh_keys_are_read_or_skipped(r in answers(record()), k in answers(ssh_key())) {
        if let Some(rec) = digitalocean::parse_record(&r) {
            prop_assert_eq!(Some(rec.id), r["id"].as_u64());
            prop_assert_eq!(Some(rec.kind.as_str()), r["type"].as_str());
        }
        if let Some(key) = digitalocean::parse_ssh_key(&k) {
            // Serde also reads a struct from an array of its fields, in order.
            let id = if k.is_array() { &k[0] } else { &k["id"] };
            prop_assert_eq!(Some(key.id), id.as_u64());
        }
    }

    #[test]
    fn only_available_regions_with_the_size_and_volumes_are_offered(
        list in items(region()),
        size in prop_oneof![select(SIZES).prop_map(String::from), text()],
    ) {
        let offered = digitalocean::parse_regions(&list, &size);
        prop_assert!(offered.windows(2).all(|w| w[0].slug <= w[1].slug));
        for r in &offered {
            prop_assert!(!r.slug.is_empty());
            // Some item with this slug offers all three (slugs may repeat).
            let fits = list.iter().any(|v| {
                v["slug"] == r.slug.as_str()
                    && v["available"] == true
                    && v["sizes"].as_array().is_some_and(|s| s.iter().any(|s| s == size.as_str()))
                    && v["features"].as_array().is_some_and(|f| f.iter().any(|f| f == "storage"))
            });
            prop_assert!(fits, "{:?} offered from {:?}", r, list);
        }
    }

    #[test]
    fn size_prices_are_micro_usd_within_bounds_or_refused(
        list in items(size()),
        size in prop_oneof![select(SIZES).prop_map(String::from), text()],
    ) {
        match digitalocean::parse_size_price(&list, &size) {
            // At most $1,000,000 an hour.
            Ok(p) => prop_assert!(p <= 1_000_000_000_000),
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn the_droplet_limit_is_a_u32_or_refused(
        v in answers((number(), any::<u32>()).prop_map(|(n, m)| json!({ "account": { "droplet_limit": n, "floating_ip_limit": m, "status": "active", "email_verified": true } })).boxed()),
    ) {
        match digitalocean::parse_droplet_limit(&v) {
            Ok(n) => prop_assert_eq!(Some(u64::from(n)), v["account"]["droplet_limit"].as_u64()),
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }

    #[test]
    fn a_destroy_with_failures_is_refused(
        v in answers(number().prop_map(|n| json!({ "droplet": { "id": 1 }, "resources": { "volumes": [] }, "failures": n })).boxed()),
        id in any::<u64>(),
    ) {
        let r = digitalocean::parse_destroy_status(id, &v);
        prop_assert_eq!(r.is_err(), v["failures"].as_u64().unwrap_or(0) > 0);
    }
}

// ---------------------------------------------------------------------------
// The price APIs.

const NOW: i64 = 1_767_225_600;

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

// ---------------------------------------------------------------------------
// Answers that once panicked or misled a parser, kept as plain examples.

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
        let (_, next) = do_client().parse_page(&page, "droplets");
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
