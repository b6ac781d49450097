use super::*;

fn vars(pairs: &[(&str, &str)]) -> VarMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn empty_environment_is_a_sandbox_on_loopback() {
    let c = Config::from_vars(&VarMap::new()).unwrap();
    assert!(c.sandbox);
    assert_eq!(c.listen_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(c.public_url, "http://localhost:8080");
    assert_eq!(c.mgmt_charge_hour, 6_000);
    assert_eq!(c.do_volume_price_gb_month, 100_000);
    assert_eq!(c.min_funded_secs, 336 * 3600);
}

#[test]
fn sandbox_refuses_a_public_listen_address_unless_forced() {
    let e = Config::from_vars(&vars(&[("LISTEN_ADDR", "0.0.0.0:8080")])).unwrap_err();
    assert_eq!(e.var, "LISTEN_ADDR");
    let c = Config::from_vars(&vars(&[("LISTEN_ADDR", "0.0.0.0:8080"), ("SANDBOX", "1")])).unwrap();
    assert!(c.sandbox);
}

#[test]
fn partial_real_configuration_names_what_is_missing() {
    let e = Config::from_vars(&vars(&[("DO_TOKEN", "x")])).unwrap_err();
    assert_eq!(e.var, "XMR_WALLET_RPC_ENDPOINT");
    let e = Config::from_vars(&vars(&[("XMR_WALLET_RPC_PORT", "18083")])).unwrap_err();
    assert_eq!(e.var, "DO_TOKEN");
    let e =
        Config::from_vars(&vars(&[("DO_TOKEN", "x"), ("XMR_WALLET_RPC_HOST", "h")])).unwrap_err();
    assert_eq!(e.var, "PAYOUT_ADDRESS");
}

#[test]
fn malformed_values_name_the_variable() {
    for (k, v) in [
        ("PAYOUT_FREQUENCY", "three"),
        ("MGMT_CHARGE_HOUR", "-1"),
        ("LISTEN_ADDR", "nowhere"),
        ("XMR_NETWORK", "moonnet"),
        ("LAUNCHPAD_RATE", "5 per hour"),
        ("ADMIN_IPS", "10.0.0.0/99"),
        ("PAYOUT_SCHEDULE", "every hour"),
        ("LAUNCHPAD_ENABLED", "maybe"),
        ("PUBLIC_URL", "ftp://x"),
    ] {
        let e = Config::from_vars(&vars(&[(k, v)])).unwrap_err();
        assert_eq!(e.var, k, "{e}");
    }
}

#[test]
fn payout_address_is_checked_for_the_network() {
    let good = "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC";
    assert!(Config::from_vars(&vars(&[("PAYOUT_ADDRESS", good)])).is_ok());
    let e = Config::from_vars(&vars(&[(
        "PAYOUT_ADDRESS",
        &good.replace("Udo23", "Udo24"),
    )]))
    .unwrap_err();
    assert_eq!(e.var, "PAYOUT_ADDRESS");
    assert!(e.message.contains("checksum"), "{e}");
    let e = Config::from_vars(&vars(&[
        ("PAYOUT_ADDRESS", good),
        ("XMR_NETWORK", "stagenet"),
    ]))
    .unwrap_err();
    assert!(e.message.contains("not a stagenet"), "{e}");
}

#[test]
fn the_wallet_endpoint_must_be_plain_http() {
    let good = "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC";
    let real = [
        ("DO_TOKEN", "t"),
        ("DO_DOMAIN", "example.com"),
        ("PAYOUT_ADDRESS", good),
        ("XMR_WALLET_RPC_USER", "u"),
    ];
    assert!(Config::from_vars(&vars(&real)).is_ok());
    for (k, v) in [
        ("XMR_WALLET_RPC_PROTO", "https"),
        ("XMR_WALLET_RPC_ENDPOINT", "https://wallet.example:18083"),
    ] {
        let mut with = real.to_vec();
        with.push((k, v));
        let e = Config::from_vars(&vars(&with)).unwrap_err();
        assert_eq!(e.var, k, "{e}");
    }
}

#[test]
fn env_file_parsing_and_precedence() {
    let m =
        parse_env_text("# c\nexport SITE_NAME=\"My Cannon\"\nPAYOUT_FREQUENCY='1.5'\n\n").unwrap();
    assert_eq!(m["SITE_NAME"], "My Cannon");
    let mut m2 = m.clone();
    m2.insert("SITE_NAME".into(), "From env".into());
    let c = Config::from_vars(&m2).unwrap();
    assert_eq!(c.site_name, "From env");
    assert_eq!(c.payout_frequency_secs, 5400);
    assert!(parse_env_text("JUSTAWORD").is_err());
}

#[test]
fn secrets_do_not_print() {
    let c = Config::from_vars(&vars(&[("STATS_TOKEN", "hunter2")])).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
    assert!(!format!("{:?}", c.summary()).contains("hunter2"));
}

#[test]
fn the_packaged_env_file_documents_every_variable() {
    let text = include_str!("../../packaging/nodecannon.env");
    for v in VARIABLES {
        assert!(
            text.contains(&format!("{v}=")),
            "packaging/nodecannon.env lacks {v}"
        );
    }
}

#[test]
fn ip_blocks_match() {
    let b = IpBlock::parse("10.1.0.0/16").unwrap();
    assert!(b.contains("10.1.2.3".parse().unwrap()));
    assert!(!b.contains("10.2.0.1".parse().unwrap()));
    assert!(
        IpBlock::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap())
    );
    assert!(
        IpBlock::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
}

#[test]
fn a_node_rpc_port_that_clashes_on_the_node_is_refused() {
    for port in ["22", "80", "443", "18080", "0"] {
        let e = Config::from_vars(&vars(&[("NODE_RPC_PORT", port)])).unwrap_err();
        assert_eq!(e.var, "NODE_RPC_PORT");
        assert!(e.to_string().contains("taken on a node"), "{e}");
    }
    let c = Config::from_vars(&vars(&[("NODE_RPC_PORT", "18089")])).unwrap();
    assert_eq!(c.node_rpc_port, 18089);
}
