//! DigitalOcean's answers.

use super::*;

fn rfc3339_or_odd() -> BoxedStrategy<Value> {
    prop_oneof![
        (0i64..4_102_444_800).prop_map(|t| json!(nodecannon::clock::rfc3339(t))),
        select(ODD).prop_map(Value::from),
    ]
    .boxed()
}

fn ip() -> BoxedStrategy<String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| std::net::Ipv4Addr::from(b).to_string()),
        any::<u128>().prop_map(|b| std::net::Ipv6Addr::from(b).to_string()),
        text(),
    ]
    .boxed()
}

fn droplet() -> BoxedStrategy<Value> {
    (any::<u64>(), "[a-z0-9-]{1,30}", select(REGIONS), rfc3339_or_odd(), ip(), ip(), any::<bool>())
        .prop_map(|(id, name, region, created, v4, v6, public)| {
            let kind = if public { "public" } else { "private" };
            json!({
                "id": id, "name": name, "memory": 4096, "vcpus": 2, "disk": 80, "locked": false,
                "status": "active", "created_at": created, "region": { "slug": region, "name": region },
                "networks": {
                    "v4": [{ "ip_address": v4, "netmask": "255.255.240.0", "gateway": "10.0.0.1", "type": kind }],
                    "v6": [{ "ip_address": v6, "netmask": 64, "type": "public" }],
                },
                "tags": ["nodecannon", format!("nodecannon-op-{name}")],
                "volume_ids": [],
            })
        })
        .boxed()
}

fn volume() -> BoxedStrategy<Value> {
    (
        hex(16),
        "[a-z0-9-]{1,30}",
        select(REGIONS),
        any::<u64>(),
        rfc3339_or_odd(),
        prop::collection::vec(any::<u64>(), 0..3),
    )
        .prop_map(|(id, name, region, size, created, droplets)| {
            json!({
                "id": id, "name": name, "region": { "slug": region }, "size_gigabytes": size,
                "created_at": created, "droplet_ids": droplets, "tags": ["nodecannon"],
                "filesystem_type": "ext4", "description": "",
            })
        })
        .boxed()
}

fn record() -> BoxedStrategy<Value> {
    (any::<u64>(), select(&["A", "AAAA", "CNAME", "TXT"][..]), "[a-z0-9.-]{1,30}", ip())
        .prop_map(|(id, kind, name, data)| {
            json!({ "id": id, "type": kind, "name": name, "data": data, "ttl": 300, "priority": null })
        })
        .boxed()
}

fn ssh_key() -> BoxedStrategy<Value> {
    (any::<u64>(), text(), hex(16))
        .prop_map(|(id, name, fp)| {
            json!({ "id": id, "name": name, "fingerprint": fp, "public_key": "ssh-ed25519 AAAA x" })
        })
        .boxed()
}

const SIZES: &[&str] = &["s-1vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb"];

fn region() -> BoxedStrategy<Value> {
    (
        select(REGIONS),
        any::<bool>(),
        prop::collection::vec(select(SIZES), 0..3),
        prop::collection::vec(select(&["storage", "backups", "ipv6", "metadata"][..]), 0..4),
    )
        .prop_map(|(slug, available, sizes, features)| {
            json!({ "slug": slug, "name": slug.to_uppercase(), "available": available, "sizes": sizes, "features": features })
        })
        .boxed()
}

fn size() -> BoxedStrategy<Value> {
    (select(SIZES), number(), any::<bool>())
        .prop_map(|(slug, price, available)| {
            json!({ "slug": slug, "price_hourly": price, "price_monthly": 24, "available": available, "regions": REGIONS })
        })
        .boxed()
}

/// A list of `item`s as DigitalOcean pages it.
fn items(item: BoxedStrategy<Value>) -> BoxedStrategy<Vec<Value>> {
    prop::collection::vec(answers(item), 0..5).boxed()
}

/// Links that point elsewhere, or nowhere.
const LINK_HEADS: &[&str] = &[
    "https://api.digitalocean.com/v2/droplets?page=",
    "https://api.digitalocean.com:8443/v2/droplets?page=",
    "http://evil.example",
    "https://evil.example:8443/",
    "//evil.example/",
    "@evil.example/",
    "x:@evil.example/",
    "a:b@evil.example",
    ":9999/",
    ".evil.example/",
    "\\\\evil.example\\",
    "mailto:a@evil.example",
    "javascript:alert(1)",
    "data:text/plain,x",
    "file:///etc/passwd",
    "/v2/droplets?page=",
    "v2/droplets?page=",
    "?page=",
    "#",
    "%2F%2Fevil.example",
    "http://127.0.0.1:4010@evil.example/",
    "http://[::1]:4010/",
    "\t//evil.example",
    " /x",
    "../../",
    "/../../../x",
];

fn next_link() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (select(LINK_HEADS), "[a-z0-9/?=&.:@~%-]{0,12}").prop_map(|(h, t)| json!(format!("{h}{t}"))),
        1 => text().prop_map(Value::from),
        1 => leaf(),
    ]
    .boxed()
}

/// The real API's base: without a port, a link glued to it could extend its host name.
const BASE: &str = "https://api.digitalocean.com";

pub(super) fn do_client() -> &'static DigitalOcean {
    static DO: OnceLock<DigitalOcean> = OnceLock::new();
    DO.get_or_init(|| {
        DigitalOcean::new(
            reqwest::Client::new(),
            &format!("{BASE}/"),
            "token",
            std::sync::Arc::new(nodecannon::metrics::Metrics::default()),
        )
    })
}

fn status() -> BoxedStrategy<u16> {
    prop_oneof![
        select(
            &[
                200u16, 201, 202, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504
            ][..]
        ),
        100u16..1000,
        any::<u16>(),
    ]
    .boxed()
}

fn do_body() -> BoxedStrategy<String> {
    prop_oneof![
        text(),
        any_json().prop_map(|v| v.to_string()),
        (
            select(
                &[
                    "not_found",
                    "unauthorized",
                    "too_many_requests",
                    "unprocessable_entity"
                ][..]
            ),
            text()
        )
            .prop_map(|(id, m)| json!({ "id": id, "message": m, "request_id": "x" }).to_string()),
        select(
            &[
                "creating this/these droplet(s) will exceed your droplet limit",
                "volume limit reached"
            ][..]
        )
        .prop_map(|m| json!({ "id": "forbidden", "message": m }).to_string()),
        (droplet(), any::<Index>()).prop_map(|(d, cut)| {
            let s = json!({ "droplet": d }).to_string();
            let cut = cut.index(s.len() + 1);
            s.get(..cut).unwrap_or(&s).to_string()
        }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(cases(5_000))]

    #[test]
    fn any_answer_is_json_or_an_error_that_says_whether_to_retry(status in status(), body in do_body()) {
        match digitalocean::parse_answer(status, &body) {
            Ok(v) => {
                prop_assert!((200..300).contains(&status));
                if body.trim().is_empty() {
                    prop_assert_eq!(v, Value::Null);
                }
            }
            Err((e, retry)) => {
                prop_assert!(!e.to_string().trim().is_empty());
                match status {
                    200..=299 => prop_assert!(!retry && matches!(e, CloudError::Unavailable(_))),
                    401 => prop_assert_eq!((e, retry), (CloudError::Unauthorized, false)),
                    404 => prop_assert_eq!((e, retry), (CloudError::NotFound, false)),
                    429 | 500..=599 => prop_assert!(retry),
                    _ if !(100..1000).contains(&status) => prop_assert!(retry),
                    _ => prop_assert!(!retry),
                }
            }
        }
    }

    #[test]
    fn pages_never_lead_away_from_the_configured_api(
        list in items(droplet()),
        next in next_link(),
        page_mutations in prop::option::of(mutations()),
    ) {
        let mut page = json!({ "droplets": list, "links": { "pages": { "next": next, "last": next } }, "meta": { "total": 10_000 } });
        if let Some(m) = page_mutations {
            mutate(&mut page, &m);
        }
        // A page without its list is unavailable, never an empty page.
        let Ok((got, next)) = do_client().parse_page(&page, "droplets") else {
            prop_assert!(!page["droplets"].is_array());
            return Ok(());
        };
        prop_assert_eq!(got.len(), page["droplets"].as_array().map_or(0, Vec::len));
        if let Some(url) = next {
            prop_assert!(url.starts_with(&format!("{BASE}/")), "{url}");
            // A URL reqwest cannot parse is never sent; one it can stays on the API's host.
            if let Ok(u) = reqwest::Url::parse(&url) {
                prop_assert_eq!(u.scheme(), "https");
                prop_assert_eq!(u.host_str(), Some("api.digitalocean.com"), "{}", url);
                prop_assert_eq!(u.port(), None, "{}", url);
                prop_assert_eq!((u.username(), u.password()), ("", None), "{}", url);
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn droplets_are_read_or_skipped(v in answers(droplet())) {
        if let Some(d) = digitalocean::parse_droplet(&v) {
            prop_assert_eq!(Some(d.id), v["id"].as_u64());
            prop_assert_eq!(Some(d.name.as_str()), v["name"].as_str());
            let _ = nodecannon::clock::rfc3339(d.created_at);
            let _ = 1_767_225_600 - d.created_at;
        }
    }

    #[test]
    fn volumes_are_read_or_skipped(v in answers(volume())) {
        if let Some(vol) = digitalocean::parse_volume(&v) {
            prop_assert!(!vol.id.is_empty());
            prop_assert_eq!(Some(vol.id.as_str()), v["id"].as_str());
            prop_assert_eq!(Some(vol.name.as_str()), v["name"].as_str());
            let _ = 1_767_225_600 - vol.created_at;
        }
    }

    #[test]
    fn records_and_ssh_keys_are_read_or_skipped(r in answers(record()), k in answers(ssh_key())) {
        if let Some(rec) = digitalocean::parse_record(&r) {
            prop_assert_eq!(Some(rec.id), r["id"].as_u64());
            prop_assert_eq!(Some(rec.kind.as_str()), r["type"].as_str());
        }
        if let Some(key) = digitalocean::parse_ssh_key(&k) {
            // Serde also reads a struct from an array of its fields, in order.
            let id = if k.is_array() { &k[0] } else { &k["id"] };
            prop_assert_eq!(Some(key.id), id.as_u64());
        }
    }

    #[test]
    fn only_available_regions_with_the_size_and_volumes_are_offered(
        list in items(region()),
        size in prop_oneof![select(SIZES).prop_map(String::from), text()],
    ) {
        let offered = digitalocean::parse_regions(&list, &size);
        prop_assert!(offered.windows(2).all(|w| w[0].slug <= w[1].slug));
        for r in &offered {
            prop_assert!(!r.slug.is_empty());
            // Some item with this slug offers all three (slugs may repeat).
            let fits = list.iter().any(|v| {
                v["slug"] == r.slug.as_str()
                    && v["available"] == true
                    && v["sizes"].as_array().is_some_and(|s| s.iter().any(|s| s == size.as_str()))
                    && v["features"].as_array().is_some_and(|f| f.iter().any(|f| f == "storage"))
            });
            prop_assert!(fits, "{:?} offered from {:?}", r, list);
        }
    }

    #[test]
    fn size_prices_are_micro_usd_within_bounds_or_refused(
        list in items(size()),
        size in prop_oneof![select(SIZES).prop_map(String::from), text()],
    ) {
        match digitalocean::parse_size_price(&list, &size) {
            // At most $1,000,000 an hour.
            Ok(p) => prop_assert!(p <= 1_000_000_000_000),
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn the_droplet_limit_is_a_u32_or_refused(
        v in answers((number(), any::<u32>()).prop_map(|(n, m)| json!({ "account": { "droplet_limit": n, "floating_ip_limit": m, "status": "active", "email_verified": true } })).boxed()),
    ) {
        match digitalocean::parse_droplet_limit(&v) {
            Ok(n) => prop_assert_eq!(Some(u64::from(n)), v["account"]["droplet_limit"].as_u64()),
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }

    #[test]
    fn a_destroy_with_failures_is_refused(
        v in answers(number().prop_map(|n| json!({ "droplet": { "id": 1 }, "resources": { "volumes": [] }, "failures": n })).boxed()),
        id in any::<u64>(),
    ) {
        let r = digitalocean::parse_destroy_status(id, &v);
        prop_assert_eq!(r.is_err(), v["failures"].as_u64().unwrap_or(0) > 0);
    }
}
