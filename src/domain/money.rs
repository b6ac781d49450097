//! Money as integers: XMR in piconero, USD in micro-dollars, and the pricing
//! and billing formulas of SPEC.md. No floating point in any amount.

/// Piconero (10^-12 XMR).
pub type Pico = u64;
/// Micro-USD (10^-6 USD).
pub type Micro = u64;

/// Piconero in one XMR.
pub const PICO_PER_XMR: u64 = 1_000_000_000_000;
/// Hours in DigitalOcean's billing month.
pub const HOURS_PER_MONTH: u64 = 730;

/// The fee estimate pages use before the wallet gave one: 0.0001 XMR, above
/// what a two-output transaction costs at normal priority.
pub const DEFAULT_FEE_ESTIMATE: Pico = 100_000_000;

/// A price of one XMR and when it was true (by the source's own clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quote {
    /// Micro-USD per XMR.
    pub usd: Micro,
    pub at: super::Timestamp,
}

/// Parses a non-negative decimal (`"0.006"`, `"12"`) into millionths.
pub fn parse_decimal_micro(s: &str) -> Option<u64> {
    parse_fixed(s, 6)
}

/// Parses an XMR amount (`"0.5"`, up to 12 decimals) into piconero.
pub fn parse_xmr(s: &str) -> Option<Pico> {
    parse_fixed(s, 12)
}

fn parse_fixed(s: &str, decimals: u32) -> Option<u64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > decimals as usize
    {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    f = f.checked_mul(10u64.pow(decimals - frac.len() as u32))?;
    int.checked_mul(10u64.pow(decimals))?.checked_add(f)
}

/// Converts a float price from an API (e.g. DigitalOcean's `price_hourly`)
/// to micro-USD once, rounded to nearest.
pub fn micro_from_f64(usd: f64) -> Option<Micro> {
    let m = (usd * 1e6).round();
    (m.is_finite() && m >= 0.0 && m < u64::MAX as f64).then_some(m as u64)
}

/// `0.123456789012` → `"0.123456789012"`, trailing zeros trimmed to 4 decimals.
pub fn format_xmr(pico: Pico) -> String {
    let int = pico / PICO_PER_XMR;
    let frac = format!("{:012}", pico % PICO_PER_XMR);
    let trimmed = frac.trim_end_matches('0');
    let shown = if trimmed.len() < 4 {
        &frac[..4]
    } else {
        trimmed
    };
    format!("{int}.{shown}")
}

/// An estimate shown to visitors: rounded up to 6 decimals, so it never falls short.
pub fn format_xmr_estimate(pico: Pico) -> String {
    format_xmr(pico.div_ceil(1_000_000).saturating_mul(1_000_000))
}

/// Dollars rounded to cents (amounts of a dollar or more) for tables.
pub fn format_usd_cents(micro: Micro) -> String {
    if micro < 1_000_000 {
        return format_usd(micro);
    }
    let cents = (micro + 5_000) / 10_000;
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// Micro-USD as dollars with as many decimals as needed (at least 2).
pub fn format_usd(micro: Micro) -> String {
    let int = micro / 1_000_000;
    let frac = format!("{:06}", micro % 1_000_000);
    let trimmed = frac.trim_end_matches('0');
    let shown = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("${int}.{shown}")
}

/// What one hour of a node costs, in micro-USD, and where each part comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HourlyCost {
    /// Droplet `price_hourly`.
    pub droplet: Micro,
    /// Volume GiB × price per GiB-month / 730, rounded to nearest.
    pub volume: Micro,
    /// `MGMT_CHARGE_HOUR`.
    pub management: Micro,
}

impl HourlyCost {
    /// Builds the cost from its inputs.
    pub fn new(droplet: Micro, volume_gb: u32, volume_gb_month: Micro, management: Micro) -> Self {
        let v = u128::from(volume_gb) * u128::from(volume_gb_month);
        let volume = ((v + u128::from(HOURS_PER_MONTH) / 2) / u128::from(HOURS_PER_MONTH)) as Micro;
        Self {
            droplet,
            volume,
            management,
        }
    }
    /// The total per hour.
    pub fn total(&self) -> Micro {
        self.droplet
            .saturating_add(self.volume)
            .saturating_add(self.management)
    }
}

/// Piconero due for `seconds` at `cost` µUSD/h and `price` µUSD/XMR:
/// floor(seconds × cost × 10^12 / (3600 × price)). One rounding, down.
pub fn due_pico(seconds: u64, cost: Micro, price: Micro) -> Pico {
    if price == 0 {
        return 0;
    }
    let n = u128::from(seconds)
        .saturating_mul(u128::from(cost))
        .saturating_mul(u128::from(PICO_PER_XMR));
    let d = 3600 * u128::from(price);
    u64::try_from(n / d).unwrap_or(u64::MAX)
}

/// Like [`due_pico`] but rounded up: estimates that must not fall short.
pub fn estimate_pico(seconds: u64, cost: Micro, price: Micro) -> Pico {
    if price == 0 {
        return u64::MAX;
    }
    let n = u128::from(seconds)
        .saturating_mul(u128::from(cost))
        .saturating_mul(u128::from(PICO_PER_XMR));
    let d = 3600 * u128::from(price);
    u64::try_from(n.div_ceil(d)).unwrap_or(u64::MAX)
}

/// Inputs of every estimate about an operation's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// Cost per hour, micro-USD.
    pub cost: Micro,
    /// XMR price, micro-USD per XMR.
    pub price: Micro,
    /// Estimated network fee of one payout.
    pub fee: Pico,
    /// Seconds between payouts.
    pub payout_every: u64,
}

impl Rates {
    /// Payouts needed to bill `seconds`.
    fn payouts_for(&self, seconds: u64) -> u64 {
        seconds.div_ceil(self.payout_every.max(1))
    }
    /// What must be unlocked to run `seconds`, fees included.
    pub fn needed_for(&self, seconds: u64) -> Pico {
        estimate_pico(seconds, self.cost, self.price)
            .saturating_add(self.fee.saturating_mul(self.payouts_for(seconds)))
    }
    /// Seconds `balance` pays for, counting a fee per payout.
    pub fn runway_secs(&self, balance: Pico) -> u64 {
        let every = u128::from(self.payout_every.max(1));
        let num = u128::from(balance)
            .saturating_mul(3600)
            .saturating_mul(u128::from(self.price))
            .saturating_mul(every);
        let den = (u128::from(self.cost) * u128::from(PICO_PER_XMR))
            .saturating_mul(every)
            .saturating_add(
                u128::from(self.fee)
                    .saturating_mul(3600)
                    .saturating_mul(u128::from(self.price)),
            );
        if den == 0 {
            return u64::MAX;
        }
        u64::try_from(num / den).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixed_point() {
        assert_eq!(parse_decimal_micro("0.006"), Some(6_000));
        assert_eq!(parse_decimal_micro("3"), Some(3_000_000));
        assert_eq!(parse_decimal_micro(".5"), Some(500_000));
        assert_eq!(parse_decimal_micro("0.0000001"), None);
        assert_eq!(parse_decimal_micro("-1"), None);
        assert_eq!(parse_decimal_micro(""), None);
        assert_eq!(parse_decimal_micro("1e3"), None);
        assert_eq!(parse_xmr("0.000000000001"), Some(1));
        assert_eq!(parse_xmr("1.5"), Some(1_500_000_000_000));
        assert_eq!(parse_xmr("99999999999"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(format_xmr(1_500_000_000_000), "1.5000");
        assert_eq!(format_xmr(123_456_789), "0.000123456789");
        assert_eq!(format_usd(62_260), "$0.06226");
        assert_eq!(format_usd(24_000_000), "$24.00");
        assert_eq!(micro_from_f64(0.03571), Some(35_710));
        assert_eq!(format_xmr_estimate(740_988_933_334), "0.740989");
        assert_eq!(format_usd_cents(20_918_688), "$20.92");
        assert_eq!(format_usd_cents(62_258), "$0.062258");
    }

    #[test]
    fn hourly_cost_formula() {
        // s-2vcpu-4gb at $0.03571/h, 150 GiB at $0.10/GiB-month, $0.006/h fee.
        let c = HourlyCost::new(35_710, 150, 100_000, 6_000);
        assert_eq!(c.volume, 20_548); // 15 / 730 = 0.0205479...
        assert_eq!(c.total(), 62_258);
    }

    #[test]
    fn due_is_floor_of_exact_value() {
        // One hour at $1/h and $100/XMR is exactly 0.01 XMR.
        assert_eq!(due_pico(3600, 1_000_000, 100_000_000), 10_000_000_000);
        // A third of that cannot be represented: rounded down.
        assert_eq!(due_pico(1200, 1_000_000, 100_000_000), 3_333_333_333);
        assert_eq!(estimate_pico(1200, 1_000_000, 100_000_000), 3_333_333_334);
        assert_eq!(due_pico(3600, 1, 0), 0);
    }

    #[test]
    fn many_small_payouts_match_one_large_within_a_piconero_each() {
        let (cost, price) = (62_258, 163_217_000);
        for step in [1u64, 7, 599, 3600, 10_800, 10_801] {
            let n = 1000u64;
            let small: u64 = (0..n).map(|_| due_pico(step, cost, price)).sum();
            let large = due_pico(step * n, cost, price);
            assert!(
                large >= small && large - small <= n,
                "step {step}: {small} vs {large}"
            );
        }
    }

    #[test]
    fn runway_and_needs_agree() {
        let r = Rates {
            cost: 62_258,
            price: 150_000_000,
            fee: 30_000_000,
            payout_every: 3 * 3600,
        };
        let need = r.needed_for(336 * 3600);
        let runway = r.runway_secs(need);
        assert!(runway >= 336 * 3600 - 1, "{runway}");
        assert!(r.runway_secs(need / 2) < 336 * 3600 / 2 + 3600);
        assert_eq!(r.runway_secs(0), 0);
    }
}
