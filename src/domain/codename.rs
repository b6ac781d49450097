//! Codename rules: 1–30 of `a-z 0-9 -`, not starting or ending with `-`,
//! lowercased on entry. Uniqueness is the store's job.

/// Normalises and checks a codename; the error tells the visitor what to fix.
pub fn parse(input: &str) -> Result<String, String> {
    let name = input.trim().to_lowercase();
    if name.is_empty() {
        return Err("Choose a codename: 1 to 30 letters, digits or dashes.".into());
    }
    if name.chars().count() > 30 {
        return Err(format!(
            "The codename has {} characters; use at most 30.",
            name.chars().count()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "The codename may only use a-z, 0-9 and '-'; {c:?} is not allowed."
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("The codename cannot start or end with '-'.".into());
    }
    Ok(name)
}

/// First words of suggested codenames (the dev seed uses them too).
pub const ADJECTIVES: [&str; 16] = [
    "brave", "calm", "swift", "quiet", "bold", "lucky", "sunny", "amber", "silent", "rapid",
    "noble", "cosmic", "gentle", "iron", "lunar", "stellar",
];
/// Second words of suggested codenames.
pub const NOUNS: [&str; 16] = [
    "falcon", "otter", "comet", "harbor", "cedar", "lynx", "orbit", "meadow", "beacon", "heron",
    "summit", "nebula", "willow", "badger", "quasar", "fjord",
];

/// A readable suggestion for the launchpad form, from random bytes.
pub fn suggest(random: [u8; 3]) -> String {
    format!(
        "{}-{}-{}",
        ADJECTIVES[usize::from(random[0]) % ADJECTIVES.len()],
        NOUNS[usize::from(random[1]) % NOUNS.len()],
        random[2] % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(parse("  My-Node-1 ").unwrap(), "my-node-1");
        assert_eq!(parse("a").unwrap(), "a");
        assert_eq!(parse(&"a".repeat(30)).unwrap().len(), 30);
        assert!(parse(&"a".repeat(31)).unwrap_err().contains("at most 30"));
        assert!(parse("-abc").unwrap_err().contains("start or end"));
        assert!(parse("abc-").unwrap_err().contains("start or end"));
        assert!(parse("a_b").unwrap_err().contains("'_'"));
        assert!(parse("héllo").is_err());
        assert!(parse("").is_err());
        assert!(parse(&suggest([1, 2, 3])).is_ok());
    }
}
