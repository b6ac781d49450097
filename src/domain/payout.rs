//! Payouts and the rule for what is due at one (SPEC.md, Money).

use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::money::{Micro, Pico, Rates, due_pico};

/// Where a payout's transaction stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum PayoutStatus {
    /// Built without relaying and stored; relaying comes next.
    Built,
    /// Relayed to the network.
    Relayed,
    /// Proven dead; kept with its reason.
    Dead(String),
}

/// What a stored transaction pays for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutKind {
    /// Hosting cost to the operator's `PAYOUT_ADDRESS`.
    #[default]
    Hosting,
    /// What was left, to the visitor's refund address.
    Refund,
}

/// A payout (or refund) as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub op_id: String,
    /// Per-operation sequence number, from 1.
    pub seq: u64,
    pub at: Timestamp,
    /// Billed seconds: billed-until advanced by exactly these.
    pub seconds: u64,
    pub cost_per_hour: Micro,
    pub price: Micro,
    pub amount: Pico,
    pub fee: Pico,
    pub tx_hash: String,
    /// Hex of the unrelayed transaction, kept until relayed so recovery can resend it.
    pub tx_metadata: String,
    pub status: PayoutStatus,
    /// The last payout of a node that ended.
    pub is_final: bool,
    #[serde(default)]
    pub kind: PayoutKind,
    /// Key images of the transaction's inputs (hex), kept until it is
    /// relayed or proven dead: the daemon's answer for them decides "dead".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_images: Vec<String>,
    /// The destination address (payouts made before it was recorded: empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
}

/// What a payout pass should do with one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Less than `PAYOUT_FREQUENCY` since billed-until.
    NotDue,
    /// Pay `amount` for `seconds`; the node keeps running.
    Pay { seconds: u64, amount: Pico },
    /// Short now, but pending transfers would cover it; wait (since `short_since`).
    Wait { seconds: u64, amount: Pico },
    /// End the node: pay `amount` (what is due, or all unlocked less the fee
    /// when that falls short) for `seconds`, forgive the rest.
    End {
        seconds: u64,
        amount: Pico,
        forgiven: Pico,
    },
}

/// Everything the payout rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct PayoutInput {
    pub now: Timestamp,
    pub billed_until: Timestamp,
    pub unlocked: Pico,
    /// Incoming transfers still locked or in the pool.
    pub pending: Pico,
    pub short_since: Option<Timestamp>,
    pub pending_wait_secs: u64,
    pub rates: Rates,
}

/// The rule of SPEC.md: bill whole seconds since billed-until; end the node
/// when what stays cannot cover the next period plus a fee (the node never
/// runs on credit), counting pending transfers for at most `PENDING_WAIT_HOURS`.
pub fn decide(i: &PayoutInput) -> Decision {
    let r = &i.rates;
    let elapsed = u64::try_from(i.now - i.billed_until).unwrap_or(0);
    if elapsed < r.payout_every {
        return Decision::NotDue;
    }
    let due = due_pico(elapsed, r.cost, r.price);
    let next = r.needed_for(r.payout_every);
    let after = i.unlocked.checked_sub(due.saturating_add(r.fee));
    if let Some(after) = after
        && after >= next
    {
        return Decision::Pay {
            seconds: elapsed,
            amount: due,
        };
    }
    let waited = i
        .short_since
        .map(|s| u64::try_from(i.now - s).unwrap_or(0))
        .unwrap_or(0);
    let with_pending = i.unlocked.saturating_add(i.pending);
    if i.pending > 0
        && waited < i.pending_wait_secs
        && with_pending >= due.saturating_add(r.fee).saturating_add(next)
    {
        return Decision::Wait {
            seconds: elapsed,
            amount: due,
        };
    }
    let payable = i.unlocked.saturating_sub(r.fee).min(due);
    Decision::End {
        seconds: elapsed,
        amount: payable,
        forgiven: due - payable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn input(unlocked: Pico, pending: Pico, elapsed: u64) -> PayoutInput {
        PayoutInput {
            now: 1_000_000 + elapsed as i64,
            billed_until: 1_000_000,
            unlocked,
            pending,
            short_since: None,
            pending_wait_secs: 2 * H,
            // $1/h at $100/XMR: 0.01 XMR (10^10 pico) an hour; fee 10^6.
            rates: Rates {
                cost: 1_000_000,
                price: 100_000_000,
                fee: 1_000_000,
                payout_every: 3 * H,
            },
        }
    }

    #[test]
    fn not_due_before_the_frequency() {
        assert_eq!(
            decide(&input(10u64.pow(12), 0, 3 * H - 1)),
            Decision::NotDue
        );
    }

    #[test]
    fn pays_whole_seconds_since_billed_until() {
        let d = decide(&input(10u64.pow(12), 0, 3 * H + 7));
        assert_eq!(
            d,
            Decision::Pay {
                seconds: 3 * H + 7,
                amount: due_pico(3 * H + 7, 1_000_000, 100_000_000)
            }
        );
    }

    #[test]
    fn ends_when_the_next_period_is_not_covered() {
        let due = 3 * 10u64.pow(10);
        let next = 3 * 10u64.pow(10) + 1_000_000;
        // Exactly enough for due + fee + next period: keeps running.
        let enough = due + 1_000_000 + next;
        assert!(matches!(
            decide(&input(enough, 0, 3 * H)),
            Decision::Pay { .. }
        ));
        // One piconero less: ends, paying all that is due.
        assert_eq!(
            decide(&input(enough - 1, 0, 3 * H)),
            Decision::End {
                seconds: 3 * H,
                amount: due,
                forgiven: 0
            }
        );
        // Less than is due: pays all but the fee, forgives the rest.
        assert_eq!(
            decide(&input(due / 2, 0, 3 * H)),
            Decision::End {
                seconds: 3 * H,
                amount: due / 2 - 1_000_000,
                forgiven: due - (due / 2 - 1_000_000)
            }
        );
        assert_eq!(
            decide(&input(0, 0, 3 * H)),
            Decision::End {
                seconds: 3 * H,
                amount: 0,
                forgiven: due
            }
        );
    }

    #[test]
    fn pending_transfers_hold_off_an_end_for_a_while() {
        let mut i = input(3 * 10u64.pow(10), 10u64.pow(12), 3 * H);
        assert!(matches!(decide(&i), Decision::Wait { .. }));
        i.short_since = Some(i.now - (2 * H) as i64);
        assert!(
            matches!(decide(&i), Decision::End { .. }),
            "pending counts for at most PENDING_WAIT_HOURS"
        );
    }
}
