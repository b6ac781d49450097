//! How each request goes out: one attempt with a deadline, retries of 429
//! and 5xx with jittered backoff (honouring `Retry-After` and the
//! `ratelimit-*` headers), pages followed, creates looked up before a retry.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::parse::{Attempt, answer};
use super::{DigitalOcean, MAX_BODY, MAX_PAGES, PER_PAGE, TIMEOUT};
use crate::clients::cloud::CloudError;

impl DigitalOcean {
    /// `base × 2^n`, capped, with up to 50 % jitter.
    pub(super) fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(2u32.saturating_pow(n.min(16)))
            .min(self.backoff_cap);
        let mut b = [0u8; 2];
        let _ = getrandom::fill(&mut b);
        let jitter = f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) * 0.5;
        exp.mul_f64(1.0 + jitter).min(self.backoff_cap)
    }

    /// Turns `links.pages.next` (an absolute URL on the real API) into one on `base`.
    pub(super) fn on_base(&self, url: &str) -> String {
        let rest = match reqwest::Url::parse(url) {
            Ok(u) => {
                let q = u.query().map(|q| format!("?{q}")).unwrap_or_default();
                format!("{}{q}", u.path())
            }
            Err(_) => url.to_string(),
        };
        // Only ever a path on `base`: a link like `@evil.example/` or
        // `x:@evil.example` glued to the base would name another host, and
        // the token would go there.
        if rest.starts_with('/') {
            format!("{}{rest}", self.base)
        } else {
            format!("{}/{rest}", self.base)
        }
    }

    /// Reads one page of a list: the items under `key` and the URL of the
    /// next page on `base`, if any. No I/O, so hostile answers are tested
    /// without a server (`tests/suite/hostile_input/`).
    /// A page without its list (an empty body, an error document, another
    /// shape) is unavailable, never an empty page.
    pub fn parse_page(
        &self,
        page: &Value,
        key: &str,
    ) -> Result<(Vec<Value>, Option<String>), CloudError> {
        let Some(items) = page[key].as_array().cloned() else {
            return Err(CloudError::Unavailable(format!(
                "DigitalOcean answered a page without \"{key}\""
            )));
        };
        let next = match page["links"]["pages"]["next"].as_str() {
            Some(next) if !next.is_empty() => Some(self.on_base(next)),
            _ => None,
        };
        Ok((items, next))
    }

    /// Waits when the last answer said the window is used up.
    pub(super) async fn respect_rate_limit(&self) {
        if self.remaining.load(Ordering::Relaxed) != 0 {
            return;
        }
        // DigitalOcean's reset is wall-clock time.
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        let reset = self.reset_at.load(Ordering::Relaxed);
        if reset > now {
            let wait = Duration::from_secs(u64::try_from(reset - now).unwrap_or(0));
            tracing::warn!(
                "DigitalOcean rate limit used up; waiting {}s",
                wait.min(self.backoff_cap).as_secs()
            );
            tokio::time::sleep(wait.min(self.backoff_cap)).await;
        }
    }

    pub(super) fn note_rate_limit(&self, h: &reqwest::header::HeaderMap) {
        let num = |k: &str| {
            h.get(k)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        if let Some(r) = num("ratelimit-remaining") {
            self.remaining.store(r, Ordering::Relaxed);
        }
        if let Some(r) = num("ratelimit-reset") {
            self.reset_at.store(r, Ordering::Relaxed);
        }
    }

    /// One request, no retries.
    pub(super) async fn once(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        dangerous: bool,
    ) -> Result<Value, Attempt> {
        self.respect_rate_limit().await;
        self.metrics.client_call("cloud");
        let mut req = self
            .http
            .request(method.clone(), url)
            .bearer_auth(&self.token)
            .timeout(TIMEOUT);
        if let Some(b) = body {
            req = req.json(b);
        }
        if dangerous {
            req = req.header("X-Dangerous", "true");
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(Attempt::Retry(
                    CloudError::Unavailable("DigitalOcean did not answer in time".into()),
                    None,
                ));
            }
            Err(e) => {
                return Err(Attempt::Retry(
                    CloudError::Unavailable(format!("DigitalOcean unreachable: {e}")),
                    None,
                ));
            }
        };
        self.note_rate_limit(resp.headers());
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if let Some(why) = crate::clients::body::redirect_refused(&resp) {
            return Err(Attempt::Final(CloudError::Unavailable(format!(
                "DigitalOcean answered {why}"
            ))));
        }
        // A body cut off or too large is "unavailable", never an empty answer.
        let bytes = crate::clients::body::read_capped(resp, MAX_BODY)
            .await
            .map_err(|e| {
                Attempt::Retry(CloudError::Unavailable(format!("DigitalOcean: {e}")), None)
            })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Attempt::Retry(
                CloudError::Unavailable("DigitalOcean: the answer is not UTF-8 text".into()),
                None,
            )
        })?;
        answer(status, &text, retry_after)
    }
    /// A request retried on 429/5xx/timeouts; `retry` is false for creates,
    /// whose retries go through [`Self::create`].
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        dangerous: bool,
        retry: bool,
    ) -> Result<Value, CloudError> {
        let mut n = 0;
        loop {
            match self.once(&method, url, body, dangerous).await {
                Ok(v) => return Ok(v),
                // A delete that failed in a way that may have hidden its
                // success, then finds nothing: it worked.
                Err(Attempt::Final(CloudError::NotFound)) if method == Method::DELETE && n > 0 => {
                    return Ok(Value::Null);
                }
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Retry(e, after)) => {
                    n += 1;
                    if !retry || n >= self.attempts {
                        return Err(e);
                    }
                    let wait = after.unwrap_or_else(|| self.backoff(n - 1));
                    tracing::debug!("DigitalOcean {method} {url}: {e}; retrying");
                    tokio::time::sleep(wait.min(self.backoff_cap)).await;
                }
            }
        }
    }

    pub(super) async fn get(&self, path: &str) -> Result<Value, CloudError> {
        self.send(
            Method::GET,
            &format!("{}{path}", self.base),
            None,
            false,
            true,
        )
        .await
    }

    pub(super) async fn delete(&self, path: &str) -> Result<(), CloudError> {
        self.send(
            Method::DELETE,
            &format!("{}{path}", self.base),
            None,
            false,
            true,
        )
        .await
        .map(|_| ())
    }

    /// Every item of `key` across all pages of `path`.
    pub(super) async fn list(&self, path: &str, key: &str) -> Result<Vec<Value>, CloudError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{}{path}{sep}per_page={PER_PAGE}", self.base);
        let mut out = Vec::new();
        let mut visited = std::collections::HashSet::new();
        // What the first page says the whole list holds, when it says.
        let mut total: Option<u64> = None;
        for _ in 0..MAX_PAGES {
            let page = self.send(Method::GET, &url, None, false, true).await?;
            let (items, next) = self.parse_page(&page, key)?;
            total = total.or(page["meta"]["total"].as_u64());
            out.extend(items);
            visited.insert(url.clone());
            match next {
                Some(next) => url = next,
                None => return complete(path, out, total),
            }
            if visited.contains(&url) {
                // A broken answer pointing back at a page already read.
                return Err(CloudError::Unavailable(format!(
                    "{path}: the next page is one already read"
                )));
            }
        }
        Err(CloudError::Unavailable(format!(
            "{path}: more than {MAX_PAGES} pages"
        )))
    }

    /// Creates with `body`; when the answer is lost or the API fails, looks
    /// the resource up with `find` before trying again.
    pub(super) async fn create<T, F, Fut>(
        &self,
        path: &str,
        body: &Value,
        parse: fn(&Value) -> Option<T>,
        find: F,
    ) -> Result<T, CloudError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, CloudError>>,
    {
        let url = format!("{}{path}", self.base);
        let mut n = 0;
        loop {
            let err = match self.once(&Method::POST, &url, Some(body), false).await {
                Ok(v) => {
                    return parse(&v).ok_or_else(|| {
                        CloudError::Unavailable(format!("unreadable answer to POST {path}"))
                    });
                }
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Retry(e, after)) => {
                    n += 1;
                    if n < self.attempts {
                        tokio::time::sleep(
                            after
                                .unwrap_or_else(|| self.backoff(n - 1))
                                .min(self.backoff_cap),
                        )
                        .await;
                    }
                    e
                }
            };
            // The create may have happened even though its answer did not
            // arrive: look before trying again, and once more before giving up.
            match find().await {
                Ok(Some(found)) => {
                    tracing::info!("POST {path} failed ({err}) but the resource exists; using it");
                    return Ok(found);
                }
                Ok(None) if n >= self.attempts => return Err(err),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The items of a list whose pages add up to the total it announced; a list
/// that came back shorter is unavailable (an item missing from it would read
/// as a droplet gone).
fn complete(path: &str, items: Vec<Value>, total: Option<u64>) -> Result<Vec<Value>, CloudError> {
    match total {
        Some(t) if t != items.len() as u64 => Err(CloudError::Unavailable(format!(
            "{path}: the pages hold {} of the {t} items listed",
            items.len()
        ))),
        _ => Ok(items),
    }
}
