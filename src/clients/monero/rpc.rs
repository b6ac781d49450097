//! JSON-RPC to monero-wallet-rpc: HTTP Digest auth (diqwest, one session so
//! the challenge is answered on the same pooled connection), a timeout per
//! call, and one queue so calls reach the single-threaded wallet one at a time.

use std::sync::Arc;
use std::time::Duration;

use diqwest::WithDigestAuth;
use diqwest::session::DigestAuthSession;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::clients::WalletError;
use crate::metrics::Metrics;

/// Timeout of ordinary calls.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// Timeout of calls that build transactions (the wallet may need a while).
pub const SLOW_TIMEOUT: Duration = Duration::from_secs(120);

/// A monero-wallet-rpc endpoint.
pub struct Rpc {
    http: reqwest::Client,
    url: String,
    auth: Option<DigestAuthSession>,
    queue: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
}

impl Rpc {
    /// A client of `endpoint` (e.g. `http://127.0.0.1:18083`); empty `user` means no auth.
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        user: &str,
        pass: &str,
        metrics: Arc<Metrics>,
    ) -> Self {
        let auth = (!user.is_empty()).then(|| DigestAuthSession::new(user, pass));
        Self {
            http,
            url: format!("{}/json_rpc", endpoint.trim_end_matches('/')),
            auth,
            queue: Default::default(),
            metrics,
        }
    }

    /// Calls `method`; waits its turn in the queue first.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<T, WalletError> {
        let _turn = self.queue.lock().await;
        self.metrics.client_call("wallet");
        let body = json!({ "jsonrpc": "2.0", "id": "0", "method": method, "params": params });
        let req = self.http.post(&self.url).json(&body).timeout(timeout);
        let resp = match &self.auth {
            Some(a) => req
                .send_digest_auth(a)
                .await
                .map_err(|e| transport(&e.to_string(), timeout))?,
            None => req
                .send()
                .await
                .map_err(|e| transport(&e.to_string(), timeout))?,
        };
        match resp.status().as_u16() {
            401 | 403 => return Err(WalletError::AuthFailed),
            200 => {}
            s => {
                return Err(WalletError::Unreachable(format!(
                    "monero-wallet-rpc answered HTTP {s}"
                )));
            }
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|e| transport(&e.to_string(), timeout))?;
        if let Some(err) = v.get("error") {
            let code = err["code"].as_i64().unwrap_or(0);
            let message = err["message"].as_str().unwrap_or("").to_string();
            return Err(rpc_error(code, message));
        }
        serde_json::from_value(v.get("result").cloned().unwrap_or(Value::Null)).map_err(|e| {
            WalletError::Rpc {
                code: 0,
                message: format!("unexpected answer to {method}: {e}"),
            }
        })
    }
}

fn transport(msg: &str, timeout: Duration) -> WalletError {
    if msg.contains("timed out") || msg.contains("timeout") {
        WalletError::Busy
    } else {
        let _ = timeout;
        WalletError::Unreachable(msg.to_string())
    }
}

/// Maps monero-wallet-rpc's error codes (wallet_rpc_server_error_codes.h) to
/// the cases the app tells apart.
pub fn rpc_error(code: i64, message: String) -> WalletError {
    let m = message.to_lowercase();
    match code {
        -2 => WalletError::InvalidAddress(message),
        -37 => WalletError::NotEnoughUnlocked,
        -17 if m.contains("unlocked") => WalletError::NotEnoughUnlocked,
        -17 => WalletError::NotEnoughMoney,
        -13 => WalletError::Rpc {
            code,
            message: format!("{message} (no wallet is open in monero-wallet-rpc)"),
        },
        _ if m.contains("not enough unlocked") => WalletError::NotEnoughUnlocked,
        _ if m.contains("not enough money") => WalletError::NotEnoughMoney,
        _ if m.contains("double spend")
            || m.contains("invalid input")
            || m.contains("key image") =>
        {
            WalletError::Rejected(message)
        }
        _ if m.contains("refresh") && m.contains("progress") => WalletError::Busy,
        _ => WalletError::Rpc { code, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        assert_eq!(
            rpc_error(-2, "WALLET_RPC_ERROR_CODE_WRONG_ADDRESS".into()),
            WalletError::InvalidAddress("WALLET_RPC_ERROR_CODE_WRONG_ADDRESS".into())
        );
        assert_eq!(
            rpc_error(-17, "not enough money".into()),
            WalletError::NotEnoughMoney
        );
        assert_eq!(rpc_error(-37, "x".into()), WalletError::NotEnoughUnlocked);
        assert_eq!(
            rpc_error(-4, "not enough unlocked money".into()),
            WalletError::NotEnoughUnlocked
        );
        assert!(matches!(
            rpc_error(-4, "Failed to commit tx: double spend".into()),
            WalletError::Rejected(_)
        ));
        assert!(matches!(
            rpc_error(-99, "other".into()),
            WalletError::Rpc { code: -99, .. }
        ));
    }
}
