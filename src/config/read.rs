//! Reading and validating every variable into a [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use super::*;
use crate::domain::money::{Micro, parse_decimal_micro};
use crate::domain::xmr_address::{Network, check_address};

/// `PRICE_SOURCES`: by default all three, so one wrong source is outvoted;
/// an unknown name or one given twice is refused.
fn price_sources(listed: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let known = crate::clients::market::Source::NAMES;
    if listed.is_empty() {
        return Ok(known.iter().map(|s| s.to_string()).collect());
    }
    let mut sources: Vec<String> = Vec::with_capacity(listed.len());
    for name in listed {
        let name = name.to_ascii_lowercase();
        if !known.contains(&name.as_str()) {
            return Err(err(
                "PRICE_SOURCES",
                format!(
                    "unknown source {name:?}; the sources are {}",
                    known.join(", ")
                ),
            ));
        }
        if sources.contains(&name) {
            return Err(err(
                "PRICE_SOURCES",
                format!("{name} is listed twice; each source counts once in the median"),
            ));
        }
        sources.push(name);
    }
    Ok(sources)
}

struct Reader<'a>(&'a VarMap);

impl Reader<'_> {
    fn raw(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
    }
    fn string(&self, k: &str, default: &str) -> String {
        self.raw(k).unwrap_or(default).to_string()
    }
    fn list(&self, k: &str) -> Vec<String> {
        self.raw(k)
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn bool(&self, k: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(k) {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(err(k, format!("expected 0 or 1, got {v:?}"))),
        }
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T, what: &str) -> Result<T, ConfigError> {
        match self.raw(k) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| err(k, format!("expected {what}, got {v:?}"))),
        }
    }
    fn micro(&self, k: &str, default: &str) -> Result<Micro, ConfigError> {
        let v = self.raw(k).unwrap_or(default);
        parse_decimal_micro(v).ok_or_else(|| {
            err(
                k,
                format!("expected a non-negative decimal like {default}, got {v:?}"),
            )
        })
    }
    fn hours_secs(&self, k: &str, default: &str) -> Result<u64, ConfigError> {
        let micro_hours = self.micro(k, default)?;
        Ok(micro_hours.saturating_mul(3600) / 1_000_000)
    }
}

impl Config {
    /// Builds and validates the configuration from a map of variables.
    pub fn from_vars(vars: &VarMap) -> Result<Config, ConfigError> {
        let r = Reader(vars);
        let sandbox = resolve_sandbox(&r)?;
        let server_name = r.string("SERVER_NAME", "localhost:8080");
        let public_url = r
            .raw("PUBLIC_URL")
            .map(|s| s.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{server_name}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(err(
                "PUBLIC_URL",
                format!("expected an http:// or https:// URL, got {public_url:?}"),
            ));
        }
        let listen_addr: SocketAddr = r.num(
            "LISTEN_ADDR",
            "127.0.0.1:8080".parse().expect("valid default"),
            "an address like 127.0.0.1:8080",
        )?;
        if sandbox && !listen_addr.ip().is_loopback() && r.raw("SANDBOX") != Some("1") {
            return Err(err(
                "LISTEN_ADDR",
                format!(
                    "sandbox mode only listens on loopback, got {listen_addr}; set SANDBOX=1 to serve a demo publicly"
                ),
            ));
        }
        let xmr_network = match r.raw("XMR_NETWORK").unwrap_or("mainnet") {
            "mainnet" => Network::Mainnet,
            "stagenet" => Network::Stagenet,
            "testnet" => Network::Testnet,
            v => {
                return Err(err(
                    "XMR_NETWORK",
                    format!("expected mainnet, stagenet or testnet, got {v:?}"),
                ));
            }
        };
        let payout_address = match (r.raw("PAYOUT_ADDRESS"), sandbox) {
            (Some(a), _) => {
                check_address(a, xmr_network).map_err(|m| err("PAYOUT_ADDRESS", m))?;
                a.to_string()
            }
            (None, true) => crate::sandbox::FAKE_PAYOUT_ADDRESS.to_string(),
            (None, false) => {
                return Err(err(
                    "PAYOUT_ADDRESS",
                    "required outside sandbox: the operator's XMR address",
                ));
            }
        };
        let do_domain = match (r.raw("DO_DOMAIN"), sandbox) {
            (Some(d), _) => d.trim_end_matches('.').to_lowercase(),
            (None, true) => "sandbox.invalid".to_string(),
            (None, false) => {
                return Err(err(
                    "DO_DOMAIN",
                    "required outside sandbox: a domain managed in DigitalOcean DNS",
                ));
            }
        };
        let wallet_rpc_endpoint = match r.raw("XMR_WALLET_RPC_ENDPOINT") {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!(
                "{}://{}:{}",
                r.string("XMR_WALLET_RPC_PROTO", "http"),
                r.string("XMR_WALLET_RPC_HOST", "127.0.0.1"),
                r.num::<u16>("XMR_WALLET_RPC_PORT", 18083, "a port number")?
            ),
        };
        let xmr_daemon_url = match r.raw("XMR_DAEMON_URI").map(str::trim) {
            None | Some("") => None,
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.trim_end_matches('/').to_string())
            }
            Some(u) if u.contains("://") => {
                return Err(err(
                    "XMR_DAEMON_URI",
                    "must be http://host:port or https://host:port (or host:port)",
                ));
            }
            Some(u) => Some(format!("http://{}", u.trim_end_matches('/'))),
        };
        if !wallet_rpc_endpoint.starts_with("http://") {
            let name = if r.raw("XMR_WALLET_RPC_ENDPOINT").is_some() {
                "XMR_WALLET_RPC_ENDPOINT"
            } else {
                "XMR_WALLET_RPC_PROTO"
            };
            return Err(err(
                name,
                "must be http: monero-wallet-rpc runs on loopback beside nodecannon (reach a remote one through an SSH tunnel)",
            ));
        }
        let admin_ips = r
            .list("ADMIN_IPS")
            .iter()
            .map(|s| {
                IpBlock::parse(s).ok_or_else(|| {
                    err(
                        "ADMIN_IPS",
                        format!("{s:?} is not an IP address or CIDR block"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let node_rpc_port: u16 = r.num("NODE_RPC_PORT", 18081, "a port number")?;
        if matches!(node_rpc_port, 0 | 22 | 80 | 443 | 18080) {
            return Err(err(
                "NODE_RPC_PORT",
                format!(
                    "{node_rpc_port} is taken on a node (SSH 22, HTTP 80 and HTTPS 443 for TLS, P2P 18080) or invalid; the usual restricted RPC port is 18089 or 18081"
                ),
            ));
        }
        let price_sources = price_sources(r.list("PRICE_SOURCES"))?;
        let payout_frequency_secs =
            r.hours_secs("PAYOUT_FREQUENCY", if sandbox { "0.05" } else { "3" })?;
        if payout_frequency_secs < 60 {
            return Err(err(
                "PAYOUT_FREQUENCY",
                "must be at least one minute (0.0167 hours)",
            ));
        }
        let s = |k: &str, real: &str, demo: &str| r.string(k, if sandbox { demo } else { real });
        let cfg = Config {
            site_name: r.string("SITE_NAME", "XMR Node Cannon"),
            server_name,
            public_url,
            listen_addr,
            data_dir: PathBuf::from(r.string("DATA_DIR", "./nodecannon-data")),
            stats_token: r.raw("STATS_TOKEN").map(Secret::new),
            admin_ips,
            launchpad_enabled: r.bool("LAUNCHPAD_ENABLED", true)?,
            mgmt_charge_hour: r.micro("MGMT_CHARGE_HOUR", "0.006")?,
            payout_address,
            payout_frequency_secs,
            min_funded_secs: r.hours_secs("MIN_FUNDED_HOURS", "336")?,
            low_funds_secs: r.hours_secs("LOW_FUNDS_HOURS", "48")?,
            grace_secs: r.hours_secs("GRACE_HOURS", "72")?,
            xmr_network,
            wallet_rpc_endpoint,
            xmr_daemon_url,
            wallet_rpc_user: r.string("XMR_WALLET_RPC_USER", ""),
            wallet_rpc_pass: Secret::new(r.string("XMR_WALLET_RPC_PASS", "")),
            do_token: r.raw("DO_TOKEN").map(Secret::new),
            do_api_url: r
                .string("DO_API_URL", "https://api.digitalocean.com")
                .trim_end_matches('/')
                .to_string(),
            do_ssh_keys: r.list("DO_SSH_KEY"),
            do_droplet_image: r.string("DO_DROPLET_IMAGE", "ubuntu-24-04-x64"),
            do_droplet_size: r.string("DO_DROPLET_SIZE", "s-2vcpu-4gb"),
            do_droplet_storage_gb: r.num("DO_DROPLET_STORAGE_GB", 150, "a whole number of GiB")?,
            do_volume_price_gb_month: r.micro("DO_VOLUME_PRICE_GB_MONTH", "0.10")?,
            do_domain,
            do_regions: r.list("DO_REGIONS"),
            price_api_url: r
                .string("PRICE_API_URL", "https://api.coingecko.com")
                .trim_end_matches('/')
                .to_string(),
            kraken_api_url: r
                .string("KRAKEN_API_URL", "https://api.kraken.com")
                .trim_end_matches('/')
                .to_string(),
            bitfinex_api_url: r
                .string("BITFINEX_API_URL", "https://api-pub.bitfinex.com")
                .trim_end_matches('/')
                .to_string(),
            price_sources,
            price_max_age_secs: r.num::<u64>("PRICE_MAX_AGE_MINUTES", 60, "whole minutes")? * 60,
            price_max_wait_secs: r.hours_secs("PRICE_MAX_WAIT_HOURS", "12")?,
            price_max_move_percent: r.num("PRICE_MAX_MOVE_PERCENT", 50, "a whole percentage")?,
            node_rpc_port,
            node_prune: r.bool("NODE_PRUNE", true)?,
            node_behind_blocks: r.num("NODE_BEHIND_BLOCKS", 10, "a whole number of blocks")?,
            max_active_nodes: match r.raw("MAX_ACTIVE_NODES") {
                None => None,
                Some(_) => Some(r.num("MAX_ACTIVE_NODES", 0, "a whole number of nodes")?),
            },
            max_awaiting_funds: r.num("MAX_AWAITING_FUNDS", 500, "a whole number of operations")?,
            unfunded_expire_secs: r.num::<u64>("UNFUNDED_EXPIRE_DAYS", 7, "whole days")? * 86_400,
            launchpad_rate: parse_rate(r.raw("LAUNCHPAD_RATE").unwrap_or("5/hour")).ok_or_else(
                || {
                    err(
                        "LAUNCHPAD_RATE",
                        "expected N/second, N/minute, N/hour or N/day, e.g. 5/hour",
                    )
                },
            )?,
            trusted_proxy: match r.raw("TRUSTED_PROXY") {
                None => None,
                Some(v) => Some(v.parse().map_err(|_| {
                    err(
                        "TRUSTED_PROXY",
                        format!("expected an IP address, got {v:?}"),
                    )
                })?),
            },
            orphan_min_age_secs: r.num::<u64>("ORPHAN_MIN_AGE_MINUTES", 30, "whole minutes")? * 60,
            pending_wait_secs: r.hours_secs("PENDING_WAIT_HOURS", "2")?,
            node_rebuild_secs: r.hours_secs("NODE_REBUILD_HOURS", "6")?,
            mm_endpoint: r.string("MM_ENDPOINT", ""),
            mm_channel: r.string("MM_CHANNEL", ""),
            mm_username: r.string("MM_USERNAME", ""),
            mm_icon: r.string("MM_ICON", ""),
            webhook_url: r.string("WEBHOOK_URL", ""),
            schedules: Schedules(
                JOB_SCHEDULES
                    .iter()
                    .map(|(job, var, real, sandboxed)| (*job, s(var, real, sandboxed)))
                    .collect(),
            ),
            payouts_paused: r.bool("PAYOUTS_PAUSED", false)?,
            backup_keep: r.num("BACKUP_KEEP", 48, "a whole number of backups")?,
            sandbox,
        };
        for (var, cron) in cfg.schedule_list() {
            check_cron(cron).map_err(|m| err(var, m))?;
        }
        Ok(cfg)
    }

    /// The schedules with the variables that set them.
    pub fn schedule_list(&self) -> Vec<(&'static str, &str)> {
        JOB_SCHEDULES
            .iter()
            .map(|(job, var, _, _)| (*var, self.schedules.of(job)))
            .collect()
    }

    /// A summary for `config check`, secrets masked.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let mask = |s: &Option<Secret>| {
            if s.is_some() {
                "*** (set)".to_string()
            } else {
                "(not set)".to_string()
            }
        };
        vec![
            (
                "mode",
                if self.sandbox {
                    "sandbox".into()
                } else {
                    "real".into()
                },
            ),
            ("SITE_NAME", self.site_name.clone()),
            ("PUBLIC_URL", self.public_url.clone()),
            ("LISTEN_ADDR", self.listen_addr.to_string()),
            ("DATA_DIR", self.data_dir.display().to_string()),
            (
                "STATS_TOKEN",
                if self.stats_token.is_some() {
                    "*** (set)".into()
                } else {
                    "generated into DATA_DIR/admin-token".into()
                },
            ),
            ("XMR_NETWORK", self.xmr_network.as_str().into()),
            ("PAYOUT_ADDRESS", self.payout_address.clone()),
            (
                "PAYOUT_FREQUENCY",
                format!("{} s", self.payout_frequency_secs),
            ),
            ("XMR_WALLET_RPC_ENDPOINT", self.wallet_rpc_endpoint.clone()),
            (
                "XMR_WALLET_RPC_PASS",
                if self.wallet_rpc_pass.expose().is_empty() {
                    "(not set)".into()
                } else {
                    "***".into()
                },
            ),
            ("DO_TOKEN", mask(&self.do_token)),
            ("DO_DOMAIN", self.do_domain.clone()),
            ("DO_DROPLET_SIZE", self.do_droplet_size.clone()),
            ("PAYOUTS_PAUSED", self.payouts_paused.to_string()),
        ]
    }
}

fn resolve_sandbox(r: &Reader) -> Result<bool, ConfigError> {
    const WALLET: [&str; 6] = [
        "XMR_WALLET_RPC_ENDPOINT",
        "XMR_WALLET_RPC_PROTO",
        "XMR_WALLET_RPC_HOST",
        "XMR_WALLET_RPC_PORT",
        "XMR_WALLET_RPC_USER",
        "XMR_WALLET_RPC_PASS",
    ];
    let wallet = WALLET.iter().any(|k| r.raw(k).is_some());
    let cloud = r.raw("DO_TOKEN").is_some();
    match r.raw("SANDBOX").unwrap_or("auto") {
        "1" => Ok(true),
        "0" | "auto" => {
            let forbid = r.raw("SANDBOX") == Some("0");
            match (wallet, cloud) {
                (false, false) if !forbid => Ok(true),
                (false, false) => Err(err(
                    "SANDBOX",
                    "is 0 but neither DO_TOKEN nor XMR_WALLET_RPC_ENDPOINT is set",
                )),
                (true, false) => Err(err(
                    "DO_TOKEN",
                    "missing: XMR_WALLET_RPC_* is set, so this is a real install and needs DigitalOcean too (real and simulated parts never mix)",
                )),
                (false, true) => Err(err(
                    "XMR_WALLET_RPC_ENDPOINT",
                    "missing: DO_TOKEN is set, so this is a real install and needs monero-wallet-rpc too (real and simulated parts never mix)",
                )),
                (true, true) => Ok(false),
            }
        }
        v => Err(err("SANDBOX", format!("expected auto, 1 or 0, got {v:?}"))),
    }
}

fn parse_rate(s: &str) -> Option<(u32, u64)> {
    let (n, per) = s.split_once('/')?;
    let n: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
    let secs = match per.trim() {
        "second" | "s" => 1,
        "minute" | "min" | "m" => 60,
        "hour" | "h" => 3600,
        "day" | "d" => 86_400,
        _ => return None,
    };
    Some((n, secs))
}

/// Checks a six-field cron string (with seconds); the error says what is expected.
pub fn check_cron(cron: &str) -> Result<(), String> {
    tokio_cron_scheduler::Job::new_async(cron, |_, _| Box::pin(async {}))
        .map(|_| ())
        .map_err(|_| {
            format!("{cron:?} is not a cron schedule with seconds, e.g. \"0 */10 * * * *\"")
        })
}
