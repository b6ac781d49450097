//! The node bootstrap (cloud-init user-data), embedded and rendered per operation.
//!
//! The template (`cloud-init/node.yaml`) has `{{NAME}}` placeholders filled by
//! plain string replacement. Every value put in is first reduced to a small
//! character set that cannot end a YAML block scalar, close a shell quote or
//! start a new line, so a value can only ever be a wrong value, never extra
//! configuration: ids and tokens to `[0-9a-zA-Z]`, the codename and DNS name to
//! `[a-z0-9.-]`, the report URL to URL characters without quotes, `$`, `\`,
//! backquotes or white space. Valid values (an operation id is 32 lowercase hex,
//! a codename `[a-z0-9-]`, a node token hex) pass unchanged.

use crate::config::Config;
use crate::domain::operation::Operation;

const TEMPLATE: &str = include_str!("../cloud-init/node.yaml");

/// The monerod image nodes run: a release tag for people and the digest of
/// that tag's multi-architecture index, so a re-pushed tag cannot change what
/// runs. Bump both together.
pub const MONEROD_IMAGE: &str = "ghcr.io/sethforprivacy/simple-monerod:v0.18.4.4@sha256:83a4a02065429d99ef30570534dda6358faa03df01d5ebb8cd8f900de79a5c77";

/// Largest user-data DigitalOcean accepts.
pub const MAX_USER_DATA: usize = 64 * 1024;

/// User-data for `op`'s droplet.
pub fn render(c: &Config, op: &Operation) -> String {
    let rpc_port = c.node_rpc_port;
    let (local_rpc_port, zmq_port) = loopback_ports(rpc_port);
    let id = keep(&op.id, |ch| ch.is_ascii_alphanumeric());
    let dns = keep(&op.dns_name(&c.do_domain), dns_char);
    TEMPLATE
        .replace("{{OP_ID}}", &id)
        .replace("{{CODENAME}}", &keep(&op.codename, dns_char))
        .replace(
            "{{REPORT_TOKEN}}",
            &keep(&op.node_token, |ch| ch.is_ascii_alphanumeric()),
        )
        .replace(
            "{{REPORT_URL}}",
            &keep(&format!("{}/api/nodes/{id}/report", c.public_url), url_char),
        )
        .replace("{{TLS_HOST}}", &dns)
        .replace("{{MONEROD_IMAGE}}", MONEROD_IMAGE)
        .replace("{{RPC_PORT}}", &rpc_port.to_string())
        .replace("{{RPC_LOCAL_PORT}}", &local_rpc_port.to_string())
        .replace("{{ZMQ_PORT}}", &zmq_port.to_string())
        .replace(
            "{{PRUNE_FLAGS}}",
            if c.node_prune {
                " --prune-blockchain --sync-pruned-blocks"
            } else {
                ""
            },
        )
}

/// Loopback ports for the unrestricted RPC and ZMQ: monerod's usual ones,
/// moved aside when the public restricted RPC already takes one of them.
fn loopback_ports(rpc_port: u16) -> (u16, u16) {
    let rpc = if rpc_port == 18081 { 18089 } else { 18081 };
    let zmq = if rpc_port == 18082 { 18083 } else { 18082 };
    (rpc, zmq)
}

fn keep(s: &str, allowed: fn(char) -> bool) -> String {
    s.chars().filter(|&ch| allowed(ch)).collect()
}

fn dns_char(ch: char) -> bool {
    ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '.'
}

fn url_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || ":/.-_~%[]@+".contains(ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Config {
        let vars = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(&vars).unwrap()
    }

    #[test]
    fn renders_every_placeholder_and_stays_small() {
        let c = config(&[]);
        let op = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "alpha");
        let u = render(&c, &op);
        assert!(u.starts_with("#cloud-config\n"));
        assert!(!u.contains("{{"), "{u}");
        assert!(u.contains("scsi-0DO_Volume_op-0123456789abcdef0123456789abcdef"));
        assert!(u.contains(MONEROD_IMAGE));
        assert!(u.len() < MAX_USER_DATA);
    }

    #[test]
    fn the_image_is_pinned_by_tag_and_digest() {
        let (name, digest) = MONEROD_IMAGE.split_once("@sha256:").unwrap();
        assert!(
            name.rsplit_once(':')
                .is_some_and(|(_, tag)| tag.starts_with('v'))
        );
        assert_eq!(digest.len(), 64);
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn prune_flag_follows_node_prune() {
        let op = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "alpha");
        assert!(render(&config(&[("NODE_PRUNE", "1")]), &op).contains("--prune-blockchain"));
        assert!(!render(&config(&[("NODE_PRUNE", "0")]), &op).contains("--prune-blockchain"));
    }

    #[test]
    fn hostile_values_cannot_escape_their_place() {
        let c = config(&[("PUBLIC_URL", "https://x.example/'$(reboot)\n- evil")]);
        let mut op = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "alpha");
        op.codename = "a\nb: '\"c".into();
        op.node_token = "t0k\n runcmd: [reboot]".into();
        let u = render(&c, &op);
        assert!(u.contains("REPORT_URL='https://x.example/reboot-evil/api/nodes/"));
        assert!(u.contains("Bearer t0kruncmdreboot\n"));
        assert!(u.contains("TLS_HOST=abc.node.sandbox.invalid\n"));
        assert!(!u.contains("'$(") && !u.contains("\n- evil") && !u.contains("\nb: "));
    }

    #[test]
    fn loopback_ports_never_take_the_public_rpc_port() {
        for p in [18080, 18081, 18082, 18089, 443] {
            let (rpc, zmq) = loopback_ports(p);
            assert!(rpc != p && zmq != p && rpc != zmq && rpc != 18080 && zmq != 18080);
        }
    }
}
