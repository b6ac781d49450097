//! The ledger audit (SPEC.md, Money), from ground truth: deposits, what
//! left each account (amounts, fees, destinations) and balances all come
//! from the wallet, and are compared with what the store recorded, per
//! operation and for the wallet as a whole: a transaction no payout
//! records, a recorded payout the wallet never sent, a payout to an address
//! other than `PAYOUT_ADDRESS` or the refund address, two operations on one
//! account, and money in an account no operation owns are each named.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::clients::wallet::{OutTransfer, TransferStatus};
use crate::domain::money::{Pico, format_xmr};
use crate::domain::operation::Operation;
use crate::domain::payout::{Payout, PayoutKind, PayoutStatus};
use crate::error::AppError;

/// One operation's ledger (or one account no operation owns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The operation's id; empty for an account no operation owns.
    pub id: String,
    pub codename: String,
    pub account_index: u32,
    /// Received in blocks, as the wallet says (the pool is not in the balance yet).
    pub deposits: Pico,
    /// Sent to the operator, as the wallet says (transactions a hosting payout records).
    pub payouts: Pico,
    /// Network fees of everything that left the account, as the wallet says.
    pub fees: Pico,
    /// Sent back to the visitor, as the wallet says.
    pub refunds: Pico,
    pub balance: Pico,
    /// What the wallet says left the account (amounts and fees) minus what
    /// the store recorded as sent; zero when the books agree.
    pub difference: i128,
    /// Each disagreement, in words.
    #[serde(default)]
    pub problems: Vec<String>,
    /// Why the wallet could not be asked, if it could not.
    pub error: Option<String>,
}

impl Ledger {
    /// Whether this line needs the operator's attention.
    pub fn is_off(&self) -> bool {
        self.difference != 0 || self.error.is_some() || !self.problems.is_empty()
    }

    fn new(id: &str, codename: &str, account_index: u32) -> Self {
        Ledger {
            id: id.into(),
            codename: codename.into(),
            account_index,
            deposits: 0,
            payouts: 0,
            fees: 0,
            refunds: 0,
            balance: 0,
            difference: 0,
            problems: Vec::new(),
            error: None,
        }
    }
}

fn sum<T>(v: &[T], f: impl Fn(&T) -> Pico) -> Pico {
    v.iter().fold(0u64, |a, x| a.saturating_add(f(x)))
}

/// Compares one account's outgoing transactions (the wallet's) with the
/// payouts the store recorded for it; fills the ledger's sent columns.
fn compare(
    l: &mut Ledger,
    op: &Operation,
    payouts: &[&Payout],
    out: &[OutTransfer],
    payout_address: &str,
) {
    let by_hash: BTreeMap<&str, &OutTransfer> = out.iter().map(|t| (t.txid.as_str(), t)).collect();
    let mut recorded = BTreeSet::new();
    let mut store_sent: i128 = 0;
    for p in payouts {
        // Built ones may still be relayed, dead ones never will.
        if p.status != PayoutStatus::Relayed {
            continue;
        }
        store_sent += i128::from(p.amount) + i128::from(p.fee);
        recorded.insert(p.tx_hash.as_str());
        let Some(t) = by_hash.get(p.tx_hash.as_str()) else {
            l.problems.push(format!(
                "payout {} ({} XMR) is recorded as sent, but the wallet has no such outgoing transaction",
                p.tx_hash,
                format_xmr(p.amount)
            ));
            continue;
        };
        if (t.amount, t.fee) != (p.amount, p.fee) {
            l.problems.push(format!(
                "payout {}: recorded {} XMR + fee {}, the wallet says {} XMR + fee {}",
                p.tx_hash,
                format_xmr(p.amount),
                format_xmr(p.fee),
                format_xmr(t.amount),
                format_xmr(t.fee)
            ));
        }
        let allowed = match p.kind {
            PayoutKind::Hosting if !p.to.is_empty() => p.to.as_str(),
            PayoutKind::Hosting => payout_address,
            PayoutKind::Refund => op.refund_address.as_deref().unwrap_or(""),
        };
        for (addr, _) in t.destinations.iter().filter(|(a, _)| a != allowed) {
            l.problems.push(format!(
                "{} {} went to {addr}, which is neither PAYOUT_ADDRESS nor the refund address",
                match p.kind {
                    PayoutKind::Hosting => "payout",
                    PayoutKind::Refund => "refund",
                },
                p.tx_hash
            ));
        }
        match p.kind {
            PayoutKind::Hosting => l.payouts = l.payouts.saturating_add(t.amount),
            PayoutKind::Refund => l.refunds = l.refunds.saturating_add(t.amount),
        }
    }
    for t in out.iter().filter(|t| !recorded.contains(t.txid.as_str())) {
        let to: Vec<&str> = t.destinations.iter().map(|(a, _)| a.as_str()).collect();
        l.problems.push(format!(
            "transaction {} took {} XMR (fee {}) to {} and no payout records it",
            t.txid,
            format_xmr(t.amount),
            format_xmr(t.fee),
            if to.is_empty() {
                "?".into()
            } else {
                to.join(", ")
            }
        ));
    }
    l.fees = sum(out, |t| t.fee);
    let wallet_sent = i128::from(sum(out, |t| t.amount)) + i128::from(l.fees);
    // Positive: money left the account that the store does not account for.
    l.difference = wallet_sent - store_sent;
}

/// Audits every operation and every wallet account; a wallet failure is
/// reported on its line, not fatal.
pub async fn run(st: &AppState) -> Result<Vec<Ledger>, AppError> {
    let (ops, payouts) = st
        .store
        .run(|s| Ok::<_, AppError>((s.operations()?, s.all_payouts()?)))
        .await?;
    let mut by_op: BTreeMap<&str, Vec<&Payout>> = BTreeMap::new();
    for p in &payouts {
        by_op.entry(p.op_id.as_str()).or_default().push(p);
    }
    let mut owners: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for op in &ops {
        owners
            .entry(op.account_index)
            .or_default()
            .push(op.codename.as_str());
    }
    let mut out = Vec::with_capacity(ops.len());
    for op in &ops {
        let mut l = Ledger::new(&op.id, &op.codename, op.account_index);
        if let Some(all) = owners.get(&op.account_index).filter(|o| o.len() > 1) {
            l.problems.push(format!(
                "wallet account {} is shared by {}: one address for two operations",
                op.account_index,
                all.join(", ")
            ));
        }
        let read = async {
            let a = st.clients.wallet.account_state(op.account_index).await?;
            let o = st.clients.wallet.outgoing(op.account_index).await?;
            Ok::<_, crate::clients::WalletError>((a, o))
        };
        match read.await {
            Ok((a, o)) => {
                l.deposits = a
                    .transfers
                    .iter()
                    .filter(|t| t.status != TransferStatus::Pool)
                    .fold(0u64, |s, t| s.saturating_add(t.amount));
                l.balance = a.balance;
                let empty = Vec::new();
                let mine = by_op.get(op.id.as_str()).unwrap_or(&empty);
                compare(&mut l, op, mine, &o, &st.config.payout_address);
                // The wallet's own books: what came in is what left plus what is there.
                let wallet_gap = i128::from(l.deposits)
                    - i128::from(sum(&o, |t| t.amount))
                    - i128::from(l.fees)
                    - i128::from(l.balance);
                if wallet_gap != 0 {
                    l.problems.push(format!(
                        "the wallet's own books are off by {wallet_gap} piconero (deposits − sent − fees − balance)"
                    ));
                }
            }
            Err(e) => l.error = Some(e.to_string()),
        }
        out.push(l);
    }
    // Accounts no operation owns (account 0 is the wallet's own).
    match st.clients.wallet.accounts().await {
        Ok(accounts) => {
            for a in accounts
                .iter()
                .filter(|a| a.index != 0 && !owners.contains_key(&a.index))
            {
                let mut l = Ledger::new("", &format!("(account {})", a.index), a.index);
                match st.clients.wallet.account_state(a.index).await {
                    // Stranded money: an account the operator uses for something
                    // else and has emptied is none of the audit's business.
                    Ok(s) if s.balance > 0 => {
                        l.deposits = s.deposits();
                        l.balance = s.balance;
                        l.problems.push(format!(
                            "wallet account {} ({}) holds {} XMR and no operation owns it",
                            a.index,
                            a.address,
                            format_xmr(s.balance)
                        ));
                        out.push(l);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        l.error = Some(e.to_string());
                        out.push(l);
                    }
                }
            }
        }
        Err(e) => {
            let mut l = Ledger::new("", "(wallet)", 0);
            l.error = Some(format!("cannot list the wallet's accounts: {e}"));
            out.push(l);
        }
    }
    Ok(out)
}

/// The audit as text: one line per operation, differences marked.
pub fn format(lines: &[Ledger]) -> String {
    let mut s = format!(
        "{:<20} {:>16} {:>16} {:>14} {:>16} {:>16}  result\n",
        "codename", "deposits", "payouts", "fees", "refunds", "balance"
    );
    for l in lines {
        let result = match (&l.error, l.difference) {
            (Some(e), _) => format!("WALLET: {e}"),
            (None, 0) if !l.problems.is_empty() => format!("{} PROBLEM(S)", l.problems.len()),
            (None, 0) => "ok".into(),
            (None, d) => format!(
                "DIFFERENCE {}{} XMR",
                if d < 0 { "-" } else { "+" },
                format_xmr(u64::try_from(d.unsigned_abs()).unwrap_or(u64::MAX))
            ),
        };
        s.push_str(&format!(
            "{:<20} {:>16} {:>16} {:>14} {:>16} {:>16}  {result}\n",
            l.codename,
            format_xmr(l.deposits),
            format_xmr(l.payouts),
            format_xmr(l.fees),
            format_xmr(l.refunds),
            format_xmr(l.balance),
        ));
    }
    for l in lines {
        for p in &l.problems {
            s.push_str(&format!("  ! {}: {p}\n", l.codename));
        }
    }
    let off = lines.iter().filter(|l| l.is_off()).count();
    s.push_str(&format!(
        "{} operation(s), {off} with a difference or an unreadable account\n",
        lines.len()
    ));
    s
}
