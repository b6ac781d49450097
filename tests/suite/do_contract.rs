//! Contract test: every request the DigitalOcean client can send, checked by
//! a Prism mock of DigitalOcean's own OpenAPI spec. Fails when Prism reports
//! a violation (`sl-violations`) or an error status.

use crate::support;

use std::sync::Arc;

use nodecannon::clients::Cloud;
use nodecannon::clients::cloud::{DropletSpec, VolumeSpec};
use nodecannon::clients::digitalocean::DigitalOcean;
use nodecannon::metrics::Metrics;
use support::prism::Prism;

#[tokio::test(flavor = "multi_thread")]
async fn every_request_the_client_sends_is_valid_for_digitaloceans_spec() {
    let prism = Prism::start().await;
    let c = DigitalOcean::new(
        reqwest::Client::new(),
        &prism.url,
        "test-token",
        Arc::new(Metrics::default()),
    );
    let domain = "example.com";
    let mut results: Vec<(&str, Result<String, String>)> = Vec::new();
    macro_rules! call {
        ($name:expr, $e:expr) => {
            results.push((
                $name,
                $e.await
                    .map(|v| format!("{v:?}"))
                    .map_err(|e| e.to_string()),
            ))
        };
    }
    call!("account", c.droplet_limit());
    call!("sizes", c.size_price_hourly("s-1vcpu-1gb"));
    call!("regions", c.regions("s-1vcpu-1gb"));
    call!("volumes by name", c.find_volume("op-abc123", "nyc3"));
    call!("volumes", c.volumes_tagged("nodecannon"));
    call!(
        "create volume",
        c.create_volume(&VolumeSpec {
            name: "op-abc123".into(),
            region: "nyc3".into(),
            size_gb: 100,
            tags: vec!["nodecannon".into(), "nodecannon-op-abc123".into()],
        })
    );
    call!(
        "delete volume",
        c.delete_volume("506f78a4-e098-11e5-ad9f-000f53306ae1")
    );
    call!("droplets by tag", c.droplets_tagged("nodecannon"));
    call!("droplet", c.droplet(3164444));
    call!(
        "create droplet",
        c.create_droplet(&DropletSpec {
            name: "op-abc123".into(),
            region: "nyc3".into(),
            size: "s-1vcpu-1gb".into(),
            image: "debian-12-x64".into(),
            ssh_keys: vec![
                "289794".into(),
                "3b:16:e4:bf:8b:00:8b:b8:59:8c:a9:d3:f0:19:fa:45".into()
            ],
            user_data: "#cloud-config\n".into(),
            volume_ids: vec!["506f78a4-e098-11e5-ad9f-000f53306ae1".into()],
            tags: vec!["nodecannon".into(), "nodecannon-op-abc123".into()],
        })
    );
    call!("destroy droplet", c.destroy_droplet(3164444));
    call!("records", c.records(domain, "node"));
    call!(
        "records by name",
        c.records_named(domain, "A", "alpha.node")
    );
    call!(
        "create record",
        c.create_record(domain, "A", "alpha.node", "203.0.113.5")
    );
    call!("delete record", c.delete_record(domain, 3352896));
    call!("ssh keys", c.ssh_keys());
    call!(
        "create ssh key",
        c.create_ssh_key("nodecannon", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhHhX0Q0eTqN1sDwjtdLTMy0+8PMZ6C5J0sI5bF1RkF operator")
    );

    // The check itself can fail: a request that breaks the spec is reported.
    let bad = reqwest::Client::new()
        .post(format!("{}/v2/volumes", prism.url))
        .bearer_auth("test-token")
        .json(&serde_json::json!({ "name": "op-x", "region": "nyc3", "size_gigabytes": "many", "filesystem_type": "zfs" }))
        .send()
        .await
        .unwrap();
    assert!(bad.status().is_client_error());
    assert!(bad.headers().contains_key("sl-violations"));
    // Everything but that last request came from the client.
    let all = prism.seen();
    let seen = &all[..all.len() - 1];
    println!("{:<8} {:<70} status  violations", "method", "path");
    for s in seen {
        println!(
            "{:<8} {:<70} {:<7} {}",
            s.method,
            s.path,
            s.status,
            s.violations.as_deref().unwrap_or("-")
        );
    }
    for (name, r) in &results {
        // Prism answers every page of a list (sizes, regions, ...) with the
        // same example, whose next link may lead back to a page already
        // read: the client calls such a list unavailable rather than return
        // it twice (issue 17); its requests are still checked below.
        let looping = r.as_ref().is_err_and(|e| e.contains("already read"));
        assert!(r.is_ok() || looping, "{name}: the client failed: {r:?}");
    }
    let bad: Vec<_> = seen
        .iter()
        .filter(|s| s.violations.is_some() || s.status >= 400)
        .collect();
    assert!(bad.is_empty(), "Prism refused requests: {bad:#?}");
    // Every kind of request the client can send was exercised.
    let kinds: std::collections::BTreeSet<String> = seen
        .iter()
        .map(|s| {
            let p = s.path.split('?').next().unwrap_or("");
            let p: Vec<&str> = p
                .split('/')
                .map(|seg| {
                    if seg.chars().any(|c| c.is_ascii_digit()) && seg.len() > 6 {
                        "{id}"
                    } else {
                        seg
                    }
                })
                .collect();
            format!("{} {}", s.method, p.join("/"))
        })
        .collect();
    println!("{kinds:#?}");
    assert!(kinds.len() >= 14, "{kinds:#?}");
}
