//! The node bootstrap (cloud-init user-data) as cloud-init and the node see it:
//! valid cloud-config for every region and prune setting, the volume mounted by
//! its stable id, only the intended ports public, no operator secret inside,
//! a bootstrap unit retried until it has worked and a monerod unit that heals
//! on its own.
//! (`bootstrap_system` runs the units and the script against a real system.)
//!
//! Needs Debian's `cloud-init` (its `cloud-init schema` validator and the
//! system python3 with PyYAML it depends on) and `monerod` from `monero`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use nodecannon::bootstrap::{self, MAX_USER_DATA, MONEROD_IMAGE};
use nodecannon::config::{Config, VarMap};
use nodecannon::domain::operation::{NewOperation, Operation};

/// DigitalOcean's region slugs (the sandbox offers a subset of these).
const REGIONS: [&str; 12] = [
    "nyc1", "nyc3", "sfo2", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1", "atl1",
];

const PAYOUT: &str = "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC";

/// Operator secrets set in the config; none may reach a droplet.
const SECRETS: [(&str, &str); 6] = [
    ("DO_TOKEN", "dop_v1_SECRETDOTOKENdeadbeef"),
    ("XMR_WALLET_RPC_PASS", "SECRET-wallet-pass-c0ffee"),
    ("XMR_WALLET_RPC_USER", "SECRET-wallet-user-f00d"),
    ("STATS_TOKEN", "SECRET-stats-token-abad1dea"),
    (
        "MM_ENDPOINT",
        "https://mm.example/hooks/SECRET-mattermost-hook",
    ),
    ("WEBHOOK_URL", "https://hooks.example/SECRET-webhook-path"),
];

pub(crate) const SCRIPT: &str = "/usr/local/sbin/nodecannon-bootstrap";
pub(crate) const BOOT_UNIT_NAME: &str = "nodecannon-bootstrap.service";
pub(crate) const BOOT_UNIT: &str = "/etc/systemd/system/nodecannon-bootstrap.service";
pub(crate) const MONEROD_UNIT: &str = "/etc/systemd/system/monerod.service";

const TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928";
const DOMAIN: &str = "nodes.example.org";
const RPC_PORT: u16 = 18089;

pub(crate) fn config(prune: bool) -> Config {
    let mut vars = VarMap::new();
    for (k, v) in SECRETS {
        vars.insert(k.into(), v.into());
    }
    for (k, v) in [
        ("XMR_WALLET_RPC_ENDPOINT", "http://127.0.0.1:18083"),
        ("PAYOUT_ADDRESS", PAYOUT),
        ("DO_DOMAIN", DOMAIN),
        ("PUBLIC_URL", "https://cannon.example.org/"),
        ("NODE_RPC_PORT", "18089"),
        ("NODE_PRUNE", if prune { "1" } else { "0" }),
    ] {
        vars.insert(k.into(), v.into());
    }
    let c = Config::from_vars(&vars).unwrap();
    assert!(!c.sandbox, "the secrets belong to a real install");
    c
}

pub(crate) fn operation(n: usize, region: &str) -> Operation {
    Operation::new(
        NewOperation {
            id: format!("{n:02x}{}", "0123456789abcdef0123456789abcd"),
            codename: format!("{region}-orbiter-{n}"),
            region: region.into(),
            refund_address: None,
            account_index: 1,
            address: PAYOUT.into(),
            node_token: TOKEN.into(),
        },
        1_767_225_600,
    )
}

/// Runs a tool the test cannot do without, failing with how to install it.
pub(crate) fn run(program: &str, args: &[&str], install: &str) -> (bool, String) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): install it with `DEBIAN_FRONTEND=noninteractive apt-get install -y {install}`")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn schema_check(file: &Path) {
    let (ok, out) = run(
        "cloud-init",
        &["schema", "--config-file", file.to_str().unwrap()],
        "cloud-init",
    );
    let lower = out.to_lowercase();
    assert!(
        ok && lower.contains("valid") && !lower.contains("invalid"),
        "cloud-init schema rejected {}:\n{out}",
        file.display()
    );
}

/// One `write_files` entry, as YAML (not a text search) reads it.
#[derive(serde::Deserialize)]
pub(crate) struct WrittenFile {
    path: String,
    pub(crate) content: String,
    permissions: Option<String>,
    #[serde(default)]
    defer: bool,
    #[serde(default)]
    append: bool,
}

#[derive(serde::Deserialize)]
struct UserData {
    write_files: Vec<WrittenFile>,
    runcmd: Vec<serde_json::Value>,
    packages: Vec<String>,
}

/// Parses the user-data with PyYAML, the parser cloud-init itself uses.
pub(crate) fn parse(file: &Path) -> BTreeMap<String, WrittenFile> {
    const DUMP: &str = "import json, sys, yaml\n\
        print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let (ok, out) = run(
        "/usr/bin/python3",
        &["-c", DUMP, file.to_str().unwrap()],
        "cloud-init",
    );
    assert!(ok, "PyYAML could not read {}: {out}", file.display());
    let ud: UserData = serde_json::from_str(&out).unwrap();
    // runcmd only hands over to systemd, never waiting for the bootstrap.
    assert_eq!(
        ud.runcmd,
        vec![
            serde_json::json!(["systemctl", "daemon-reload"]),
            serde_json::json!(["systemctl", "enable", "monerod.service", BOOT_UNIT_NAME]),
            serde_json::json!(["systemctl", "start", "--no-block", BOOT_UNIT_NAME]),
        ]
    );
    for p in [
        "docker.io",
        "ufw",
        "tor",
        "caddy",
        "unattended-upgrades",
        "curl",
    ] {
        assert!(ud.packages.iter().any(|q| q == p), "package {p} missing");
    }
    ud.write_files
        .into_iter()
        .map(|f| (f.path.clone(), f))
        .collect()
}

/// Asserts that `text` has each of `lines` as a whole line.
fn has_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.lines().any(|l| l == *line), "no {line:?} in:\n{text}");
    }
}

/// The arguments of the `docker run` line in the monerod unit, continuations joined.
pub(crate) fn monerod_command(unit: &str) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("monerod.service has an ExecStart");
    line.split_whitespace().map(String::from).collect()
}

/// `--name=value` (and bare `--flag`) arguments after the image.
pub(crate) fn monerod_flags(cmd: &[String]) -> BTreeMap<String, String> {
    let image = cmd.iter().position(|a| a == MONEROD_IMAGE).unwrap();
    cmd[image + 1..]
        .iter()
        .map(|a| {
            let a = a.strip_prefix("--").expect("monerod flags are --long");
            match a.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (a.to_string(), String::new()),
            }
        })
        .collect()
}

fn ufw_allowed(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ufw allow "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .collect()
}

fn check(c: &Config, op: &Operation, prune: bool, dir: &Path) {
    let u = bootstrap::render(c, op);
    let ctx = format!("{} prune={prune}", op.region);
    assert!(u.starts_with("#cloud-config\n"), "{ctx}");
    assert!(
        u.len() < MAX_USER_DATA,
        "{ctx}: user-data is {} bytes",
        u.len()
    );
    assert!(!u.contains("{{"), "{ctx}: placeholder left");

    let file = dir.join(format!("user-data-{}-{prune}.yaml", op.region));
    std::fs::write(&file, &u).unwrap();
    schema_check(&file);
    let files = parse(&file);
    let script = &files[SCRIPT].content;

    // Only this operation's report token; no operator secret.
    for (name, secret) in SECRETS {
        assert!(!u.contains(secret), "{ctx}: {name} leaked into user-data");
    }
    assert_eq!(u.matches(TOKEN).count(), 1, "{ctx}: token outside its file");
    let auth = &files["/etc/nodecannon/report-auth"];
    assert_eq!(auth.content, format!("Authorization: Bearer {TOKEN}\n"));
    assert_eq!(auth.permissions.as_deref(), Some("0600"));
    assert!(script.contains(&format!(
        "REPORT_URL='https://cannon.example.org/api/nodes/{}/report'",
        op.id
    )));
    for step in [
        "step=packages",
        "step=volume",
        "step=docker",
        "step=monerod",
        "step=tls",
        "\"onion=$onion\"",
    ] {
        assert!(
            script.contains(&format!("report {step}\n")),
            "{ctx}: no {step} report"
        );
    }

    // The volume by its stable id only; formatted only when blank; nofail.
    let device = format!("/dev/disk/by-id/scsi-0DO_Volume_op-{}", op.id);
    assert!(
        script.contains(&format!("DEVICE=${{NODECANNON_DEVICE:-{device}}}\n")),
        "{ctx}: volume not by id"
    );
    assert!(!u.contains("/dev/sd") && !u.contains("/dev/vd"), "{ctx}");
    assert!(script.contains("$DEVICE $MOUNT ext4 defaults,nofail,"));
    let mkfs = script.find("mkfs.ext4").unwrap();
    let guard = script.find("if [ \"$probe\" -eq 2 ]; then").unwrap();
    assert!(
        script.find("blkid -p \"$DEVICE\"").unwrap() < guard && guard < mkfs,
        "{ctx}: mkfs not guarded by the blank-volume probe"
    );
    assert_eq!(
        script.matches("mkfs.").count(),
        1,
        "{ctx}: one guarded mkfs"
    );

    // ...ext4 with no blocks reserved, mounted nowhere but /mnt/monero (a
    // volume DigitalOcean formatted and mounted elsewhere is taken over),
    // the chain owned by monerod's own uid. A failed step reports itself and
    // ends the attempt; the stamp is written only after the last step.
    for part in [
        "tune2fs -m 0 \"$DEVICE\"",
        "for target in $(findmnt -rn -S \"$dev\" -o TARGET); do",
        "umount \"$target\"",
        "print \"#nodecannon-off# \" line",
        "MONEROD_ID=3189\n",
        "chown -R \"$MONEROD_ID:$MONEROD_ID\" \"$MOUNT/bitmonero\"",
        "-u \"$MONEROD_ID\" -g \"$MONEROD_ID\" monerod",
        "report \"step=$1-failed\"\n  exit 1\n",
        "step_packages || fail packages\n",
        "{ ensure_user && step_volume; } || fail volume\n",
        "step_docker || fail docker\n",
        "step_monerod || fail monerod\n",
        "step_onion || fail onion\n",
        "report step=tls\n  mkdir -p \"$STATE\" && : >\"$STATE/bootstrap.done\"\n",
        "STATE=/var/lib/nodecannon\n",
    ] {
        assert!(script.contains(part), "{ctx}: the script lacks {part}");
    }
    assert!(!script.contains("1000:1000"), "{ctx}: uid 1000 is anybody");

    // The bootstrap: a unit retried until every step has worked.
    let run_script = format!("ExecStart={SCRIPT}");
    has_lines(
        &files[BOOT_UNIT].content,
        &[
            "Type=oneshot",
            "RemainAfterExit=yes",
            "Restart=on-failure",
            "StartLimitIntervalSec=0",
            "ConditionPathExists=!/var/lib/nodecannon/bootstrap.done",
            &run_script,
            "WantedBy=multi-user.target",
        ],
    );

    // monerod: enabled from the start, pulls its image itself, never gives
    // up, runs only on the volume and as monerod's uid.
    let unit = &files[MONEROD_UNIT].content;
    has_lines(
        unit,
        &[
            "After=docker.service network-online.target mnt-monero.mount",
            "StartLimitIntervalSec=0",
            "Restart=always",
            &format!("ExecStartPre=/usr/bin/findmnt --mountpoint /mnt/monero --source {device}"),
            &format!(
                "ExecStartPre=/bin/sh -c '/usr/bin/docker image inspect {MONEROD_IMAGE} \
                 >/dev/null 2>&1 || exec /usr/bin/docker pull -q {MONEROD_IMAGE}'"
            ),
        ],
    );
    let cmd = monerod_command(unit);
    let user = cmd
        .windows(2)
        .any(|w| w[0] == "--user" && w[1] == "3189:3189");
    assert!(user, "{ctx}: monerod runs as the image's uid");

    // monerod: public P2P and restricted RPC; everything else on loopback.
    assert!(
        cmd.windows(2)
            .any(|w| w[0] == "--network" && w[1] == "host"),
        "{ctx}: host networking, so ufw governs every port"
    );
    assert!(
        !cmd.iter().any(|a| a == "-p" || a.starts_with("--publish")),
        "{ctx}: Docker-published ports would bypass ufw"
    );
    assert!(
        cmd.iter()
            .any(|a| a == "/mnt/monero/bitmonero:/home/monero/.bitmonero")
    );
    let flags = monerod_flags(&cmd);
    let flag = |k: &str| flags.get(k).map(String::as_str);
    assert_eq!(flag("rpc-bind-ip"), Some("127.0.0.1"), "{ctx}");
    assert_eq!(flag("rpc-bind-ipv6-address"), Some("::1"), "{ctx}");
    assert_eq!(flag("zmq-rpc-bind-ip"), Some("127.0.0.1"), "{ctx}");
    assert!(!flags.contains_key("confirm-external-bind"), "{ctx}");
    assert!(!flags.contains_key("zmq-pub"), "{ctx}");
    assert_eq!(flag("rpc-restricted-bind-ip"), Some("0.0.0.0"), "{ctx}");
    assert_eq!(
        flag("rpc-restricted-bind-port"),
        Some(RPC_PORT.to_string().as_str())
    );
    assert_eq!(flag("p2p-bind-port"), Some("18080"));
    let local: Vec<&str> = ["rpc-bind-port", "zmq-rpc-bind-port"]
        .iter()
        .map(|k| flag(k).unwrap())
        .collect();
    assert!(
        !local.contains(&"18080") && !local.contains(&RPC_PORT.to_string().as_str()),
        "{ctx}: loopback ports clash: {local:?}"
    );
    assert_eq!(flags.contains_key("prune-blockchain"), prune, "{ctx}");

    // The firewall: exactly the intended ports.
    assert_eq!(
        ufw_allowed(script),
        [
            "22/tcp",
            "18080/tcp",
            format!("{RPC_PORT}/tcp").as_str(),
            "80/tcp",
            "443/tcp"
        ],
        "{ctx}"
    );
    assert!(script.contains("ufw default deny incoming\n"));
    assert!(script.contains("ufw --force enable"));

    // TLS for the node's DNS name, proxying to the restricted RPC, CORS open.
    let host = format!("{}.node.{DOMAIN}", op.codename);
    let caddy = &files["/etc/caddy/Caddyfile"];
    assert!(caddy.defer, "{ctx}: the package's Caddyfile would win");
    let site = caddy
        .content
        .lines()
        .find(|l| l.ends_with(" {") && !l.trim_start().starts_with('#'))
        .unwrap();
    assert_eq!(site, format!("{host} {{"), "{ctx}");
    assert!(caddy.content.contains("Access-Control-Allow-Origin \"*\""));
    assert!(
        caddy
            .content
            .contains(&format!("reverse_proxy 127.0.0.1:{RPC_PORT}\n"))
    );
    assert!(script.contains(&format!("TLS_HOST={host}\n")));

    // The onion service points at the restricted RPC.
    let torrc = &files["/etc/tor/torrc"];
    assert!(
        torrc.defer && torrc.append,
        "{ctx}: torrc must extend the package's"
    );
    assert!(
        torrc
            .content
            .contains("HiddenServiceDir /var/lib/tor/monerod/\n")
    );
    assert!(torrc.content.contains(&format!(
        "HiddenServicePort {RPC_PORT} 127.0.0.1:{RPC_PORT}\n"
    )));

    // Logs capped, upgrades unattended.
    assert!(
        files["/etc/docker/daemon.json"]
            .content
            .contains("\"max-size\"")
    );
    let journald = &files["/etc/systemd/journald.conf.d/50-nodecannon.conf"].content;
    assert!(journald.contains("SystemMaxUse="));
    let periodic = &files["/etc/apt/apt.conf.d/20auto-upgrades"].content;
    assert!(periodic.contains("APT::Periodic::Unattended-Upgrade \"1\";"));

    // The script is valid sh.
    let sh = dir.join(format!("bootstrap-{}-{prune}.sh", op.region));
    std::fs::write(&sh, script).unwrap();
    let (ok, out) = run("sh", &["-n", sh.to_str().unwrap()], "dash");
    assert!(ok, "{ctx}: bootstrap script is not valid sh: {out}");
}

#[test]
fn user_data_validates_and_keeps_its_promises_in_every_region() {
    let dir = tempfile::tempdir().unwrap();
    let mut rendered = 0;
    for prune in [true, false] {
        let c = config(prune);
        for (n, region) in REGIONS.iter().enumerate() {
            check(&c, &operation(n, region), prune, dir.path());
            rendered += 1;
        }
    }
    assert_eq!(rendered, 2 * REGIONS.len());
}
