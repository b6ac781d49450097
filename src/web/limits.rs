//! Who is asking, and how often they may: the client's IP (through
//! `TRUSTED_PROXY` only), the launchpad's per-client limit (`LAUNCHPAD_RATE`;
//! requests from loopback, i.e. through the onion service, share one larger
//! bucket) and the limit on admin login attempts. Rate limiting by `governor`,
//! timed by the app's clock so tests move time instead of sleeping.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use governor::clock::Reference;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::config::Config;

/// The app's clock, as governor wants one.
#[derive(Clone)]
pub struct AppClock(pub Arc<dyn crate::clock::Clock>);

impl governor::clock::Clock for AppClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(Duration::from_secs(
            u64::try_from(self.0.now()).unwrap_or(0),
        ))
    }
}

type Keyed = RateLimiter<IpAddr, HashMapStateStore<IpAddr>, AppClock, NoOpMiddleware<Nanos>>;
type Direct = RateLimiter<NotKeyed, InMemoryState, AppClock, NoOpMiddleware<Nanos>>;

/// How many times the per-client launchpad allowance the onion bucket holds.
pub const ONION_FACTOR: u32 = 10;
/// Admin login attempts one address may make per 15 minutes.
pub const LOGIN_ATTEMPTS: u32 = 10;

/// The app's rate limiters.
pub struct Limits {
    launchpad: Keyed,
    onion: Direct,
    logins: Keyed,
    clock: AppClock,
}

fn quota(n: u32, period_secs: u64) -> Quota {
    let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
    let every = Duration::from_secs(period_secs.max(1)) / n.get();
    Quota::with_period(every.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(n))
        .allow_burst(n)
}

impl Limits {
    pub fn new(c: &Config, clock: Arc<dyn crate::clock::Clock>) -> Self {
        let clock = AppClock(clock);
        let (n, period) = c.launchpad_rate;
        Self {
            launchpad: RateLimiter::hashmap_with_clock(quota(n, period), clock.clone()),
            onion: RateLimiter::direct_with_clock(
                quota(n.saturating_mul(ONION_FACTOR), period),
                clock.clone(),
            ),
            logins: RateLimiter::hashmap_with_clock(quota(LOGIN_ATTEMPTS, 900), clock.clone()),
            clock,
        }
    }

    fn wait(&self, not_until: &governor::NotUntil<Nanos>) -> u64 {
        let now = governor::clock::Clock::now(&self.clock);
        let d: Duration = not_until.earliest_possible().duration_since(now).into();
        d.as_secs().max(1)
    }

    /// Takes one operation from `ip`'s allowance; `Err(seconds to wait)` when used up.
    pub fn launchpad(&self, ip: IpAddr) -> Result<(), u64> {
        let r = if ip.is_loopback() {
            self.onion.check()
        } else {
            self.launchpad.check_key(&ip)
        };
        r.map_err(|n| self.wait(&n))
    }

    /// Takes one login attempt from `ip`'s allowance (`LOGIN_ATTEMPTS` per
    /// 15 minutes, so a token cannot be guessed); `Err(seconds to wait)`.
    pub fn login_attempt(&self, ip: IpAddr) -> Result<(), u64> {
        self.logins.check_key(&ip).map_err(|n| self.wait(&n))
    }
}

/// The client's address: the peer, or the last `X-Forwarded-For` hop when the
/// peer is `TRUSTED_PROXY`.
pub fn client_ip(c: &Config, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = peer?;
    if c.trusted_proxy != Some(peer) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .next_back();
    Some(forwarded.unwrap_or(peer))
}

/// The client's address of a request.
pub fn client_ip_of(c: &Config, parts: &Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    client_ip(c, peer, &parts.headers)
}

/// The client's address as an extractor (`None` when the server runs without
/// connection info, as in some tests).
pub struct ClientIp(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<crate::web::state::WebState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &crate::web::state::WebState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip_of(&st.config, parts)))
    }
}
