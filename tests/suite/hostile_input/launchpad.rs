//! The launchpad form and its region.

use super::*;

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
pub(super) const REGIONS: &[&str] = &[
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
