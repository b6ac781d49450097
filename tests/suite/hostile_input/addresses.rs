//! Monero addresses.

use super::*;

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
