//! The DigitalOcean helpers of the command line (`keys list`, `keys create`,
//! `volumes list`, the original's `list_keys`, `create_key`, `list_volumes`)
//! and `config check` outside sandbox, run as the built binary against the
//! stateful fake DigitalOcean (`support::fake_do`) with a clean environment.

use crate::support;

use std::path::Path;

use nodecannon::clients::Cloud;
use nodecannon::clients::cloud::VolumeSpec;
use support::fake_do::{FakeDo, TOKEN};

const PAYOUT: &str = "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC";
const PUBKEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx5dVxRqGfOqjUcRUIqFDlj2LqB1cYxF0NQ6ZyJrH1h op@laptop";
const KEYS: &str = "/v2/account/keys";

use support::Run;

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A configured install on the fake: DO_TOKEN `token`, the wallet on `wallet_port`.
fn real_env(fake: &FakeDo, dir: &Path, token: &str, wallet_port: u16) -> Vec<(String, String)> {
    [
        ("DATA_DIR", dir.display().to_string()),
        ("DO_TOKEN", token.to_string()),
        ("DO_API_URL", fake.url.clone()),
        ("DO_DOMAIN", "example.com".to_string()),
        ("PAYOUT_ADDRESS", PAYOUT.to_string()),
        ("XMR_WALLET_RPC_PORT", wallet_port.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Runs the binary with only PATH and `env`, in `dir`.
async fn nodecannon(dir: &Path, env: &[(String, String)], args: &[&str]) -> Run {
    support::run_binary(dir, env, args).await
}

#[tokio::test]
async fn keys_create_then_list_shows_the_key_once() {
    let fake = FakeDo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = real_env(&fake, dir.path(), TOKEN, closed_port());
    let file = dir.path().join("id_ed25519.pub");
    std::fs::write(&file, format!("{PUBKEY}\n")).unwrap();
    let file = file.to_str().unwrap();

    let r = nodecannon(
        dir.path(),
        &env,
        &["keys", "create", "operator laptop", file],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    let keys = fake.ssh_keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert_eq!(key.name, "operator laptop");
    assert_eq!(key.public_key, PUBKEY);
    assert!(r.stdout.contains(&key.id.to_string()), "{}", r.all());
    assert!(r.stdout.contains(&key.fingerprint), "{}", r.all());
    assert!(r.stdout.contains("DO_SSH_KEY"), "{}", r.all());

    for args in [&["keys", "list"][..], &["list_keys"][..]] {
        let r = nodecannon(dir.path(), &env, args).await;
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.all());
        let line = r
            .stdout
            .lines()
            .find(|l| l.contains(&key.fingerprint))
            .unwrap_or_else(|| panic!("{args:?}: no line with the key: {}", r.all()));
        assert!(line.starts_with(&key.id.to_string()), "{line}");
        assert!(line.contains("operator laptop"), "{line}");
        assert_eq!(
            r.stdout.lines().count(),
            2,
            "header and one key: {}",
            r.all()
        );
    }

    // The same key again, through the original's name: refused, and the
    // operator is told which key in the account it is.
    let r = nodecannon(dir.path(), &env, &["create_key", "again", file]).await;
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains(&key.id.to_string()), "{}", r.all());
    assert!(r.stderr.contains("DO_SSH_KEY"), "{}", r.all());
    assert_eq!(fake.ssh_keys().len(), 1);
}

#[tokio::test]
async fn a_bad_public_key_file_exits_2_and_sends_nothing() {
    let fake = FakeDo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = real_env(&fake, dir.path(), TOKEN, closed_port());
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let missing = dir.path().join("nope.pub").to_str().unwrap().to_string();
    let cases = [
        (missing, "cannot read"),
        (write("empty.pub", "\n"), "empty"),
        (write("words.pub", "hello world\n"), "OpenSSH public key"),
        (
            write(
                "id_ed25519",
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n",
            ),
            "private key",
        ),
        (
            write("two.pub", &format!("{PUBKEY}\n{PUBKEY}\n")),
            "2 lines",
        ),
    ];
    for (file, says) in &cases {
        for args in [
            &["keys", "create", "k", file.as_str()][..],
            &["create_key", "k", file.as_str()][..],
        ] {
            let r = nodecannon(dir.path(), &env, args).await;
            assert_eq!(r.code, Some(2), "{args:?}: {}", r.all());
            assert!(r.stderr.contains(says), "{args:?}: {}", r.all());
        }
    }
    assert_eq!(fake.count("POST", KEYS), 0);
    assert!(fake.log().is_empty(), "no request at all: {:?}", fake.log());
    assert!(fake.ssh_keys().is_empty());
}

#[tokio::test]
async fn volumes_list_shows_the_accounts_volumes() {
    let fake = FakeDo::start().await;
    let client = fake.client();
    let a = client
        .create_volume(&VolumeSpec {
            name: "op-aaaa".into(),
            region: "ams3".into(),
            size_gb: 150,
            tags: vec!["nodecannon".into(), "nodecannon-op-aaaa".into()],
        })
        .await
        .unwrap();
    let b = client
        .create_volume(&VolumeSpec {
            name: "stray".into(),
            region: "nyc3".into(),
            size_gb: 20,
            tags: vec![],
        })
        .await
        .unwrap();
    fake.state()
        .volumes
        .iter_mut()
        .find(|v| v.id == a.id)
        .unwrap()
        .droplet_ids = vec![3_170_001];
    let dir = tempfile::tempdir().unwrap();
    let env = real_env(&fake, dir.path(), TOKEN, closed_port());
    for args in [&["volumes", "list"][..], &["list_volumes"][..]] {
        let r = nodecannon(dir.path(), &env, args).await;
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.all());
        assert_eq!(r.stdout.lines().count(), 3, "{}", r.all());
        let line = |id: &str| {
            r.stdout
                .lines()
                .find(|l| l.starts_with(id))
                .unwrap_or_else(|| panic!("no line for {id}: {}", r.all()))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            line(&a.id),
            [
                a.id.as_str(),
                "op-aaaa",
                "ams3",
                "150",
                "3170001",
                "nodecannon,nodecannon-op-aaaa"
            ]
        );
        assert_eq!(
            line(&b.id),
            [b.id.as_str(), "stray", "nyc3", "20", "-", "-"]
        );
    }
}

#[tokio::test]
async fn a_refused_token_exits_1_and_says_so() {
    let fake = FakeDo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = real_env(&fake, dir.path(), "wrong-token", closed_port());
    let file = dir.path().join("k.pub");
    std::fs::write(&file, PUBKEY).unwrap();
    for args in [
        &["keys", "list"][..],
        &["volumes", "list"][..],
        &["keys", "create", "k", file.to_str().unwrap()][..],
    ] {
        let r = nodecannon(dir.path(), &env, args).await;
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.all());
        assert!(r.stderr.contains("refused the token"), "{}", r.all());
        assert!(r.stderr.contains("DO_TOKEN"), "{}", r.all());
    }
    assert!(fake.ssh_keys().is_empty());
}

#[tokio::test]
async fn the_sandbox_has_no_digitalocean_account() {
    let fake = FakeDo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("DATA_DIR".to_string(), dir.path().display().to_string())];
    let file = dir.path().join("k.pub");
    std::fs::write(&file, PUBKEY).unwrap();
    for args in [
        &["keys", "list"][..],
        &["list_keys"][..],
        &["volumes", "list"][..],
        &["keys", "create", "k", file.to_str().unwrap()][..],
    ] {
        let r = nodecannon(dir.path(), &env, args).await;
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.all());
        assert!(r.stderr.contains("needs DO_TOKEN"), "{}", r.all());
        assert!(r.stderr.contains("sandbox"), "{}", r.all());
    }
    // `config check` in sandbox stays as it was.
    let r = nodecannon(dir.path(), &env, &["config", "check"]).await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(r.stdout.contains("configuration OK"), "{}", r.all());
    assert!(fake.log().is_empty());
}

/// A monero-wallet-rpc stand-in that answers `get_accounts` with `n` accounts.
async fn wallet_stub(n: u32) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/json_rpc",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| async move {
            assert_eq!(body["method"], "get_accounts");
            let accounts: Vec<_> = (0..n)
                .map(|i| serde_json::json!({"account_index": i, "base_address": PAYOUT, "label": ""}))
                .collect();
            axum::Json(serde_json::json!({
                "jsonrpc": "2.0", "id": "0",
                "result": {"subaddress_accounts": accounts},
            }))
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, task)
}

#[tokio::test]
async fn config_check_asks_the_wallet_and_digitalocean() {
    let fake = FakeDo::start().await;
    fake.set_droplet_limit(7);
    let dir = tempfile::tempdir().unwrap();
    let part = |r: &Run, name: &str| {
        r.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} line: {}", r.all()))
            .to_string()
    };

    // The wallet's port is closed: the wallet part fails, DigitalOcean is ok.
    let env = real_env(&fake, dir.path(), TOKEN, closed_port());
    let r = nodecannon(dir.path(), &env, &["config", "check"]).await;
    assert_ne!(r.code, Some(0), "{}", r.all());
    assert!(part(&r, "wallet").contains("FAILED"), "{}", r.all());
    let d = part(&r, "digitalocean");
    assert!(
        d.contains("ok") && d.contains("droplet limit 7"),
        "{}",
        r.all()
    );
    assert!(!d.contains("FAILED"), "{}", r.all());
    assert!(!r.stdout.contains("configuration OK"), "{}", r.all());
    assert!(r.stderr.contains("wallet"), "{}", r.all());
    assert!(
        !r.stdout.contains(TOKEN),
        "the token is masked: {}",
        r.all()
    );
    assert_eq!(fake.count("GET", "/v2/account"), 1);

    // Both answer: exit 0.
    let (port, wallet) = wallet_stub(3).await;
    let env = real_env(&fake, dir.path(), TOKEN, port);
    let r = nodecannon(dir.path(), &env, &["config", "check"]).await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(part(&r, "wallet").contains("ok: 3 account"), "{}", r.all());
    assert!(
        part(&r, "digitalocean").contains("droplet limit 7"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("configuration OK"), "{}", r.all());

    // A refused token: the DigitalOcean part fails and says why.
    let env = real_env(&fake, dir.path(), "wrong-token", port);
    let r = nodecannon(dir.path(), &env, &["config", "check"]).await;
    assert_ne!(r.code, Some(0), "{}", r.all());
    assert!(part(&r, "wallet").contains("ok"), "{}", r.all());
    let d = part(&r, "digitalocean");
    assert!(
        d.contains("FAILED") && d.contains("refused the token"),
        "{}",
        r.all()
    );
    wallet.abort();
}
