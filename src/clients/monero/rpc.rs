//! JSON-RPC to monero-wallet-rpc: HTTP Digest auth, a timeout per call, and
//! one queue so calls reach the single-threaded wallet one at a time.
//!
//! wallet-rpc ties its Digest nonce to the TCP connection and answers with two
//! challenges (MD5 and MD5-sess); an answer sent on another connection is
//! refused. A pooled HTTP client cannot promise which connection the answer
//! takes (the connection of the 401 may not be back in the pool yet), so this
//! client owns exactly one HTTP/1.1 connection (hyper's low-level `conn` API),
//! kept behind the queue and reopened when it breaks. The digest itself is
//! computed by the `digest_auth` crate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::clients::WalletError;
use crate::metrics::Metrics;

/// Timeout of ordinary calls.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// Timeout of calls that build transactions (the wallet may need a while).
pub const SLOW_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest answer read from the wallet. `get_transfers` of a busy
/// wallet is large (about 1 KB per transfer), so this is generous; an answer
/// beyond it is refused rather than filling the memory.
pub const MAX_ANSWER: usize = 256 * 1024 * 1024;

/// A monero-wallet-rpc endpoint.
pub struct Rpc {
    /// `host:port` to connect to, or why the endpoint is unusable.
    addr: Result<String, String>,
    path: String,
    creds: Option<(String, String)>,
    /// The queue and the one connection it guards.
    conn: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
    metrics: Arc<Metrics>,
    /// Caps every call's timeout (tests of a wallet that hangs).
    max_timeout: Duration,
}

/// Splits `http://host:port[/prefix]` into a connect address and the RPC path.
fn parse_endpoint(endpoint: &str) -> (Result<String, String>, String) {
    let url = match reqwest::Url::parse(&format!("{}/json_rpc", endpoint.trim_end_matches('/'))) {
        Ok(u) => u,
        Err(e) => {
            return (
                Err(format!("wallet endpoint {endpoint:?}: {e}")),
                "/json_rpc".into(),
            );
        }
    };
    let path = url.path().to_string();
    if url.scheme() != "http" {
        return (
            Err(format!(
                "wallet endpoint {endpoint:?}: only http is supported (run monero-wallet-rpc on loopback beside nodecannon)"
            )),
            path,
        );
    }
    let addr = match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => Ok(format!(
            "{}:{p}",
            h.trim_start_matches('[').trim_end_matches(']')
        )),
        _ => Err(format!("wallet endpoint {endpoint:?} has no host")),
    };
    (addr, path)
}

impl Rpc {
    /// A client of `endpoint` (e.g. `http://127.0.0.1:18083`); empty `user` means no auth.
    pub fn new(endpoint: &str, user: &str, pass: &str, metrics: Arc<Metrics>) -> Self {
        let creds = (!user.is_empty()).then(|| (user.to_string(), pass.to_string()));
        let (addr, path) = parse_endpoint(endpoint);
        Self {
            addr,
            path,
            creds,
            conn: Default::default(),
            metrics,
            max_timeout: SLOW_TIMEOUT,
        }
    }

    /// Caps the timeout of every call.
    pub fn with_max_timeout(mut self, t: Duration) -> Self {
        self.max_timeout = t;
        self
    }

    /// Opens the connection.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, WalletError> {
        let addr = self.addr.clone().map_err(WalletError::Unreachable)?;
        let tcp = tokio::net::TcpStream::connect(addr.as_str())
            .await
            .map_err(|e| WalletError::Unreachable(format!("monero-wallet-rpc at {addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .map_err(|e| {
                    WalletError::Unreachable(format!("monero-wallet-rpc at {addr}: {e}"))
                })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request on the connection, opening it first if there is none
    /// or it broke; returns the status, the Digest challenges, the body and
    /// whether the connection is new.
    async fn exchange(
        &self,
        slot: &mut Option<SendRequest<Full<Bytes>>>,
        body: &[u8],
        authorization: Option<&str>,
    ) -> Result<(u16, Vec<String>, Bytes, bool), WalletError> {
        let mut fresh = false;
        if slot.as_ref().is_none_or(|s| s.is_closed()) {
            *slot = Some(self.connect().await?);
            fresh = true;
        }
        let Some(sender) = slot.as_mut() else {
            return Err(WalletError::Unreachable("no connection".into()));
        };
        if sender.ready().await.is_err() {
            *sender = self.connect().await?;
            fresh = true;
        }
        let host = self.addr.as_deref().unwrap_or("localhost");
        let mut req = hyper::Request::post(self.path.as_str())
            .header(HOST, host)
            .header(CONTENT_TYPE, "application/json");
        if let Some(a) = authorization {
            req = req.header(AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| WalletError::Unreachable(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| WalletError::Unreachable(format!("monero-wallet-rpc: {e}")))?;
        let status = resp.status().as_u16();
        let challenges = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(String::from)
            .collect();
        // Read whole or not at all: a cut-off answer is an error, never a short one.
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| {
                WalletError::Unreachable(format!(
                    "monero-wallet-rpc: the answer could not be read whole: {e}"
                ))
            })?
            .to_bytes();
        Ok((status, challenges, bytes, fresh))
    }

    /// Calls `method`; waits its turn in the queue first.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<T, WalletError> {
        let mut slot = self.conn.lock().await;
        self.metrics.client_call("wallet");
        let timeout = timeout.min(self.max_timeout);
        let body = json!({ "jsonrpc": "2.0", "id": "0", "method": method, "params": params });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let result = tokio::time::timeout(timeout, self.authorized(&mut slot, &body)).await;
        let bytes = match result {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                *slot = None;
                return Err(e);
            }
            Err(_) => {
                // The wallet may still answer on this connection; never read a late answer as the next one.
                *slot = None;
                return Err(WalletError::Busy);
            }
        };
        decode(method, &bytes)
    }

    /// Sends `body`, answering a Digest challenge on the same connection.
    async fn authorized(
        &self,
        slot: &mut Option<SendRequest<Full<Bytes>>>,
        body: &[u8],
    ) -> Result<Bytes, WalletError> {
        let mut answer: Option<String> = None;
        // 1: no credentials; 2: the answer; 3: one more if the connection was
        // replaced in between (a new connection brings a new nonce).
        for _ in 0..3 {
            let (status, challenges, bytes, fresh) =
                self.exchange(slot, body, answer.as_deref()).await?;
            match status {
                200 => return Ok(bytes),
                401 => {}
                403 => return Err(WalletError::AuthFailed),
                s => {
                    return Err(WalletError::Unreachable(format!(
                        "monero-wallet-rpc answered HTTP {s}"
                    )));
                }
            }
            let Some((user, pass)) = &self.creds else {
                return Err(WalletError::AuthFailed);
            };
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
            let ctx = digest_auth::AuthContext::new_post(
                user.as_str(),
                pass.as_str(),
                self.path.as_str(),
                Some(body),
            );
            let header = prompt
                .respond(&ctx)
                .map_err(|e| WalletError::Unreachable(format!("Digest answer: {e}")))?;
            // An answer refused on the very connection that asked means wrong credentials.
            if answer.is_some() && !fresh {
                return Err(WalletError::AuthFailed);
            }
            answer = Some(header.to_header_string());
        }
        Err(WalletError::AuthFailed)
    }
}

/// Reads the body of monero-wallet-rpc's answer to `method`: the wallet's
/// error, or its `result` as `T`. No I/O, so hostile answers are tested
/// without a wallet (`tests/suite/hostile_input/`).
pub fn decode<T: DeserializeOwned>(method: &str, bytes: &[u8]) -> Result<T, WalletError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| WalletError::Rpc {
        code: 0,
        message: format!("unreadable answer to {method}: {e}"),
    })?;
    // JSON-RPC 2.0: an answer has `result` or `error`; a null `error` is none.
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let code = err["code"].as_i64().unwrap_or(0);
        let message = match err["message"].as_str() {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => format!("{method} failed without saying why ({err})"),
        };
        return Err(rpc_error(code, message));
    }
    serde_json::from_value(v.get("result").cloned().unwrap_or(Value::Null)).map_err(|e| {
        WalletError::Rpc {
            code: 0,
            message: format!("unexpected answer to {method}: {e}"),
        }
    })
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
