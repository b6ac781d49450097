//! Shape checks of Monero addresses for a network: length, alphabet and the
//! leading character of each address kind. The checksum is the wallet's job.

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
    /// Leading characters of standard/subaddress addresses on this network.
    fn prefixes(&self) -> &'static [char] {
        match self {
            Network::Mainnet => &['4', '8'],
            Network::Stagenet => &['5', '7'],
            Network::Testnet => &['9', 'A', 'B'],
        }
    }
}

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Checks that `addr` looks like an address of `network`; the error says why not.
pub fn check_address(addr: &str, network: Network) -> Result<(), String> {
    if addr.len() != 95 && addr.len() != 106 {
        return Err(format!(
            "a Monero address has 95 (or 106 integrated) characters, this one has {}",
            addr.len()
        ));
    }
    if let Some(c) = addr.chars().find(|c| !BASE58.contains(*c)) {
        return Err(format!("{c:?} cannot appear in a Monero address"));
    }
    let first = addr.chars().next().unwrap_or(' ');
    if !network.prefixes().contains(&first) {
        return Err(format!(
            "this is not a {} address (it starts with {first:?})",
            network.as_str()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        let main = format!("4{}", "A".repeat(94));
        assert!(check_address(&main, Network::Mainnet).is_ok());
        assert!(
            check_address(&main, Network::Stagenet)
                .unwrap_err()
                .contains("stagenet")
        );
        assert!(
            check_address("4abc", Network::Mainnet)
                .unwrap_err()
                .contains("95")
        );
        let bad = format!("4{}0", "A".repeat(93));
        assert!(
            check_address(&bad, Network::Mainnet)
                .unwrap_err()
                .contains("'0'")
        );
    }
}
