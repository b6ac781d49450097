//! monero-wallet-rpc's answers.

use super::*;

pub(super) fn hex(n: usize) -> BoxedStrategy<String> {
    prop::collection::vec(any::<u8>(), n)
        .prop_map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .boxed()
}

fn amount() -> BoxedStrategy<u64> {
    prop_oneof![any::<u64>(), 0u64..10_000_000_000_000, select(EDGE_U64),].boxed()
}

fn transfer_row() -> BoxedStrategy<Value> {
    (
        hex(32),
        amount(),
        prop_oneof![0u64..20, any::<u64>()],
        any::<i64>(),
        prop_oneof![3 => Just(0u64), 1 => any::<u64>()],
    )
        .prop_map(|(txid, amount, confirmations, timestamp, unlock_time)| {
            json!({
                "txid": txid, "amount": amount, "amounts": [amount],
                "confirmations": confirmations, "timestamp": timestamp,
                "unlock_time": unlock_time, "height": 3_000_000, "type": "in",
                "fee": 30_000_000u64, "locked": true, "double_spend_seen": false,
                "subaddr_index": { "major": 1, "minor": 0 },
                "address": ODD[ODD.len() - 1], "payment_id": "0000000000000000",
            })
        })
        .boxed()
}

fn wallet_result(method: &str) -> BoxedStrategy<Value> {
    match method {
        "create_account" => (any::<u32>(), select(ODD))
            .prop_map(|(i, a)| json!({ "account_index": i, "address": a }))
            .boxed(),
        "get_accounts" => prop::collection::vec((any::<u32>(), amount(), text()), 0..4)
            .prop_map(|rows| {
                let rows: Vec<Value> = rows
                    .into_iter()
                    .map(|(i, b, l)| json!({
                        "account_index": i, "balance": b, "unlocked_balance": b / 2,
                        "base_address": ODD[ODD.len() - 1], "label": l, "tag": "",
                    }))
                    .collect();
                json!({ "subaddress_accounts": rows, "total_balance": 0, "total_unlocked_balance": 0 })
            })
            .boxed(),
        "get_balance" => (amount(), amount())
            .prop_map(|(b, u)| json!({
                "balance": b, "unlocked_balance": u, "multisig_import_needed": false,
                "blocks_to_unlock": 9, "time_to_unlock": 0,
                "per_subaddress": [{ "account_index": 1, "address_index": 0, "balance": b }],
            }))
            .boxed(),
        "get_transfers" => (
            prop::collection::vec(transfer_row(), 0..4),
            prop::collection::vec(transfer_row(), 0..3),
        )
            .prop_map(|(incoming, pool)| json!({ "in": incoming, "pool": pool }))
            .boxed(),
        "transfer_split" => (hex(32), hex(64), amount(), amount())
            .prop_map(|(h, m, a, f)| json!({
                "tx_hash_list": [h], "tx_metadata_list": [m], "amount_list": [a], "fee_list": [f],
                "tx_key_list": [""], "tx_blob_list": [""], "weight_list": [1500], "unsigned_txset": "",
            }))
            .boxed(),
        "sweep_all" => prop::collection::vec((hex(32), hex(64), amount(), amount()), 0..3)
            .prop_map(|txs| json!({
                "tx_hash_list": txs.iter().map(|t| t.0.clone()).collect::<Vec<_>>(),
                "tx_metadata_list": txs.iter().map(|t| t.1.clone()).collect::<Vec<_>>(),
                "amount_list": txs.iter().map(|t| t.2).collect::<Vec<_>>(),
                "fee_list": txs.iter().map(|t| t.3).collect::<Vec<_>>(),
                "weight_list": [1500],
            }))
            .boxed(),
        "relay_tx" => hex(32).prop_map(|h| json!({ "tx_hash": h })).boxed(),
        _ => (hex(32), select(&["out", "pending", "failed", "pool", "in"][..]), any::<bool>())
            .prop_map(|(h, kind, many)| {
                let t = json!({ "txid": h, "type": kind, "amount": 1, "fee": 1 });
                if many { json!({ "transfer": t, "transfers": [t] }) } else { json!({ "transfer": t }) }
            })
            .boxed(),
    }
}

/// What monero-wallet-rpc may answer to `method`: its JSON-RPC envelope
/// around a hostile result, an error of any shape, a cut answer, or bytes.
fn wallet_body(method: &str) -> BoxedStrategy<Vec<u8>> {
    let envelope = |r: Value| json!({ "jsonrpc": "2.0", "id": "0", "result": r });
    let valid = wallet_result(method);
    prop_oneof![
        6 => answers(valid.clone()).prop_map(move |r| envelope(r).to_string().into_bytes()),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
        1 => (prop_oneof![select(&[-2i64, -3, -8, -13, -16, -17, -37, -38, 0][..]), any::<i64>()], text())
            .prop_map(|(code, message)| json!({ "jsonrpc": "2.0", "id": "0", "error": { "code": code, "message": message } })
                .to_string().into_bytes()),
        1 => any_json().prop_map(|e| json!({ "id": "0", "error": e }).to_string().into_bytes()),
        1 => (valid, any::<Index>()).prop_map(move |(r, cut)| {
            let mut b = envelope(r).to_string().into_bytes();
            b.truncate(cut.index(b.len()));
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..100),
    ]
    .boxed()
}

fn wallet_error_says_why(e: &WalletError) -> bool {
    !e.to_string().trim().is_empty()
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn create_account_answers(body in wallet_body("create_account")) {
        match wallet::parse_create_account(&body, "op-label") {
            Ok(a) => {
                prop_assert!(!a.address.trim().is_empty());
                prop_assert_eq!(a.label, "op-label");
            }
            Err(e) => prop_assert!(wallet_error_says_why(&e)),
        }
    }

    #[test]
    fn get_accounts_answers(body in wallet_body("get_accounts")) {
        if let Err(e) = wallet::parse_accounts(&body) {
            prop_assert!(wallet_error_says_why(&e));
        }
    }

    #[test]
    fn balance_and_transfers_answers(
        balance in wallet_body("get_balance"),
        transfers in wallet_body("get_transfers"),
    ) {
        match wallet::parse_account_state(&balance, &transfers) {
            Ok(a) => {
                prop_assert!(a.transfers.windows(2).all(|w| w[0].seen_at <= w[1].seen_at));
                for t in &a.transfers {
                    prop_assert_eq!(t.blocks_to_unlock, 10u64.saturating_sub(t.confirmations));
                    if t.status == TransferStatus::Unlocked {
                        prop_assert!(t.confirmations >= 10);
                    }
                }
                // The sums the pages and jobs use: saturating, never a panic.
                let deposits = a.deposits();
                prop_assert!(a.transfers.iter().filter(|t| t.status != TransferStatus::Ignored).all(|t| t.amount <= deposits));
                prop_assert!(a.locked() <= a.balance);
                prop_assert!(a.pending() >= a.in_pool());
            }
            Err(e) => prop_assert!(wallet_error_says_why(&e)),
        }
    }

    #[test]
    fn transfer_answers(body in wallet_body("transfer_split")) {
        match wallet::parse_transfer(&body) {
            Ok(b) => prop_assert!(!b.is_empty() && b.iter().all(|b| !b.hash.is_empty() && !b.metadata.is_empty())),
            Err(e) => prop_assert!(wallet_error_says_why(&e)),
        }
    }

    #[test]
    fn sweep_answers(body in wallet_body("sweep_all")) {
        match wallet::parse_sweep(&body) {
            Ok(b) => prop_assert!(!b.is_empty() && b.iter().all(|b| !b.hash.is_empty() && !b.metadata.is_empty())),
            Err(e) => prop_assert!(wallet_error_says_why(&e)),
        }
    }

    #[test]
    fn relay_answers(body in wallet_body("relay_tx")) {
        if let Err(e) = wallet::parse_relay(&body) {
            prop_assert!(wallet_error_says_why(&e));
        }
    }

    #[test]
    fn transfer_by_txid_answers(body in wallet_body("get_transfer_by_txid")) {
        if let Err(e) = wallet::parse_knows_tx(&body) {
            prop_assert!(wallet_error_says_why(&e));
        }
    }
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn valid_wallet_answers_are_read_as_sent(
        balance in wallet_result("get_balance"),
        transfers in wallet_result("get_transfers"),
        built in wallet_result("transfer_split"),
    ) {
        let envelope = |r: &Value| json!({ "jsonrpc": "2.0", "id": "0", "result": r }).to_string().into_bytes();
        let a = wallet::parse_account_state(&envelope(&balance), &envelope(&transfers)).expect("valid");
        prop_assert_eq!(Some(a.balance), balance["balance"].as_u64());
        prop_assert_eq!(Some(a.unlocked), balance["unlocked_balance"].as_u64());
        let rows = transfers["in"].as_array().map_or(0, Vec::len) + transfers["pool"].as_array().map_or(0, Vec::len);
        prop_assert_eq!(a.transfers.len(), rows);
        let b = wallet::parse_transfer(&envelope(&built)).expect("valid");
        prop_assert_eq!(b.len(), 1);
        prop_assert_eq!(Some(b[0].amount), built["amount_list"][0].as_u64());
        prop_assert_eq!(Some(b[0].fee), built["fee_list"][0].as_u64());
    }
}
