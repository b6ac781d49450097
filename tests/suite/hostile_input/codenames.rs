//! Codenames.

use super::*;

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
