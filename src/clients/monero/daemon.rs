//! The monerod the wallet uses (`XMR_DAEMON_URI`), asked directly for what
//! only the chain can prove: whether key images were spent, whether a
//! transaction is in the pool or a block, and what a fee costs now.
//! Reads a bounded answer; a malformed or incomplete one is an error, never
//! "nothing spent".

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::clients::wallet::WalletError;
use crate::domain::money::Pico;

const TIMEOUT: Duration = Duration::from_secs(20);
/// Answers larger than this are refused (a key image check of a few inputs
/// is a few hundred bytes).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A client of monerod's RPC.
pub struct Daemon {
    http: reqwest::Client,
    base: String,
}

/// Where a key image stands, as `is_key_image_spent` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    No,
    InBlock,
    InPool,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> WalletError {
    WalletError::Unreachable(format!("the daemon ({what}): {e}"))
}

impl Daemon {
    /// A client of the daemon at `base` (`http://host:port`).
    pub fn new(http: reqwest::Client, base: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, WalletError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(TIMEOUT)
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable(path, e))?;
        if let Some(why) = crate::clients::body::redirect_refused(&resp) {
            return Err(unavailable(path, why));
        }
        if !resp.status().is_success() {
            return Err(unavailable(path, format!("HTTP {}", resp.status())));
        }
        let bytes = crate::clients::body::read_capped(resp, MAX_BODY)
            .await
            .map_err(|e| unavailable(path, e))?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| unavailable(path, format!("not JSON: {e}")))?;
        Ok(v)
    }

    /// Whether each key image is spent, in order.
    pub async fn spent(&self, key_images: &[String]) -> Result<Vec<Spent>, WalletError> {
        let v = self
            .post("/is_key_image_spent", json!({ "key_images": key_images }))
            .await?;
        parse_spent(&v, key_images.len())
    }

    /// Whether the daemon has the transaction, in its pool or in a block.
    pub async fn has_tx(&self, hash: &str) -> Result<bool, WalletError> {
        let v = self
            .post("/get_transactions", json!({ "txs_hashes": [hash] }))
            .await?;
        parse_has_tx(&v, hash)
    }

    /// The daemon's fee per byte of transaction weight at the lowest priority.
    pub async fn fee_per_byte(&self) -> Result<Pico, WalletError> {
        let v = self
            .post(
                "/json_rpc",
                json!({ "jsonrpc": "2.0", "id": "0", "method": "get_fee_estimate", "params": {} }),
            )
            .await?;
        parse_fee(&v)
    }
}

fn status_ok(v: &Value, what: &str) -> Result<(), WalletError> {
    match v["status"].as_str() {
        Some("OK") => Ok(()),
        other => Err(unavailable(what, format!("status {other:?}"))),
    }
}

/// Reads an `is_key_image_spent` answer for `n` key images.
pub fn parse_spent(v: &Value, n: usize) -> Result<Vec<Spent>, WalletError> {
    status_ok(v, "is_key_image_spent")?;
    let list = v["spent_status"]
        .as_array()
        .ok_or_else(|| unavailable("is_key_image_spent", "no spent_status"))?;
    if list.len() != n {
        return Err(unavailable(
            "is_key_image_spent",
            format!("{} answers for {n} key images", list.len()),
        ));
    }
    list.iter()
        .map(|s| match s.as_u64() {
            Some(0) => Ok(Spent::No),
            Some(1) => Ok(Spent::InBlock),
            Some(2) => Ok(Spent::InPool),
            _ => Err(unavailable("is_key_image_spent", format!("status {s}"))),
        })
        .collect()
}

/// Reads a `get_transactions` answer: whether `hash` is among the found.
pub fn parse_has_tx(v: &Value, hash: &str) -> Result<bool, WalletError> {
    status_ok(v, "get_transactions")?;
    let found = v["txs"]
        .as_array()
        .is_some_and(|txs| txs.iter().any(|t| t["tx_hash"].as_str() == Some(hash)))
        || v["txs_as_hex"].as_array().is_some_and(|l| !l.is_empty());
    let missed = v["missed_tx"]
        .as_array()
        .is_some_and(|m| m.iter().any(|t| t.as_str() == Some(hash)));
    match (found, missed) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        // Neither found nor missed: an answer that says nothing.
        (false, false) => Err(unavailable(
            "get_transactions",
            "the answer neither has nor misses the transaction",
        )),
    }
}

#[derive(Deserialize)]
struct FeeEstimate {
    fee: u64,
}

/// Reads a `get_fee_estimate` JSON-RPC answer: piconero per byte.
pub fn parse_fee(v: &Value) -> Result<Pico, WalletError> {
    if let Some(e) = v.get("error") {
        return Err(unavailable("get_fee_estimate", e));
    }
    let r = v
        .get("result")
        .ok_or_else(|| unavailable("get_fee_estimate", "no result"))?;
    status_ok(r, "get_fee_estimate")?;
    let f: FeeEstimate =
        serde_json::from_value(r.clone()).map_err(|e| unavailable("get_fee_estimate", e))?;
    if f.fee == 0 {
        return Err(unavailable("get_fee_estimate", "a fee of 0"));
    }
    Ok(f.fee)
}

/// The key images of a transaction's inputs, read from its blob (hex): the
/// prefix is version, unlock time, then the inputs, each a `txin_to_key`
/// (tag 2: amount, key offsets, 32-byte key image).
pub fn key_images(blob_hex: &str) -> Result<Vec<String>, String> {
    let bytes = crate::util::hex_decode(blob_hex).ok_or("the transaction blob is not hex")?;
    let mut r = Reader { b: &bytes, at: 0 };
    let _version = r.varint()?;
    let _unlock = r.varint()?;
    let n = r.varint()?;
    if n == 0 || n > 10_000 {
        return Err(format!("{n} inputs"));
    }
    let mut out = Vec::new();
    for _ in 0..n {
        match r.byte()? {
            0x02 => {
                let _amount = r.varint()?;
                let offsets = r.varint()?;
                if offsets > 1_000 {
                    return Err(format!("{offsets} ring members"));
                }
                for _ in 0..offsets {
                    r.varint()?;
                }
                out.push(crate::util::hex(r.take(32)?));
            }
            tag => return Err(format!("an input of type {tag:#x}")),
        }
    }
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.b.get(self.at).ok_or("the blob ends early")?;
        self.at += 1;
        Ok(b)
    }
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or("the blob ends early")?;
        self.at += n;
        Ok(s)
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than 64 bits".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_images_are_read_from_the_prefix() {
        // version 2, unlock 0, two inputs with 2 and 1 offsets (one > 127).
        let ki1 = "11".repeat(32);
        let ki2 = "22".repeat(32);
        let blob = format!("020002020002 8001 05 {ki1} 020001 07 {ki2} 00").replace(' ', "");
        assert_eq!(key_images(&blob).unwrap(), vec![ki1, ki2]);
        assert!(key_images("0200").is_err());
        assert!(key_images("zz").is_err());
        assert!(key_images("020001ff00").is_err(), "coinbase input");
    }

    #[test]
    fn answers_that_say_nothing_are_errors() {
        assert!(parse_spent(&json!({"status": "OK", "spent_status": [0]}), 2).is_err());
        assert!(parse_spent(&json!({"status": "BUSY"}), 1).is_err());
        assert_eq!(
            parse_spent(&json!({"status": "OK", "spent_status": [0, 1, 2]}), 3).unwrap(),
            vec![Spent::No, Spent::InBlock, Spent::InPool]
        );
        assert!(parse_has_tx(&json!({"status": "OK"}), "ab").is_err());
        assert!(!parse_has_tx(&json!({"status": "OK", "missed_tx": ["ab"]}), "ab").unwrap());
        assert!(parse_has_tx(&json!({"status": "OK", "txs": [{"tx_hash": "ab"}]}), "ab").unwrap());
        assert!(parse_fee(&json!({"result": {"status": "OK", "fee": 0}})).is_err());
        assert_eq!(
            parse_fee(&json!({"result": {"status": "OK", "fee": 20000}})).unwrap(),
            20000
        );
    }
}
