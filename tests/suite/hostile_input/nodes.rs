//! What nodes send: boot reports and `get_info`.

use super::*;

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
