//! Behaviour of the DigitalOcean client against a stateful fake of the API
//! (`support::fake_do`): what is created can be read back, lists follow every
//! page, failures are retried or told apart, a create whose answer is lost is
//! not made twice, and a launch and a destroy leave exactly what they should.

use crate::support;

use std::collections::HashSet;
use std::time::Duration;

use nodecannon::clients::Cloud;
use nodecannon::clients::cloud::{CloudError, Droplet, DropletSpec, Record, Volume, VolumeSpec};
use nodecannon::clients::digitalocean::DigitalOcean;
use support::fake_do::{DOMAIN, FakeDo, Fault, TOKEN};

const SIZE: &str = "s-2vcpu-4gb";
const RECORDS: &str = "/v2/domains/example.com/records";

fn volume_spec(op: &str, region: &str) -> VolumeSpec {
    VolumeSpec {
        name: format!("op-{op}"),
        region: region.into(),
        size_gb: 100,
        tags: vec!["nodecannon".into(), format!("nodecannon-op-{op}")],
    }
}

fn droplet_spec(op: &str, codename: &str, region: &str, volume_ids: Vec<String>) -> DropletSpec {
    DropletSpec {
        name: codename.into(),
        region: region.into(),
        size: SIZE.into(),
        image: "debian-12-x64".into(),
        ssh_keys: vec!["289794".into()],
        user_data: "#cloud-config\n".into(),
        volume_ids,
        tags: vec!["nodecannon".into(), format!("nodecannon-op-{op}")],
    }
}

fn tag(op: &str) -> String {
    format!("nodecannon-op-{op}")
}

/// What a launch made.
struct Launched {
    volume: Volume,
    droplet: Droplet,
    records: Vec<Record>,
}

/// The launch sequence, through the client only: volume, droplet with the
/// volume, boot, addresses, then the A and AAAA records of `<codename>.node`.
async fn launch(c: &DigitalOcean, fake: &FakeDo, op: &str, codename: &str) -> Launched {
    let volume = c.create_volume(&volume_spec(op, "ams3")).await.unwrap();
    let created = c
        .create_droplet(&droplet_spec(op, codename, "ams3", vec![volume.id.clone()]))
        .await
        .unwrap();
    assert_eq!(created.status, "new");
    assert_eq!(created.ipv4, None);
    fake.boot_all();
    let droplet = c
        .droplet(created.id)
        .await
        .unwrap()
        .expect("droplet exists");
    let ipv4 = droplet.ipv4.clone().expect("booted droplet has IPv4");
    let ipv6 = droplet.ipv6.clone().expect("booted droplet has IPv6");
    let name = format!("{codename}.node");
    let a = c.create_record(DOMAIN, "A", &name, &ipv4).await.unwrap();
    let aaaa = c.create_record(DOMAIN, "AAAA", &name, &ipv6).await.unwrap();
    Launched {
        volume,
        droplet,
        records: vec![a, aaaa],
    }
}

#[tokio::test]
async fn created_resources_read_back() {
    let fake = FakeDo::start().await;
    let c = fake.client();

    assert_eq!(c.droplet_limit().await.unwrap(), 25);
    assert_eq!(c.size_price_hourly(SIZE).await.unwrap(), 35_710);
    assert!(matches!(
        c.size_price_hourly("no-such-size").await,
        Err(CloudError::Validation(_))
    ));
    let regions: Vec<String> = c
        .regions("s-4vcpu-8gb")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.slug)
        .collect();
    // blr1 has no volumes, sfo2 is unavailable, sgp1 lacks the size.
    assert_eq!(regions, ["ams3", "fra1", "nyc3"]);

    let v = c
        .create_volume(&volume_spec("abc123", "ams3"))
        .await
        .unwrap();
    let held = fake.volumes();
    assert_eq!(held.len(), 1);
    assert_eq!(v.id, held[0].id);
    assert_eq!(
        (v.name.as_str(), v.region.as_str(), v.size_gb),
        ("op-abc123", "ams3", 100)
    );
    assert_eq!(v.tags, ["nodecannon", "nodecannon-op-abc123"]);
    assert!(v.created_at > 1_700_000_000);
    assert_eq!(
        c.find_volume("op-abc123", "ams3").await.unwrap(),
        Some(v.clone())
    );
    assert_eq!(c.find_volume("op-abc123", "nyc3").await.unwrap(), None);
    assert_eq!(c.find_volume("op-other", "ams3").await.unwrap(), None);
    assert_eq!(
        c.volumes_tagged(&tag("abc123")).await.unwrap(),
        vec![v.clone()]
    );
    assert!(c.volumes_tagged(&tag("zzz")).await.unwrap().is_empty());

    let d = c
        .create_droplet(&droplet_spec("abc123", "alpha", "ams3", vec![v.id.clone()]))
        .await
        .unwrap();
    assert_eq!((d.name.as_str(), d.region.as_str()), ("alpha", "ams3"));
    assert_eq!((d.status.as_str(), d.ipv4.as_deref()), ("new", None));
    assert_eq!(fake.droplets()[0].volume_ids, vec![v.id.clone()]);
    assert_eq!(fake.droplets()[0].ssh_keys, [serde_json::json!(289794)]);
    // The volume is attached to it.
    let attached = c.find_volume("op-abc123", "ams3").await.unwrap().unwrap();
    assert_eq!(attached.droplet_ids, [d.id]);
    assert_eq!(c.droplet(d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(
        c.droplets_tagged(&tag("abc123")).await.unwrap(),
        vec![d.clone()]
    );
    assert!(c.droplets_tagged(&tag("zzz")).await.unwrap().is_empty());

    fake.boot_all();
    let up = c.droplet(d.id).await.unwrap().unwrap();
    assert_eq!(up.status, "active");
    // The public addresses, not the private one the fake lists first.
    let held = &fake.droplets()[0];
    assert_eq!(up.ipv4, held.ipv4);
    assert_eq!(up.ipv6, held.ipv6);
    assert!(up.ipv4.as_deref().unwrap().starts_with("203.0."));

    let a = c
        .create_record(DOMAIN, "A", "alpha.node", up.ipv4.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (a.kind.as_str(), a.name.as_str(), a.data.as_str()),
        ("A", "alpha.node", up.ipv4.as_deref().unwrap())
    );
    c.create_record(DOMAIN, "TXT", "other", "hello")
        .await
        .unwrap();
    assert_eq!(c.records(DOMAIN, "node").await.unwrap(), vec![a.clone()]);
    assert_eq!(
        c.records(DOMAIN, "alpha.node").await.unwrap(),
        vec![a.clone()]
    );
    assert_eq!(
        c.records_named(DOMAIN, "A", "alpha.node").await.unwrap(),
        vec![a.clone()]
    );
    assert!(
        c.records_named(DOMAIN, "AAAA", "alpha.node")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        c.records("unknown.org", "node").await,
        Err(CloudError::NotFound)
    ));

    let pk = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKj nodecannon@test";
    let k = c.create_ssh_key("nodecannon", pk).await.unwrap();
    assert_eq!(c.ssh_keys().await.unwrap(), vec![k.clone()]);
    assert_eq!(k.public_key, pk);
    assert_eq!(k.fingerprint.split(':').count(), 16);

    // The rate limit the answers told.
    let rl = c.rate_limit();
    assert!(rl.remaining > 0 && rl.remaining < 5000, "{rl:?}");
    assert!(rl.reset_at > chrono::Utc::now().timestamp(), "{rl:?}");
}

#[tokio::test]
async fn lists_follow_every_page_and_return_each_item_once() {
    let fake = FakeDo::start().await;
    let c = fake.client();
    fake.set_droplet_limit(100);
    fake.set_max_per_page(20);

    let mut made = HashSet::new();
    for i in 0..45 {
        let d = c
            .create_droplet(&droplet_spec("paged", &format!("n{i}"), "nyc3", vec![]))
            .await
            .unwrap();
        made.insert(d.id);
    }
    for i in 0..7 {
        c.create_droplet(&droplet_spec("other", &format!("o{i}"), "nyc3", vec![]))
            .await
            .unwrap();
    }
    fake.reset_counts();
    let listed = c.droplets_tagged(&tag("paged")).await.unwrap();
    let ids: Vec<u64> = listed.iter().map(|d| d.id).collect();
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 45, "every droplet exactly once");
    assert_eq!(unique, made);
    // 45 at 20 a page: three pages, each asked once, the next ones on the fake.
    assert_eq!(fake.count("GET", "/v2/droplets"), 3, "{:?}", fake.log());
    let log = fake.log();
    assert!(log[1].contains("page=2"), "{log:?}");
    assert!(log[2].contains("page=3"), "{log:?}");
    assert!(
        log.iter()
            .all(|l| l.contains("tag_name=nodecannon-op-paged")),
        "{log:?}"
    );

    // Volumes (no tag filter on the API: filtered by the client across pages).
    for i in 0..23 {
        c.create_volume(&volume_spec(&format!("v{i}"), "fra1"))
            .await
            .unwrap();
    }
    for i in 23..50 {
        c.create_volume(&VolumeSpec {
            tags: vec!["nodecannon".into()],
            ..volume_spec(&format!("v{i}"), "fra1")
        })
        .await
        .unwrap();
    }
    let all = c.volumes().await.unwrap();
    assert_eq!(all.len(), 50);
    assert_eq!(all.iter().map(|v| &v.id).collect::<HashSet<_>>().len(), 50);
    assert_eq!(c.volumes_tagged("nodecannon").await.unwrap().len(), 50);
    let v7 = c.volumes_tagged(&tag("v7")).await.unwrap();
    assert_eq!(v7.len(), 1);
    assert_eq!(v7[0].name, "op-v7");
    let v42 = c.volumes_tagged(&tag("v42")).await.unwrap();
    assert!(v42.is_empty(), "v42 was made without its op tag");

    // Records across pages.
    for i in 0..33 {
        c.create_record(DOMAIN, "A", &format!("n{i}.node"), "203.0.113.9")
            .await
            .unwrap();
    }
    let records = c.records(DOMAIN, "node").await.unwrap();
    assert_eq!(records.len(), 33);
    assert_eq!(
        records.iter().map(|r| r.id).collect::<HashSet<_>>().len(),
        33
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_on_reads_are_retried() {
    let fake = FakeDo::start().await;
    let c = fake.client();

    fake.fail_next("GET", "/v2/account", Fault::StatusRetryAfter(429, 0));
    fake.fail_next("GET", "/v2/account", Fault::Status(500));
    fake.fail_next("GET", "/v2/account", Fault::Status(503));
    assert_eq!(c.droplet_limit().await.unwrap(), 25);
    assert_eq!(fake.count("GET", "/v2/account"), 4);
    assert_eq!(fake.pending_faults(), 0);

    // A failure in the middle of a list: the page is asked again, nothing is lost.
    fake.set_max_per_page(20);
    for i in 0..24 {
        c.create_droplet(&droplet_spec("r", &format!("n{i}"), "nyc3", vec![]))
            .await
            .unwrap();
    }
    fake.reset_counts();
    fake.fail_next("GET", "/v2/droplets?page=2", Fault::Status(502));
    let listed = c.droplets_tagged(&tag("r")).await.unwrap();
    assert_eq!(listed.len(), 24);
    assert_eq!(
        listed.iter().map(|d| d.id).collect::<HashSet<_>>().len(),
        24
    );
    assert_eq!(fake.count("GET", "/v2/droplets"), 3, "{:?}", fake.log());
    assert_eq!(fake.pending_faults(), 0);

    // A delete is retried too.
    let r = c
        .create_record(DOMAIN, "A", "x.node", "203.0.113.7")
        .await
        .unwrap();
    fake.fail_next("DELETE", RECORDS, Fault::Status(500));
    c.delete_record(DOMAIN, r.id).await.unwrap();
    assert!(fake.records(DOMAIN).is_empty());
    assert_eq!(fake.count("DELETE", &format!("{RECORDS}/{}", r.id)), 2);

    // Retries are bounded: five attempts, then the error.
    fake.reset_counts();
    for _ in 0..6 {
        fake.fail_next("GET", "/v2/account", Fault::Status(500));
    }
    assert!(matches!(
        c.droplet_limit().await,
        Err(CloudError::Unavailable(m)) if m.contains("500")
    ));
    assert_eq!(fake.count("GET", "/v2/account"), 5);
    assert_eq!(fake.pending_faults(), 1);
}

#[tokio::test]
async fn failures_are_told_apart() {
    let fake = FakeDo::start().await;
    let c = fake.client();

    // A refused token: not retried.
    let bad = fake.client_with(reqwest::Client::new(), "wrong-token");
    assert_eq!(bad.droplet_limit().await, Err(CloudError::Unauthorized));
    assert_eq!(fake.count("GET", "/v2/account"), 1);
    assert_eq!(
        bad.droplets_tagged("nodecannon").await,
        Err(CloudError::Unauthorized)
    );

    // Unknown things.
    assert_eq!(c.droplet(424_242).await, Ok(None));
    assert_eq!(
        c.delete_volume("506f78a4-e098-11e5-ad9f-000000000000")
            .await,
        Err(CloudError::NotFound)
    );
    assert_eq!(
        c.delete_record(DOMAIN, 424_242).await,
        Err(CloudError::NotFound)
    );
    assert_eq!(c.destroy_droplet(424_242).await, Err(CloudError::NotFound));

    // The droplet limit: refused, not retried, nothing made.
    fake.set_droplet_limit(2);
    assert_eq!(c.droplet_limit().await.unwrap(), 2);
    for n in ["a", "b"] {
        c.create_droplet(&droplet_spec(n, n, "nyc3", vec![]))
            .await
            .unwrap();
    }
    fake.reset_counts();
    match c
        .create_droplet(&droplet_spec("c", "c", "nyc3", vec![]))
        .await
    {
        Err(CloudError::LimitReached(m)) => assert!(m.contains("droplet limit"), "{m}"),
        other => panic!("expected LimitReached, got {other:?}"),
    }
    assert_eq!(fake.count("POST", "/v2/droplets"), 1);
    assert_eq!(fake.droplets().len(), 2);

    // An invalid create: the fake's message comes back, not retried, nothing made.
    fake.reset_counts();
    let zero = VolumeSpec {
        size_gb: 0,
        ..volume_spec("z", "ams3")
    };
    match c.create_volume(&zero).await {
        Err(CloudError::Validation(m)) => {
            assert!(
                m.contains("size_gigabytes must be between 1 and 16384"),
                "{m}"
            )
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    assert_eq!(fake.count("POST", "/v2/volumes"), 1);
    assert!(fake.volumes().is_empty());
    // A record with an address that is not one.
    assert!(matches!(
        c.create_record(DOMAIN, "A", "bad.node", "2001:db8::1").await,
        Err(CloudError::Validation(m)) if m.contains("not a valid A address")
    ));
    assert!(fake.records(DOMAIN).is_empty());
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_returns_what_was_made_once() {
    let fake = FakeDo::start().await;
    let c = fake.client();

    fake.fail_next("POST", "/v2/volumes", Fault::AfterCommit(500));
    let v = c.create_volume(&volume_spec("lost", "ams3")).await.unwrap();
    assert_eq!(fake.volumes().len(), 1);
    assert_eq!(fake.volumes()[0].id, v.id);
    assert_eq!(fake.count("POST", "/v2/volumes"), 1);

    fake.fail_next("POST", "/v2/droplets", Fault::AfterCommit(500));
    let d = c
        .create_droplet(&droplet_spec("lost", "lost", "ams3", vec![v.id.clone()]))
        .await
        .unwrap();
    assert_eq!(fake.droplets().len(), 1);
    assert_eq!(fake.droplets()[0].id, d.id);
    assert_eq!(d.name, "lost");
    assert_eq!(fake.count("POST", "/v2/droplets"), 1);

    fake.fail_next("POST", RECORDS, Fault::AfterCommit(500));
    let r = c
        .create_record(DOMAIN, "A", "lost.node", "203.0.113.50")
        .await
        .unwrap();
    assert_eq!(fake.records(DOMAIN).len(), 1);
    assert_eq!(fake.records(DOMAIN)[0].id, r.id);
    assert_eq!(fake.count("POST", RECORDS), 1);

    let pk = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIlost lost@test";
    fake.fail_next("POST", "/v2/account/keys", Fault::AfterCommit(503));
    let k = c.create_ssh_key("lost", pk).await.unwrap();
    assert_eq!(fake.ssh_keys().len(), 1);
    assert_eq!(fake.ssh_keys()[0].id, k.id);
    assert_eq!(fake.count("POST", "/v2/account/keys"), 1);

    assert_eq!(fake.pending_faults(), 0);
}

#[tokio::test]
async fn a_create_that_failed_before_it_happened_is_made_on_retry() {
    let fake = FakeDo::start().await;
    let c = fake.client();
    fake.fail_next("POST", "/v2/droplets", Fault::StatusRetryAfter(429, 0));
    fake.fail_next("POST", "/v2/droplets", Fault::Status(500));
    let d = c
        .create_droplet(&droplet_spec("retry", "retry", "ams3", vec![]))
        .await
        .unwrap();
    assert_eq!(fake.count("POST", "/v2/droplets"), 3);
    assert_eq!(fake.droplets().len(), 1);
    assert_eq!(fake.droplets()[0].id, d.id);
    // Looked up before each retry.
    assert_eq!(fake.count("GET", "/v2/droplets"), 2);

    // Every attempt failing: bounded, and nothing made.
    for _ in 0..5 {
        fake.fail_next("POST", "/v2/volumes", Fault::Status(500));
    }
    assert!(matches!(
        c.create_volume(&volume_spec("never", "ams3")).await,
        Err(CloudError::Unavailable(_))
    ));
    assert_eq!(fake.count("POST", "/v2/volumes"), 5);
    assert!(fake.volumes().is_empty());
}

/// A lost answer on the LAST attempt: the create happened, so the client
/// should look it up once more instead of reporting a failure.
#[tokio::test]
async fn a_create_whose_last_answer_is_lost_still_returns_what_was_made() {
    let fake = FakeDo::start().await;
    let c = fake
        .client()
        .with_backoff(2, Duration::from_millis(1), Duration::from_millis(20));
    fake.fail_next("POST", "/v2/volumes", Fault::Status(500));
    fake.fail_next("POST", "/v2/volumes", Fault::AfterCommit(500));
    let got = c.create_volume(&volume_spec("last", "ams3")).await;
    assert_eq!(fake.volumes().len(), 1, "the create happened");
    assert_eq!(got.map(|v| v.id), Ok(fake.volumes()[0].id.clone()));
}

#[tokio::test]
async fn a_hung_request_times_out_and_is_retried() {
    let fake = FakeDo::start().await;
    // The client's own timeout is 30 s; a read timeout on the HTTP client
    // stands in for it here.
    let http = reqwest::Client::builder()
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let c = fake.client_with(http, TOKEN);

    fake.fail_next("GET", "/v2/account", Fault::Hang);
    assert_eq!(c.droplet_limit().await.unwrap(), 25);
    assert_eq!(fake.count("GET", "/v2/account"), 2);

    // A create that happened but never answered is not made twice.
    fake.fail_next("POST", "/v2/droplets", Fault::HangAfterCommit);
    let d = c
        .create_droplet(&droplet_spec("hang", "hang", "ams3", vec![]))
        .await
        .unwrap();
    assert_eq!(fake.droplets().len(), 1);
    assert_eq!(fake.droplets()[0].id, d.id);
    assert_eq!(fake.count("POST", "/v2/droplets"), 1);
    assert_eq!(fake.pending_faults(), 0);
}

#[tokio::test]
async fn a_launch_creates_exactly_one_volume_one_droplet_and_two_records_even_when_creates_fail_once()
 {
    let fake = FakeDo::start().await;
    let c = fake.client();
    let (op, codename) = ("k3j9x2", "alpha");

    // Volume: fails before it is made. Droplet: made, answer lost.
    // A record: made, answer lost. AAAA record: rate limited before it is made.
    fake.fail_next("POST", "/v2/volumes", Fault::Status(500));
    fake.fail_next("POST", "/v2/droplets", Fault::AfterCommit(500));
    fake.fail_next("POST", RECORDS, Fault::AfterCommit(502));
    fake.fail_next("POST", RECORDS, Fault::StatusRetryAfter(429, 0));
    let l = launch(&c, &fake, op, codename).await;
    assert_eq!(fake.pending_faults(), 0, "every injected failure was hit");

    let volumes = fake.volumes();
    let droplets = fake.droplets();
    let records = fake.records(DOMAIN);
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    assert_eq!(droplets.len(), 1, "{droplets:?}");
    assert_eq!(records.len(), 2, "{records:?}");
    // Each create reached the fake as often as it had to, no more.
    assert_eq!(fake.count("POST", "/v2/volumes"), 2);
    assert_eq!(fake.count("POST", "/v2/droplets"), 1);
    assert_eq!(fake.count("POST", RECORDS), 3);

    // What the client returned is what the fake holds.
    assert_eq!(l.volume.id, volumes[0].id);
    assert_eq!(l.droplet.id, droplets[0].id);
    assert_eq!(volumes[0].droplet_ids, [l.droplet.id]);
    assert_eq!(droplets[0].tags, ["nodecannon", &tag(op)]);
    let name = format!("{codename}.node");
    let mut held: Vec<(String, String, String)> = records
        .iter()
        .map(|r| (r.kind.clone(), r.name.clone(), r.data.clone()))
        .collect();
    held.sort();
    assert_eq!(
        held,
        [
            ("A".into(), name.clone(), droplets[0].ipv4.clone().unwrap()),
            (
                "AAAA".into(),
                name.clone(),
                droplets[0].ipv6.clone().unwrap()
            ),
        ]
    );
    let mut ids: Vec<u64> = l.records.iter().map(|r| r.id).collect();
    let mut held_ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    ids.sort();
    held_ids.sort();
    assert_eq!(ids, held_ids);
}

#[tokio::test]
async fn a_destroy_leaves_nothing_tagged_for_that_operation() {
    let fake = FakeDo::start().await;
    let c = fake.client();
    let alpha = launch(&c, &fake, "op1alpha", "alpha").await;
    let bravo = launch(&c, &fake, "op2bravo", "bravo").await;

    let destroy = |l: &Launched| {
        let c = &c;
        let (droplet, volume, records) = (l.droplet.id, l.volume.id.clone(), l.records.clone());
        async move {
            // Even when its answer is lost, the destroy reports success.
            c.destroy_droplet(droplet).await.unwrap();
            // The destroy took the attached volume with it.
            match c.delete_volume(&volume).await {
                Ok(()) | Err(CloudError::NotFound) => {}
                Err(e) => panic!("delete volume: {e}"),
            }
            for r in records {
                c.delete_record(DOMAIN, r.id).await.unwrap();
            }
        }
    };
    destroy(&alpha).await;

    assert!(
        c.droplets_tagged(&tag("op1alpha"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(c.volumes_tagged(&tag("op1alpha")).await.unwrap().is_empty());
    assert_eq!(c.droplet(alpha.droplet.id).await, Ok(None));
    let left = c.records(DOMAIN, "node").await.unwrap();
    assert!(
        left.iter().all(|r| !r.name.starts_with("alpha.")),
        "{left:?}"
    );
    // The destroy went through the dangerous endpoint and took the volume.
    let status = fake
        .destroy_status(alpha.droplet.id)
        .expect("destroyed with associated resources");
    assert_eq!(
        status["resources"]["volumes"][0]["id"],
        alpha.volume.id.as_str()
    );
    assert_eq!(
        c.destroy_status(alpha.droplet.id).await.unwrap()["failures"],
        0
    );

    // The other operation is untouched.
    assert_eq!(c.droplets_tagged(&tag("op2bravo")).await.unwrap().len(), 1);
    assert_eq!(c.volumes_tagged(&tag("op2bravo")).await.unwrap().len(), 1);
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|r| r.name == "bravo.node"));

    // Bravo's destroy loses its answer: still nothing left behind.
    fake.fail_next(
        "DELETE",
        &format!("/v2/droplets/{}/destroy", bravo.droplet.id),
        Fault::AfterCommit(500),
    );
    destroy(&bravo).await;
    assert_eq!(fake.pending_faults(), 0);
    assert!(
        c.droplets_tagged(&tag("op2bravo"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(c.volumes_tagged(&tag("op2bravo")).await.unwrap().is_empty());
    assert!(c.records(DOMAIN, "node").await.unwrap().is_empty());
    assert!(fake.droplets().is_empty() && fake.volumes().is_empty());
}

/// The fake is as strict as the real API about the dangerous destroy, so the
/// test above would fail if the client stopped sending `X-Dangerous: true`.
#[tokio::test]
async fn the_fake_refuses_a_dangerous_destroy_without_the_header() {
    let fake = FakeDo::start().await;
    let c = fake.client();
    let d = c
        .create_droplet(&droplet_spec("h", "h", "ams3", vec![]))
        .await
        .unwrap();
    let url = format!(
        "{}/v2/droplets/{}/destroy_with_associated_resources/dangerous",
        fake.url, d.id
    );
    let http = reqwest::Client::new();
    let r = http.delete(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 412);
    assert_eq!(fake.droplets().len(), 1);
    let r = http.delete(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .delete(&url)
        .bearer_auth(TOKEN)
        .header("X-Dangerous", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    assert!(fake.droplets().is_empty());
}
