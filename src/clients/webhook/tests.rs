use super::*;
use serde_json::json;

fn notice() -> Notice {
    Notice {
        op_id: Some("op-1".into()),
        codename: Some("brave-otter".into()),
        kind: "funded".into(),
        message: "node is paid for 30 days".into(),
    }
}

fn mm(channel: &str, username: &str, icon_url: &str) -> Target {
    Target::Mattermost {
        url: "https://chat.example.com/hooks/s3cr3t".into(),
        channel: channel.into(),
        username: username.into(),
        icon_url: icon_url.into(),
    }
}

#[test]
fn mattermost_body_has_only_the_fields_that_are_set() {
    let text = "**funded** `brave-otter`: node is paid for 30 days";
    assert_eq!(mm("", "", "").body(&notice(), 7), json!({ "text": text }));
    assert_eq!(
        mm("ops", "", "").body(&notice(), 7),
        json!({ "text": text, "channel": "ops" })
    );
    assert_eq!(
        mm("ops", "cannon", "https://x.example/i.png").body(&notice(), 7),
        json!({
            "text": text,
            "channel": "ops",
            "username": "cannon",
            "icon_url": "https://x.example/i.png",
        })
    );
    let mut n = notice();
    n.codename = None;
    assert_eq!(
        mm("", "", "").body(&n, 7),
        json!({ "text": "**funded** operation `op-1`: node is paid for 30 days" })
    );
}

#[test]
fn generic_body_is_the_notice_plus_at() {
    let t = Target::Generic {
        url: "https://hooks.example.com/x".into(),
    };
    assert_eq!(
        t.body(&notice(), 1_700_000_000),
        json!({
            "op_id": "op-1",
            "codename": "brave-otter",
            "kind": "funded",
            "message": "node is paid for 30 days",
            "at": 1_700_000_000,
        })
    );
    let n = Notice {
        op_id: None,
        codename: None,
        kind: "payout".into(),
        message: "sent".into(),
    };
    assert_eq!(
        t.body(&n, 5),
        json!({ "op_id": null, "codename": null, "kind": "payout", "message": "sent", "at": 5 })
    );
}

#[test]
fn logs_never_show_the_secret_path() {
    let t = mm("", "", "");
    assert_eq!(t.redacted(), "https://chat.example.com");
    assert!(!format!("{t:?}").contains("s3cr3t"));
    assert_eq!(
        redact("http://user:pw@127.0.0.1:8065/hooks/abc?x=1"),
        "http://127.0.0.1:8065"
    );
    assert_eq!(redact("not a url"), "<invalid url>");
}

#[test]
fn backoff_doubles_is_capped_and_jittered_in_its_upper_half() {
    let d = Delivery::default();
    for (failed, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (40, 60)] {
        let full = Duration::from_secs(full);
        assert_eq!(d.backoff(failed, 0), full / 2, "failed {failed}");
        let span = u64::try_from((full - full / 2).as_nanos()).unwrap();
        assert_eq!(d.backoff(failed, span), full, "failed {failed}");
        assert_eq!(d.backoff(failed, span + 1), full / 2, "failed {failed}");
        let w = d.backoff(failed, 123_456_789_012);
        assert!(w >= full / 2 && w <= full, "failed {failed}: {w:?}");
    }
    let fast = d.with_backoff(Duration::from_millis(1));
    assert!(fast.backoff(1, u64::MAX) <= Duration::from_millis(1));
    assert_eq!(fast.attempts, 5);
}
