//! JSON-RPC to monero-wallet-rpc: HTTP Digest auth, a timeout per call, and
//! one queue so calls reach the single-threaded wallet one at a time.
//!
//! wallet-rpc ties its Digest nonce to the connection and answers with two
//! challenges (MD5 and MD5-sess). The answer must come back on the same
//! connection, so the 401's body is read to the end (which returns the
//! connection to the pool) before the answer is sent; the digest itself is
//! computed by the `digest_auth` crate.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
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
    path: String,
    creds: Option<(String, String)>,
    queue: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
    /// Caps every call's timeout (tests of a wallet that hangs).
    max_timeout: Duration,
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
        let creds = (!user.is_empty()).then(|| (user.to_string(), pass.to_string()));
        let url = format!("{}/json_rpc", endpoint.trim_end_matches('/'));
        let path = reqwest::Url::parse(&url)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| "/json_rpc".into());
        Self {
            http,
            url,
            path,
            creds,
            queue: Default::default(),
            metrics,
            max_timeout: SLOW_TIMEOUT,
        }
    }

    /// Caps the timeout of every call.
    pub fn with_max_timeout(mut self, t: Duration) -> Self {
        self.max_timeout = t;
        self
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
        let timeout = timeout.min(self.max_timeout);
        let body = json!({ "jsonrpc": "2.0", "id": "0", "method": method, "params": params });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut answer: Option<String> = None;
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let mut req = self
                .http
                .post(&self.url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .timeout(timeout);
            if let Some(a) = &answer {
                req = req.header(AUTHORIZATION, a);
            }
            let resp = req.send().await.map_err(|e| transport(&e))?;
            if resp.status().as_u16() != 401 {
                break resp;
            }
            // Wrong credentials get a 401 for the answer too; a stale nonce gets one more try.
            let Some((user, pass)) = &self.creds else {
                return Err(WalletError::AuthFailed);
            };
            if attempt >= 3 {
                return Err(WalletError::AuthFailed);
            }
            let challenges: Vec<String> = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(String::from)
                .collect();
            let challenge = challenges
                .iter()
                .find(|c| !c.contains("MD5-sess"))
                .or(challenges.first())
                .ok_or_else(|| {
                    WalletError::Unreachable("a 401 without a Digest challenge".into())
                })?;
            let mut prompt = digest_auth::parse(challenge).map_err(|e| {
                WalletError::Unreachable(format!("unreadable Digest challenge: {e}"))
            })?;
            // Read the 401 to its end so the answer goes out on the same connection.
            let _ = resp.bytes().await;
            let ctx = digest_auth::AuthContext::new_post(
                user.as_str(),
                pass.as_str(),
                self.path.as_str(),
                Some(body.as_slice()),
            );
            let header = prompt
                .respond(&ctx)
                .map_err(|e| WalletError::Unreachable(format!("Digest answer: {e}")))?;
            answer = Some(header.to_header_string());
        };
        match resp.status().as_u16() {
            403 => return Err(WalletError::AuthFailed),
            200 => {}
            s => {
                return Err(WalletError::Unreachable(format!(
                    "monero-wallet-rpc answered HTTP {s}"
                )));
            }
        }
        let v: Value = resp.json().await.map_err(|e| transport(&e))?;
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

fn transport(e: &reqwest::Error) -> WalletError {
    if e.is_timeout() {
        WalletError::Busy
    } else {
        WalletError::Unreachable(e.to_string())
    }
}

/// Maps monero-wallet-rpc's error codes (wallet_rpc_server_error_codes.h) to
/// the cases the app tells apart.
pub fn rpc_error(code: i64, message: String) -> WalletError {
    let m = message.to_lowercase();
    match code {
        -2 => WalletError::InvalidAddress(message),
        // Daemon busy; no daemon connection.
        -3 => WalletError::Busy,
        -38 => WalletError::Unreachable(format!("the wallet has no daemon connection: {message}")),
        // Transaction not possible (e.g. the fee exceeds what is there).
        -16 => WalletError::NotEnoughMoney,
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
