//! Monero address checks for a network: Monero's base58 with its Keccak
//! checksum (the `base58-monero` crate), the network byte of each address
//! kind, and the length.

/// A Monero network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Mainnet,
    Stagenet,
    Testnet,
}

impl Network {
    /// The name used in configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Stagenet => "stagenet",
            Network::Testnet => "testnet",
        }
    }

    /// Network bytes of (standard, integrated, subaddress) addresses.
    fn prefixes(&self) -> [u8; 3] {
        match self {
            Network::Mainnet => [18, 19, 42],
            Network::Stagenet => [24, 25, 36],
            Network::Testnet => [53, 54, 63],
        }
    }

    fn of(byte: u8) -> Option<Network> {
        [Network::Mainnet, Network::Stagenet, Network::Testnet]
            .into_iter()
            .find(|n| n.prefixes().contains(&byte))
    }
}

/// Checks that `addr` is a valid address of `network`; the error says why not.
pub fn check_address(addr: &str, network: Network) -> Result<(), String> {
    let addr = addr.trim();
    if addr.len() != 95 && addr.len() != 106 {
        return Err(format!(
            "a Monero address has 95 (or 106 integrated) characters, this one has {}",
            addr.len()
        ));
    }
    let bytes = base58_monero::decode_check(addr).map_err(|e| match e {
        base58_monero::Error::InvalidChecksum => "its checksum is wrong (a typo?)".to_string(),
        _ => "it is not Monero base58".to_string(),
    })?;
    let [prefix, .., _] = bytes.as_slice() else {
        return Err("it is empty".into());
    };
    let [standard, integrated, sub] = network.prefixes();
    let expected_len = if *prefix == integrated { 73 } else { 65 };
    if ![standard, integrated, sub].contains(prefix) {
        return Err(match Network::of(*prefix) {
            Some(n) => format!(
                "it is a {} address, not a {} one",
                n.as_str(),
                network.as_str()
            ),
            None => format!("it is not a {} address", network.as_str()),
        });
    }
    if bytes.len() != expected_len {
        return Err("its keys have the wrong length".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mainnet address made by monero-wallet-rpc (regtest uses mainnet addresses).
    pub const MAIN: &str = "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC";

    #[test]
    fn accepts_and_refuses() {
        assert_eq!(check_address(MAIN, Network::Mainnet), Ok(()));
        assert!(
            check_address(MAIN, Network::Stagenet)
                .unwrap_err()
                .contains("mainnet address, not a stagenet")
        );
        assert!(
            check_address("4abc", Network::Mainnet)
                .unwrap_err()
                .contains("95")
        );
        let typo = MAIN.replace("Udo23", "Udo24");
        assert!(
            check_address(&typo, Network::Mainnet)
                .unwrap_err()
                .contains("checksum")
        );
        let fake = format!("4{}", "A".repeat(94));
        assert!(check_address(&fake, Network::Mainnet).is_err());
        let bad = format!("4{}0", &MAIN[1..94]);
        assert!(
            check_address(&bad, Network::Mainnet)
                .unwrap_err()
                .contains("base58")
        );
    }
}
