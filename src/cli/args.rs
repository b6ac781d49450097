//! The commands and options of SPEC.md, as clap reads them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Pay in Monero for a public Monero node, for as long as the money lasts.
#[derive(Parser, Debug)]
#[command(name = "nodecannon", version, about)]
pub struct Cli {
    /// Env file to read (default: /etc/nodecannon/nodecannon.env, else ./.env).
    #[arg(long, global = true, env = "NODECANNON_ENV_FILE")]
    pub env_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Web server and scheduler (the default).
    Serve,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// Operations.
    Ops {
        #[command(subcommand)]
        what: OpsCmd,
    },
    /// One pass of a job now.
    Run {
        /// launch-funded, process-payouts, reconcile, health or backup.
        job: String,
        /// Report what the pass would do, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create DATA_DIR, the database and the admin token file.
    Init,
    /// Consistent copy of the database into FILE.
    Backup { file: PathBuf },
    /// Restore a backup into an empty DATA_DIR.
    Restore { file: PathBuf },
    /// Exit 0 when GET /status of the local server answers 200.
    Healthcheck,
    /// Ledger check of every operation against the wallet; exit 1 on any difference.
    Audit,
    /// The wallet's accounts.
    Wallet {
        #[command(subcommand)]
        what: WalletCmd,
    },
    /// SSH keys of the DigitalOcean account (needs DO_TOKEN).
    Keys {
        #[command(subcommand)]
        what: KeysCmd,
    },
    /// Volumes of the DigitalOcean account (needs DO_TOKEN).
    Volumes {
        #[command(subcommand)]
        what: VolumesCmd,
    },
    /// Development helpers (sandbox only).
    Dev {
        #[command(subcommand)]
        what: DevCmd,
    },
    /// The original's `list_ops`.
    #[command(name = "list_ops", hide = true)]
    ListOps,
    /// The original's `launch_funded_operations`.
    #[command(name = "launch_funded_operations", hide = true)]
    LaunchFundedOperations,
    /// The original's `process_payouts`.
    #[command(name = "process_payouts", hide = true)]
    ProcessPayouts,
    /// The original's `cancel_operation`.
    #[command(name = "cancel_operation", hide = true)]
    CancelOperation { codename: String },
    /// The original's `list_keys`.
    #[command(name = "list_keys", hide = true)]
    ListKeys,
    /// The original's `list_volumes`.
    #[command(name = "list_volumes", hide = true)]
    ListVolumes,
    /// The original's `create_key`.
    #[command(name = "create_key", hide = true)]
    CreateKey { name: String, pubkey_file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// One line per SSH key: id, name, fingerprint.
    List,
    /// Add an OpenSSH public key to the account; prints its id and fingerprint.
    Create {
        /// Name of the key in DigitalOcean.
        name: String,
        /// The public key file, e.g. ~/.ssh/id_ed25519.pub.
        pubkey_file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum WalletCmd {
    /// After a restore from seed: re-create the wallet accounts the store
    /// knows up to its highest index, verifying each address; refuses on
    /// any mismatch.
    Repair,
}

#[derive(Subcommand, Debug)]
pub enum VolumesCmd {
    /// One line per volume: id, name, region, size, attached droplets, tags.
    List,
}

#[derive(Subcommand, Debug)]
pub enum DevCmd {
    /// Fill an empty sandbox DATA_DIR with realistic operations, payouts,
    /// events and node history.
    Seed {
        /// Operations to make.
        #[arg(long, default_value_t = 1000)]
        operations: usize,
        /// Of which active (with a droplet, DNS records and health history).
        #[arg(long, default_value_t = 100)]
        active: usize,
        /// Health samples per active node.
        #[arg(long, default_value_t = 50)]
        health_samples: usize,
        /// Seed as of this Unix time (default: now), e.g. a test's fixed clock.
        #[arg(long, hide = true)]
        now: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Load and check the configuration; print it with secrets masked.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum OpsCmd {
    /// One line per operation.
    List,
    /// Everything about one operation.
    Show { key: String },
    /// Destroy an operation's resources and end it.
    Cancel { codename: String },
}
