//! Remote services that answer badly, on 127.0.0.1 (issue 17): a body cut
//! off, a slow one, a redirect elsewhere, a huge one, the wrong shape, a 2xx
//! with no body, a list shorter than it says. Every real client (the cloud,
//! the price sources, the node probe) must call such an answer unavailable,
//! never empty, and follow no redirect.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nodecannon::clients::Cloud;
use nodecannon::clients::NodeProbe;
use nodecannon::clients::cloud::CloudError;
use nodecannon::clients::digitalocean::DigitalOcean;
use nodecannon::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the server answers every request.
#[derive(Debug, Clone, Copy)]
enum Bad {
    /// A 200 whose `Content-Length` promises more than is sent.
    Truncated,
    /// Headers, then nothing for longer than the client waits.
    Slow,
    /// 307 to another host.
    Redirect,
    /// A 200 of 9 MiB of JSON.
    Huge,
    /// A 200 of JSON without the expected key.
    WrongShape,
    /// A 200 with no body at all.
    Empty,
    /// A 200 that is not JSON.
    NotJson,
    /// A droplet list whose `meta.total` says there are two, with one.
    Short,
    /// A droplet list with an item that cannot be read.
    UnreadableItem,
}

const DROPLET: &str = r#"{"id":7,"name":"n","status":"active","tags":["nodecannon"],"created_at":"2026-01-01T00:00:00Z","networks":{"v4":[],"v6":[]},"region":{"slug":"ams3"}}"#;

/// A server that answers every request as `bad` says; counts requests.
async fn hostile(bad: Bad) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = sock.read(&mut buf).await;
                let ok = |body: &str| {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let head = match bad {
                    Bad::Truncated => {
                        let body = format!(r#"{{"droplets":[{DROPLET}],"links":{{}},"meta":{{"total":1}}}}"#);
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                            body.len() + 500,
                            &body[..body.len() / 2]
                        )
                    }
                    Bad::Slow => "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{".to_string(),
                    Bad::Redirect => "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://evil.example/v2/droplets\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string(),
                    Bad::Huge => {
                        let n = 9 * 1024 * 1024;
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"droplets\":[")
                            .await;
                        let chunk = vec![b' '; 64 * 1024];
                        let mut sent = 0;
                        while sent < n {
                            if sock.write_all(&chunk).await.is_err() {
                                return;
                            }
                            sent += chunk.len();
                        }
                        let _ = sock.write_all(b"]}").await;
                        return;
                    }
                    Bad::WrongShape => ok(r#"{"message":"ok","monero":{"usd":"high"},"result":{"height":"tall"}}"#),
                    Bad::Empty => "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string(),
                    Bad::NotJson => ok("<html>maintenance</html>"),
                    Bad::Short => ok(&format!(r#"{{"droplets":[{DROPLET}],"links":{{}},"meta":{{"total":2}}}}"#)),
                    Bad::UnreadableItem => ok(&format!(r#"{{"droplets":[{DROPLET},{{"id":"eight"}}],"links":{{}},"meta":{{"total":2}}}}"#)),
                };
                let _ = sock.write_all(head.as_bytes()).await;
                if matches!(bad, Bad::Slow) {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            });
        }
    });
    (url, hits)
}

fn cloud(url: &str) -> DigitalOcean {
    DigitalOcean::new(
        nodecannon::app::http_client(),
        url,
        "token",
        Arc::new(Metrics::default()),
    )
    .with_backoff(2, Duration::from_millis(1), Duration::from_millis(5))
}

#[tokio::test]
async fn a_droplet_list_that_is_cut_off_short_or_unreadable_is_unavailable_never_empty() {
    for bad in [
        Bad::Truncated,
        Bad::Redirect,
        Bad::Huge,
        Bad::WrongShape,
        Bad::Empty,
        Bad::NotJson,
        Bad::Short,
        Bad::UnreadableItem,
    ] {
        let (url, _) = hostile(bad).await;
        let got = cloud(&url).droplets_tagged("nodecannon").await;
        assert!(
            matches!(got, Err(CloudError::Unavailable(_))),
            "{bad:?}: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_a_create_is_not_replayed_elsewhere() {
    // The redirect points at a second server: it must hear nothing.
    let (target, target_hits) = hostile(Bad::Empty).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let to = target.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {to}/v2/droplets\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
                .await;
        }
    });
    let spec = nodecannon::clients::cloud::DropletSpec {
        name: "n".into(),
        region: "ams3".into(),
        size: "s-1vcpu-2gb".into(),
        image: "debian-12-x64".into(),
        tags: vec!["nodecannon".into()],
        user_data: "#cloud-config\n# secret\n".into(),
        volume_ids: vec![],
        ssh_keys: vec![],
    };
    let got = cloud(&url).create_droplet(&spec).await;
    assert!(got.is_err(), "{got:?}");
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "followed the redirect"
    );
}

#[tokio::test]
async fn a_slow_body_is_unavailable_within_the_client_timeout() {
    let (url, _) = hostile(Bad::Slow).await;
    let probe = nodecannon::clients::node::HttpNodeProbe::new(
        nodecannon::app::http_client(),
        Arc::new(Metrics::default()),
    )
    .with_timeout(Duration::from_millis(300));
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let got = probe.get_info("127.0.0.1", port).await;
    assert!(got.is_err(), "{got:?}");
}

#[tokio::test]
async fn the_node_probe_and_price_sources_refuse_bad_answers() {
    for bad in [
        Bad::Truncated,
        Bad::Redirect,
        Bad::Huge,
        Bad::WrongShape,
        Bad::Empty,
        Bad::NotJson,
    ] {
        let (url, _) = hostile(bad).await;
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        let probe = nodecannon::clients::node::HttpNodeProbe::new(
            nodecannon::app::http_client(),
            Arc::new(Metrics::default()),
        );
        let got = probe.get_info("127.0.0.1", port).await;
        assert!(got.is_err(), "node probe, {bad:?}: {got:?}");

        let oracle = nodecannon::clients::market::MarketPrice::new(
            nodecannon::app::http_client(),
            vec![nodecannon::clients::market::Source::CoinGecko(url.clone())],
            3600,
            Arc::new(nodecannon::clock::ManualClock::new(1_767_225_600)),
            Arc::new(Metrics::default()),
        );
        use nodecannon::clients::PriceOracle;
        let got = oracle.report().await;
        assert!(got.median.is_err(), "price, {bad:?}: {got:?}");
    }
}
