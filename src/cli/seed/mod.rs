//! `nodecannon dev seed`: fills an empty sandbox data directory with realistic
//! operations, payouts, events, node health history and the simulated wallet
//! and cloud state that goes with them, so pages and benchmarks see a large,
//! consistent appliance. Sandbox only; money balances to the piconero
//! (deposits = payouts + fees + refunds + balance).

use std::time::Duration;

use crate::clients::cloud::{Droplet, Record, Volume};
use crate::config::Config;
use crate::domain::Timestamp;
use crate::domain::event::EventKind;
use crate::domain::money::{Micro, Pico, due_pico, format_xmr};
use crate::domain::operation::{LaunchStep, Operation, Resources};
use crate::domain::payout::{Payout, PayoutKind, PayoutStatus};
use crate::domain::state::State;
use crate::sandbox::FEE;
use crate::store::{HealthSample, Store, StoreError, Tx};

mod history;

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub operations: usize,
    pub active: usize,
    /// The time the data is seeded "at" (the sandbox clock of the server that reads it).
    pub now: Timestamp,
    /// Health samples per active node.
    pub health_samples: usize,
}

/// What was seeded.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub operations: usize,
    pub by_state: Vec<(State, usize)>,
    pub events: usize,
    pub payouts: usize,
    pub health: usize,
    pub droplets: usize,
    pub deposits: Pico,
    pub elapsed: Duration,
}

impl SeedReport {
    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let states: Vec<String> = self
            .by_state
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        format!(
            "seeded {} operations ({})\n{} events, {} payouts, {} health samples, {} droplets (with volumes and DNS records), {} XMR deposited\ntook {:.2} s",
            self.operations,
            states.join(", "),
            self.events,
            self.payouts,
            self.health,
            self.droplets,
            format_xmr(self.deposits),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Why seeding refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "dev seed only runs in sandbox mode (its data is simulated money and simulated droplets); unset DO_TOKEN and XMR_WALLET_RPC_* or set SANDBOX=1"
    )]
    NotSandbox,
    #[error(
        "DATA_DIR {0} already holds {1} operation(s); dev seed only fills an empty data directory"
    )]
    NotEmpty(String, usize),
    #[error("--active ({active}) cannot exceed --operations ({operations})")]
    TooManyActive { active: usize, operations: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Operations per write transaction.
const BATCH: usize = 500;
/// Hourly droplet cost used for the seeded payouts (s-2vcpu-4gb), micro-USD.
const COST: Micro = 35_710;
/// One piconero-XMR.
const XMR: Pico = 1_000_000_000_000;

const REGIONS: [&str; 8] = [
    "ams3", "fra1", "lon1", "nyc3", "sfo3", "sgp1", "syd1", "tor1",
];
use crate::domain::codename::{ADJECTIVES, NOUNS};

use crate::sandbox::wallet::{SbAccount, SbIn, SbOut, acct_key};

/// A small, fast PRNG (xorshift64*); seeded data need not be unpredictable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below(u64::try_from(hi - lo).unwrap_or(1))).unwrap_or(0)
    }
    fn hex(&mut self, bytes: usize) -> String {
        let mut s = String::with_capacity(bytes * 2);
        while s.len() < bytes * 2 {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(bytes * 2);
        s
    }
}

/// Seeds `store` (which must hold no operation). Blocking; run off the executor.
pub fn seed(store: &Store, config: &Config, o: &SeedOptions) -> Result<SeedReport, SeedError> {
    let started = crate::clock::Stopwatch::start();
    if !config.sandbox {
        return Err(SeedError::NotSandbox);
    }
    if o.active > o.operations {
        return Err(SeedError::TooManyActive {
            active: o.active,
            operations: o.operations,
        });
    }
    let existing = store.operations()?.len();
    if existing > 0 {
        return Err(SeedError::NotEmpty(
            config.data_dir.display().to_string(),
            existing,
        ));
    }
    let first_account: u32 = store.sandbox_get("wallet/next")?.unwrap_or(1);
    let first_cloud_id: u64 = store.sandbox_get("cloud/next")?.unwrap_or(1001);
    let mut g = Gen {
        rng: Rng(0x9E37_79B9_7F4A_7C15 ^ u64::try_from(o.now).unwrap_or(1)),
        now: o.now,
        payout_to: config.payout_address.clone(),
        // Payouts of at least 3 hours, so nodes are old enough for a health history.
        every: i64::try_from(config.payout_frequency_secs.max(10_800)).unwrap_or(10_800),
        due_every: i64::try_from(config.payout_frequency_secs.max(1)).unwrap_or(10_800),
        storage_gb: config.do_droplet_storage_gb,
        health_samples: o.health_samples,
        next_account: first_account,
        next_cloud: first_cloud_id,
        report: SeedReport::default(),
        counts: State::ALL.iter().map(|s| (*s, 0)).collect(),
    };
    let mut i = 0;
    while i < o.operations {
        let end = (i + BATCH).min(o.operations);
        store.write(|tx| {
            for n in i..end {
                g.one(tx, n, n < o.active)?;
            }
            tx.sandbox_put("wallet/next", &g.next_account)?;
            tx.sandbox_put("cloud/next", &g.next_cloud)?;
            Ok::<_, StoreError>(())
        })?;
        i = end;
    }
    let mut report = g.report;
    report.by_state = g.counts;
    report.elapsed = Duration::from_secs_f64(started.secs());
    Ok(report)
}

struct Gen {
    rng: Rng,
    now: Timestamp,
    payout_to: String,
    every: i64,
    /// The configured payout frequency: active nodes were billed within it.
    due_every: i64,
    storage_gb: u32,
    health_samples: usize,
    next_account: u32,
    next_cloud: u64,
    report: SeedReport,
    counts: Vec<(State, usize)>,
}

/// One operation's wallet account and its history, built together.
struct Books {
    account: SbAccount,
    events: Vec<(Timestamp, EventKind, String)>,
    payouts: Vec<Payout>,
}

impl Gen {
    fn cloud_id(&mut self) -> u64 {
        let id = self.next_cloud;
        self.next_cloud += 1;
        id
    }

    fn price(&mut self) -> Micro {
        // $140–$180 per XMR.
        140_000_000 + self.rng.below(40_000_000)
    }

    fn one(&mut self, tx: &mut Tx, n: usize, active: bool) -> Result<(), StoreError> {
        let r = &mut self.rng;
        let state = if active {
            State::Active
        } else {
            match r.below(100) {
                0..=29 => State::AwaitingFunds,
                30..=49 => State::Ended,
                50..=69 => State::Closed,
                70..=84 => State::Expired,
                _ => State::Cancelled,
            }
        };
        let index = self.next_account;
        self.next_account += 1;
        let id = r.hex(16);
        let codename = format!(
            "{}-{}-{n}",
            ADJECTIVES[r.below(16) as usize],
            NOUNS[r.below(16) as usize]
        );
        let region = REGIONS[r.below(REGIONS.len() as u64) as usize].to_string();
        let address = format!("SANDBOX{index:04}x{}", r.hex(20));
        let refund_address = (r.below(3) > 0).then(|| format!("sandbox-refund-{}", r.hex(12)));
        let mut op = Operation::new(
            crate::domain::operation::NewOperation {
                id: id.clone(),
                codename: codename.clone(),
                region: region.clone(),
                refund_address: refund_address.clone(),
                account_index: index,
                address: address.clone(),
                node_token: r.hex(24),
            },
            0,
        );
        let mut b = Books {
            account: SbAccount {
                index,
                label: id.clone(),
                address,
                incoming: vec![],
                outgoing: vec![],
            },
            events: vec![],
            payouts: vec![],
        };
        let now = self.now;
        match state {
            State::AwaitingFunds | State::Expired | State::Cancelled => {
                let created = match state {
                    State::AwaitingFunds => now - self.rng.range(60, 2 * 86_400),
                    _ => now - self.rng.range(3 * 86_400, 90 * 86_400),
                };
                op.created_at = created;
                b.events.push((
                    created,
                    EventKind::Created,
                    format!("Operation {codename} opened in {region}."),
                ));
                op.state = state;
                op.state_since = match state {
                    State::AwaitingFunds => created,
                    State::Expired => created + 2 * 86_400,
                    _ => created + self.rng.range(600, 86_400),
                };
                match state {
                    State::Expired => b.events.push((
                        op.state_since,
                        EventKind::Expired,
                        "Expired: no payment arrived within 48 hours (a payment revives it)."
                            .into(),
                    )),
                    State::Cancelled => b.events.push((
                        op.state_since,
                        EventKind::Cancelled,
                        "Cancelled by the operator.".into(),
                    )),
                    _ => {}
                }
            }
            State::Active | State::Ended | State::Closed => {
                self.launched(&mut op, &mut b, state)?;
            }
            _ => unreachable!("seed makes no other state"),
        }
        // Store everything of this operation.
        tx.insert_op(&op)?;
        for (at, kind, msg) in b.events.drain(..) {
            tx.event(&op.id, at, kind, msg)?;
            self.report.events += 1;
        }
        for p in &b.payouts {
            tx.put_payout(p)?;
            self.report.payouts += 1;
        }
        self.report.deposits += b.account.incoming.iter().map(|t| t.amount).sum::<Pico>();
        tx.sandbox_put(&acct_key(index), &b.account)?;
        if state == State::Active {
            self.cloud_and_health(tx, &op)?;
        }
        self.report.operations += 1;
        if let Some(c) = self.counts.iter_mut().find(|(s, _)| *s == state) {
            c.1 += 1;
        }
        Ok(())
    }
}
