//! The monero-wallet-rpc client against a real regtest monerod and wallet-rpc.

use crate::support;

use std::sync::Arc;

use nodecannon::clients::Wallet;
use nodecannon::clients::WalletError;
use nodecannon::clients::wallet::TransferStatus;
use nodecannon::metrics::Metrics;
use support::monero::Regtest;

const XMR: u64 = 1_000_000_000_000;

#[tokio::test(flavor = "multi_thread")]
async fn accounts_transfers_unlock_and_a_payout_built_stored_then_relayed() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(80, &main).await;
    let wallet = rt.client(Arc::new(Metrics::default()));

    let acct = wallet
        .create_account("0123456789abcdef0123456789abcdef")
        .await
        .unwrap();
    assert_eq!(acct.index, 1);
    assert!(
        acct.address.starts_with('8'),
        "a subaddress: {}",
        acct.address
    );
    let listed = wallet.accounts().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|a| a.index == 1 && a.address == acct.address && a.label == acct.label)
    );

    // Incoming: pool, then locked, then unlocked after 10 blocks.
    let txid = rt.send(&acct.address, 2 * XMR).await;
    let st = wallet.account_state(1).await.unwrap();
    assert_eq!(st.transfers.len(), 1);
    assert_eq!(
        (st.transfers[0].txid.as_str(), st.transfers[0].status),
        (txid.as_str(), TransferStatus::Pool)
    );
    assert_eq!(st.in_pool(), 2 * XMR);
    rt.mine(1, &main).await;
    let st = wallet.account_state(1).await.unwrap();
    assert_eq!(st.transfers[0].status, TransferStatus::Locked);
    assert_eq!((st.balance, st.unlocked), (2 * XMR, 0));
    rt.mine(10, &main).await;
    let st = wallet.account_state(1).await.unwrap();
    assert_eq!(st.transfers[0].status, TransferStatus::Unlocked);
    assert_eq!(st.unlocked, 2 * XMR);

    // A payout: built without relaying (the wallet records nothing), then relayed.
    let payout_to = rt.main_address().await;
    let built = wallet
        .build_transfer(1, &payout_to, XMR / 10)
        .await
        .unwrap();
    assert_eq!(built.len(), 1, "one deposit: one transaction");
    let built = built.into_iter().next().unwrap();
    assert_eq!(built.amount, XMR / 10);
    assert!(built.fee > 0 && !built.metadata.is_empty());
    // Its one input's key image, read from the blob, is the one the wallet
    // knows for the deposit.
    let outs: serde_json::Value = rt
        .wallet_call(
            "incoming_transfers",
            serde_json::json!({ "transfer_type": "available", "account_index": 1 }),
        )
        .await;
    let ki = outs["transfers"][0]["key_image"].as_str().unwrap();
    assert_eq!(built.key_images, vec![ki.to_string()]);
    assert!(
        !wallet.knows_tx(1, &built.hash).await.unwrap(),
        "not relayed yet"
    );
    assert_eq!(wallet.relay(&built.metadata).await.unwrap(), built.hash);
    assert!(wallet.knows_tx(1, &built.hash).await.unwrap());
    let st = wallet.account_state(1).await.unwrap();
    assert_eq!(
        st.balance,
        2 * XMR - XMR / 10 - built.fee,
        "amount plus fee left the account"
    );

    // Not enough unlocked money, a bad address.
    assert_eq!(
        wallet
            .build_transfer(1, &payout_to, 5 * XMR)
            .await
            .unwrap_err(),
        WalletError::NotEnoughMoney
    );
    assert!(matches!(
        wallet
            .build_transfer(1, "4notanaddress", 1)
            .await
            .unwrap_err(),
        WalletError::InvalidAddress(_)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_and_a_stopped_wallet_are_told_apart() {
    let mut rt = Regtest::start().await;
    let bad = nodecannon::clients::monero::WalletRpc::new(
        &rt.endpoint(),
        support::monero::USER,
        "wrong",
        Arc::new(Metrics::default()),
    );
    assert_eq!(bad.accounts().await.unwrap_err(), WalletError::AuthFailed);
    let wallet = rt.client(Arc::new(Metrics::default()));
    assert!(wallet.accounts().await.is_ok());
    // Every fresh client answers the challenge on its first connection: no spurious refusals.
    for _ in 0..100 {
        assert!(
            rt.client(Arc::new(Metrics::default()))
                .accounts()
                .await
                .is_ok()
        );
    }
    for _ in 0..100 {
        assert!(wallet.accounts().await.is_ok());
    }
    rt.stop_wallet();
    assert!(matches!(
        wallet.accounts().await.unwrap_err(),
        WalletError::Unreachable(_)
    ));
}

#[tokio::test]
async fn a_wallet_that_does_not_answer_in_time_is_busy() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            held.push(sock);
        }
    });
    let wallet = nodecannon::clients::monero::WalletRpc::new(
        &format!("http://{addr}"),
        "u",
        "p",
        Arc::new(Metrics::default()),
    )
    .with_max_timeout(std::time::Duration::from_millis(300));
    assert_eq!(
        wallet.account_state(1).await.unwrap_err(),
        WalletError::Busy
    );
    hold.abort();
}
