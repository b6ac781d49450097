//! Which real clients a configured install runs with, built from its
//! settings (clients themselves never read the configuration).

use std::sync::Arc;

use super::{Clients, StartError};
use crate::clients::Notifier;
use crate::clients::digitalocean::DigitalOcean;
use crate::clients::market::{MarketPrice, Source};
use crate::clients::monero::WalletRpc;
use crate::clients::node::HttpNodeProbe;
use crate::clients::notify::LogNotifier;
use crate::clients::webhook::{Target, WebhookNotifier};
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;

/// The targets the configuration turns on: Mattermost when `MM_ENDPOINT` is
/// set, the generic webhook when `WEBHOOK_URL` is set.
pub fn webhook_targets(config: &Config) -> Vec<Target> {
    let mut targets = Vec::new();
    let mm = config.mm_endpoint.trim();
    if !mm.is_empty() {
        targets.push(Target::Mattermost {
            url: mm.to_string(),
            channel: config.mm_channel.trim().to_string(),
            username: config.mm_username.trim().to_string(),
            icon_url: config.mm_icon.trim().to_string(),
        });
    }
    let hook = config.webhook_url.trim();
    if !hook.is_empty() {
        targets.push(Target::Generic {
            url: hook.to_string(),
        });
    }
    targets
}

/// The price sources `PRICE_SOURCES` names (validated by the configuration),
/// each at its configured base URL.
pub fn price_sources(config: &Config) -> Vec<Source> {
    config
        .price_sources
        .iter()
        .filter_map(|name| match name.as_str() {
            "coingecko" => Some(Source::CoinGecko(config.price_api_url.clone())),
            "kraken" => Some(Source::Kraken(config.kraken_api_url.clone())),
            "bitfinex" => Some(Source::Bitfinex(config.bitfinex_api_url.clone())),
            _ => None,
        })
        .collect()
}

/// The operator's notifier: webhooks when configured, else the log.
pub(super) fn notifier(config: &Config, metrics: &Arc<Metrics>) -> Arc<dyn Notifier> {
    let targets = webhook_targets(config);
    if targets.is_empty() {
        return Arc::new(LogNotifier);
    }
    Arc::new(WebhookNotifier::start(
        http_client(),
        targets,
        metrics.clone(),
    ))
}

/// The HTTP client every real client shares (rustls, one pool); the CLI's
/// DigitalOcean helpers use it too.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("nodecannon/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10))
        // No client follows a redirect: an answer from elsewhere is not the
        // service's, and a replayed POST would carry its body there.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// The real clients of a configured install.
pub(super) fn real_clients(
    config: &Config,
    clock: &Arc<dyn Clock>,
    metrics: &Arc<Metrics>,
) -> Result<Clients, StartError> {
    let http = http_client();
    let token = config
        .do_token
        .as_ref()
        .ok_or_else(|| StartError::Config("DO_TOKEN: required outside sandbox".into()))?;
    let mut wallet = WalletRpc::new(
        &config.wallet_rpc_endpoint,
        &config.wallet_rpc_user,
        config.wallet_rpc_pass.expose(),
        metrics.clone(),
    );
    if let Some(daemon) = &config.xmr_daemon_url {
        wallet = wallet.with_daemon(http.clone(), daemon);
    }
    Ok(Clients {
        wallet: Arc::new(wallet),
        cloud: Arc::new(DigitalOcean::new(
            http.clone(),
            &config.do_api_url,
            token.expose(),
            metrics.clone(),
        )),
        price: Arc::new(MarketPrice::new(
            http.clone(),
            price_sources(config),
            i64::try_from(config.price_max_age_secs).unwrap_or(i64::MAX),
            clock.clone(),
            metrics.clone(),
        )),
        node: Arc::new(HttpNodeProbe::new(http, metrics.clone())),
        notifier: notifier(config, metrics),
        sandbox: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VarMap;

    fn config(kv: &[(&str, &str)]) -> Config {
        let vars: VarMap = kv
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(&vars).unwrap()
    }

    #[test]
    fn webhook_targets_follow_the_config() {
        assert!(webhook_targets(&config(&[])).is_empty());
        let c = config(&[
            ("MM_ENDPOINT", "https://chat.example.com/hooks/abc"),
            ("MM_CHANNEL", "ops"),
            ("WEBHOOK_URL", "https://hooks.example.com/x"),
        ]);
        assert_eq!(
            webhook_targets(&c),
            vec![
                Target::Mattermost {
                    url: "https://chat.example.com/hooks/abc".into(),
                    channel: "ops".into(),
                    username: String::new(),
                    icon_url: String::new(),
                },
                Target::Generic {
                    url: "https://hooks.example.com/x".into()
                },
            ]
        );
        assert_eq!(
            webhook_targets(&config(&[("WEBHOOK_URL", "https://hooks.example.com/x")])),
            vec![Target::Generic {
                url: "https://hooks.example.com/x".into()
            }]
        );
    }

    #[test]
    fn price_sources_are_the_listed_ones_in_order() {
        let c = config(&[("PRICE_SOURCES", "bitfinex,coingecko")]);
        let names: Vec<&str> = price_sources(&c).iter().map(|s| s.name()).collect();
        assert_eq!(names, ["bitfinex", "coingecko"]);
    }
}
