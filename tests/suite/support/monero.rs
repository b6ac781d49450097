//! A real regtest monerod and monero-wallet-rpc (Debian's `monero`) on free
//! loopback ports, with a wallet created and helpers to mine. Stopped on drop.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nodecannon::clients::monero::WalletRpc;
use nodecannon::metrics::Metrics;
use serde_json::{Value, json};

pub const USER: &str = "nc";
pub const PASS: &str = "regtest-pass";

/// The running pair.
pub struct Regtest {
    monerod: Option<Child>,
    wallet: Option<Child>,
    pub daemon_port: u16,
    p2p_port: u16,
    zmq_port: u16,
    pub wallet_port: u16,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// A loopback port free at the moment of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(cmd: &str, args: &[String], log: &std::path::Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    Command::new(cmd)
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{cmd} could not start ({e}); install Debian's `monero` package")
        })
}

/// monerod in regtest on the given ports, its chain in `dir/chain`.
fn spawn_daemon(dir: &std::path::Path, daemon_port: u16, p2p: u16, zmq: u16) -> Child {
    let s = |x: &str| x.to_string();
    spawn(
        "monerod",
        &[
            s("--regtest"),
            s("--offline"),
            s("--fixed-difficulty"),
            s("1"),
            s("--data-dir"),
            dir.join("chain").display().to_string(),
            s("--rpc-bind-ip"),
            s("127.0.0.1"),
            s("--rpc-bind-port"),
            daemon_port.to_string(),
            s("--p2p-bind-ip"),
            s("127.0.0.1"),
            s("--p2p-bind-port"),
            p2p.to_string(),
            s("--zmq-rpc-bind-port"),
            zmq.to_string(),
            s("--non-interactive"),
            s("--no-igd"),
            s("--log-level"),
            s("0"),
        ],
        &dir.join("monerod.log"),
    )
}

impl Regtest {
    /// Starts monerod and wallet-rpc, creates a wallet, mines `blocks` to its main address.
    pub async fn start() -> Regtest {
        let dir = tempfile::tempdir().unwrap();
        let (daemon_port, p2p_port, zmq_port) = (free_port(), free_port(), free_port());
        let monerod = spawn_daemon(dir.path(), daemon_port, p2p_port, zmq_port);
        let http = reqwest::Client::new();
        let mut rt = Regtest {
            monerod: Some(monerod),
            wallet: None,
            daemon_port,
            p2p_port,
            zmq_port,
            wallet_port: 0,
            dir,
            http,
        };
        rt.wait_daemon().await;
        rt.start_wallet().await;
        let _: Value = rt
            .wallet_call(
                "create_wallet",
                json!({ "filename": "nodecannon", "language": "English" }),
            )
            .await;
        rt
    }

    /// Stops monerod (the chain is kept).
    pub fn stop_daemon(&mut self) {
        if let Some(mut d) = self.monerod.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    /// Starts monerod again on the same ports and chain.
    pub async fn start_daemon(&mut self) {
        self.stop_daemon();
        self.monerod = Some(spawn_daemon(
            self.dir.path(),
            self.daemon_port,
            self.p2p_port,
            self.zmq_port,
        ));
        self.wait_daemon().await;
    }

    async fn wait_daemon(&self) {
        for _ in 0..300 {
            if self.daemon_call("get_info", json!({})).await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "monerod did not answer; see {}",
            self.dir.path().join("monerod.log").display()
        );
    }

    /// (Re)starts wallet-rpc, on a free port the first time and on the same one
    /// after (the wallet file is kept; open it again with `open_wallet`).
    pub async fn start_wallet(&mut self) {
        self.stop_wallet();
        // The same port on a restart, so the app's client finds it again.
        let port = if self.wallet_port == 0 {
            free_port()
        } else {
            self.wallet_port
        };
        let s = |x: &str| x.to_string();
        let child = spawn(
            "monero-wallet-rpc",
            &[
                s("--daemon-address"),
                format!("127.0.0.1:{}", self.daemon_port),
                s("--trusted-daemon"),
                s("--wallet-dir"),
                self.dir.path().join("wallets").display().to_string(),
                s("--rpc-bind-ip"),
                s("127.0.0.1"),
                s("--rpc-bind-port"),
                port.to_string(),
                s("--rpc-login"),
                format!("{USER}:{PASS}"),
                s("--non-interactive"),
                s("--log-level"),
                s("0"),
                s("--log-file"),
                self.dir
                    .path()
                    .join("wallet-rpc-own.log")
                    .display()
                    .to_string(),
            ],
            &self.dir.path().join("wallet-rpc.log"),
        );
        std::fs::create_dir_all(self.dir.path().join("wallets")).unwrap();
        self.wallet = Some(child);
        self.wallet_port = port;
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "monero-wallet-rpc did not listen; see {}",
            self.dir.path().join("wallet-rpc.log").display()
        );
    }

    /// Stops wallet-rpc (faults tests).
    pub fn stop_wallet(&mut self) {
        if let Some(mut c) = self.wallet.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.wallet_port)
    }

    /// The app's client of this wallet.
    pub fn client(&self, metrics: Arc<Metrics>) -> WalletRpc {
        WalletRpc::new(&self.endpoint(), USER, PASS, metrics)
    }

    /// A raw wallet call through the app's own Digest client.
    pub async fn wallet_call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> T {
        let c = self.client(Arc::new(Metrics::default()));
        c.rpc()
            .call(method, params, Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    async fn daemon_call(&self, method: &str, params: Value) -> Option<Value> {
        let body = json!({ "jsonrpc": "2.0", "id": "0", "method": method, "params": params });
        let url = format!("http://127.0.0.1:{}/json_rpc", self.daemon_port);
        let r = self.http.post(url).json(&body).send().await.ok()?;
        let v: Value = r.json().await.ok()?;
        v.get("result").cloned()
    }

    /// Mines `n` blocks to `address`, then lets the wallet see them.
    pub async fn mine(&self, n: u64, address: &str) {
        self.daemon_call(
            "generateblocks",
            json!({ "amount_of_blocks": n, "wallet_address": address }),
        )
        .await
        .expect("generateblocks");
        let _: Value = self.wallet_call("refresh", json!({})).await;
    }

    /// The main (account 0) address.
    pub async fn main_address(&self) -> String {
        let v: Value = self
            .wallet_call("get_address", json!({ "account_index": 0 }))
            .await;
        v["address"].as_str().unwrap().to_string()
    }

    /// Sends `amount` from account 0 to `address` and returns the tx hash.
    pub async fn send(&self, address: &str, amount: u64) -> String {
        // Asked again while wallet-rpc briefly loses its daemon (-38 under
        // load), as a payer's wallet would.
        let tx = self.send_outputs(&[(address.to_string(), amount)]).await;
        let _: Value = self.wallet_call("refresh", json!({})).await;
        tx
    }

    /// Restores the open wallet from its seed into a new file and opens that
    /// one, as an operator does after losing the wallet file: the restored
    /// wallet holds account 0 only, whatever accounts the old one had.
    pub async fn restore_from_seed(&self, filename: &str) {
        let key: Value = self
            .wallet_call("query_key", json!({ "key_type": "mnemonic" }))
            .await;
        let seed = key["key"].as_str().unwrap().to_string();
        let _: Value = self.wallet_call("close_wallet", json!({})).await;
        let _: Value = self
            .wallet_call(
                "restore_deterministic_wallet",
                json!({ "filename": filename, "seed": seed, "restore_height": 0, "password": "", "language": "English" }),
            )
            .await;
        let _: Value = self.wallet_call("refresh", json!({})).await;
    }

    /// The daemon's RPC base URL (what `XMR_DAEMON_URI` would name).
    pub fn daemon_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.daemon_port)
    }

    /// Sends `n` outputs of `amount` each to `address` from account 0, in
    /// transactions of up to 15 outputs (as a payer with many small
    /// payments would), then mines them in. Account 0 needs at least
    /// `n / 15 + 1` unlocked outputs (mine 60 + that many blocks first).
    pub async fn send_many(&self, address: &str, amount: u64, n: usize, miner: &str) {
        let mut left = n;
        while left > 0 {
            let k = left.min(15);
            let dests: Vec<Value> = (0..k)
                .map(|_| json!({ "amount": amount, "address": address }))
                .collect();
            // wallet-rpc briefly loses its daemon while the daemon is busy
            // (it answers -38): ask again, as a payer's wallet would.
            let c = self.client(Arc::new(Metrics::default()));
            let params = json!({ "destinations": dests, "account_index": 0 });
            let mut tries = 0;
            while let Err(e) = c
                .rpc()
                .call::<Value>("transfer", params.clone(), Duration::from_secs(120))
                .await
            {
                tries += 1;
                assert!(tries < 30, "transfer: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            left -= k;
        }
        self.mine(1, miner).await;
    }

    /// Transactions that left `account`, relayed or in the pool, sorted.
    pub async fn sent_from(&self, account: u32) -> Vec<String> {
        let out: Value = self
            .wallet_call(
                "get_transfers",
                json!({ "out": true, "pending": true, "account_index": account }),
            )
            .await;
        let mut ids: Vec<String> = ["out", "pending"]
            .iter()
            .flat_map(|k| out[*k].as_array().cloned().unwrap_or_default())
            .map(|t| t["txid"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Sends one transaction from account 0 with one output per `(address,
    /// amount)` (up to 15, to one or several addresses), asking again while
    /// wallet-rpc has briefly lost its daemon (-38), as a payer's wallet
    /// would. Returns the transaction's hash; the caller mines it in.
    pub async fn send_outputs(&self, dests: &[(String, u64)]) -> String {
        let dests: Vec<Value> = dests
            .iter()
            .map(|(address, amount)| json!({ "amount": amount, "address": address }))
            .collect();
        let params = json!({ "destinations": dests, "account_index": 0 });
        let c = self.client(Arc::new(Metrics::default()));
        let mut tries = 0;
        loop {
            match c
                .rpc()
                .call::<Value>("transfer", params.clone(), Duration::from_secs(120))
                .await
            {
                Ok(v) => return v["tx_hash"].as_str().unwrap().to_string(),
                Err(e) => {
                    tries += 1;
                    if tries >= 30 {
                        panic!("transfer: {e}\n{}", self.diagnose_rejection(&params).await);
                    }
                    // A daemon that keeps refusing what the wallet builds
                    // (seen after wallet-rpc restarts): say why, then let the
                    // wallet ask the daemon which of its outputs are spent.
                    if tries == 10 && e.to_string().contains("rejected") {
                        eprintln!(
                            "the payer's transfer is refused: {e}\n{}",
                            self.diagnose_rejection(&params).await
                        );
                        let _: Value = self.wallet_call("rescan_spent", json!({})).await;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Why the daemon refuses a transfer the wallet builds: the daemon's
    /// own verdict on it, and which of the outputs the wallet counts as
    /// available the daemon says are spent already (for failure messages).
    pub async fn diagnose_rejection(&self, transfer: &Value) -> String {
        let mut out = String::new();
        let mut params = transfer.clone();
        params["do_not_relay"] = json!(true);
        params["get_tx_hex"] = json!(true);
        let c = self.client(Arc::new(Metrics::default()));
        match c
            .rpc()
            .call::<Value>("transfer", params, Duration::from_secs(120))
            .await
        {
            Ok(v) => {
                let hex = v["tx_blob"].as_str().unwrap_or_default().to_string();
                let said = self
                    .http
                    .post(format!("{}/send_raw_transaction", self.daemon_url()))
                    .json(&json!({ "tx_as_hex": hex, "do_not_relay": true }))
                    .send()
                    .await;
                let said = match said {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(e) => e.to_string(),
                };
                out.push_str(&format!("the daemon on the transfer: {said}\n"));
            }
            Err(e) => out.push_str(&format!("building it without relaying: {e}\n")),
        }
        let account = transfer["account_index"].as_u64().unwrap_or(0);
        let inputs: Value = self
            .wallet_call(
                "incoming_transfers",
                json!({ "transfer_type": "available", "account_index": account }),
            )
            .await;
        let rows = inputs["transfers"].as_array().cloned().unwrap_or_default();
        let images: Vec<String> = rows
            .iter()
            .map(|t| t["key_image"].as_str().unwrap_or_default().to_string())
            .collect();
        let spent = self
            .http
            .post(format!("{}/is_key_image_spent", self.daemon_url()))
            .json(&json!({ "key_images": images }))
            .send()
            .await
            .ok();
        let spent: Value = match spent {
            Some(r) => r.json().await.unwrap_or_default(),
            None => Value::Null,
        };
        let status = spent["spent_status"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (t, s) in rows.iter().zip(&status) {
            if s.as_u64() != Some(0) {
                out.push_str(&format!(
                    "available to the wallet, spent for the daemon ({s}: 1 chain, 2 pool): {t}\n"
                ));
            }
        }
        out.push_str(&format!(
            "{} outputs available in account {account}, {} key images asked\n",
            rows.len(),
            status.len()
        ));
        out
    }

    /// Saves the wallet file (what a `kill -9` of wallet-rpc would lose
    /// otherwise: accounts, subaddresses and notes made since the last save).
    pub async fn store_wallet(&self) {
        let _: Value = self.wallet_call("store", json!({})).await;
    }
}

impl Drop for Regtest {
    fn drop(&mut self) {
        self.stop_wallet();
        self.stop_daemon();
    }
}
