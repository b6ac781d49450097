//! XMR and USD amounts from forms.

use super::*;

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
