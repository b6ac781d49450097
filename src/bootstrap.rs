//! The node bootstrap (cloud-init user-data), embedded and rendered per operation.

use crate::config::Config;
use crate::domain::operation::Operation;

const TEMPLATE: &str = include_str!("../cloud-init/node.yaml");

/// User-data for `op`'s droplet.
pub fn render(c: &Config, op: &Operation) -> String {
    TEMPLATE
        .replace("{{OP_ID}}", &op.id)
        .replace("{{CODENAME}}", &op.codename)
        .replace("{{REPORT_TOKEN}}", &op.node_token)
        .replace(
            "{{REPORT_URL}}",
            &format!("{}/api/nodes/{}/report", c.public_url, op.id),
        )
        .replace("{{RPC_PORT}}", &c.node_rpc_port.to_string())
        .replace(
            "{{PRUNE}}",
            if c.node_prune {
                "--prune-blockchain"
            } else {
                ""
            },
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_every_placeholder_and_stays_small() {
        let c = crate::config::Config::from_vars(&Default::default()).unwrap();
        let op = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "alpha");
        let u = super::render(&c, &op);
        assert!(!u.contains("{{"), "{u}");
        assert!(u.contains("scsi-0DO_Volume_op-0123456789abcdef0123456789abcdef"));
        assert!(u.len() < 64 * 1024);
    }
}
