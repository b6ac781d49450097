//! The ledger audit (SPEC.md, Money): for every operation, what came in
//! equals what went out plus what is left, to the piconero, against the wallet:
//! deposits = payouts + fees + refunds + balance.

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::clients::wallet::TransferStatus;
use crate::domain::money::Pico;
use crate::domain::payout::{PayoutKind, PayoutStatus};
use crate::error::AppError;

/// One operation's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub id: String,
    pub codename: String,
    pub account_index: u32,
    /// Received in blocks (the pool is not in the balance yet).
    pub deposits: Pico,
    pub payouts: Pico,
    pub fees: Pico,
    pub refunds: Pico,
    pub balance: Pico,
    /// deposits − (payouts + fees + refunds + balance); zero when the books agree.
    pub difference: i128,
    /// Why the wallet could not be asked, if it could not.
    pub error: Option<String>,
}

impl Ledger {
    /// Whether this line needs the operator's attention.
    pub fn is_off(&self) -> bool {
        self.difference != 0 || self.error.is_some()
    }
}

/// Audits every operation; one wallet failure is reported on its line, not fatal.
pub async fn run(st: &AppState) -> Result<Vec<Ledger>, AppError> {
    let (ops, payouts) = st
        .store
        .run(|s| Ok::<_, AppError>((s.operations()?, s.all_payouts()?)))
        .await?;
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let mut l = Ledger {
            id: op.id.clone(),
            codename: op.codename.clone(),
            account_index: op.account_index,
            deposits: 0,
            payouts: 0,
            fees: 0,
            refunds: 0,
            balance: 0,
            difference: 0,
            error: None,
        };
        // Only relayed transactions left the account; built ones may still be
        // relayed, dead ones never will.
        for p in payouts
            .iter()
            .filter(|p| p.op_id == op.id && p.status == PayoutStatus::Relayed)
        {
            match p.kind {
                PayoutKind::Hosting => l.payouts = l.payouts.saturating_add(p.amount),
                PayoutKind::Refund => l.refunds = l.refunds.saturating_add(p.amount),
            }
            l.fees = l.fees.saturating_add(p.fee);
        }
        match st.wallet.account_state(op.account_index).await {
            Ok(a) => {
                l.deposits = a
                    .transfers
                    .iter()
                    .filter(|t| t.status != TransferStatus::Pool)
                    .fold(0u64, |s, t| s.saturating_add(t.amount));
                l.balance = a.balance;
                l.difference = i128::from(l.deposits)
                    - i128::from(l.payouts)
                    - i128::from(l.fees)
                    - i128::from(l.refunds)
                    - i128::from(l.balance);
            }
            Err(e) => l.error = Some(e.to_string()),
        }
        out.push(l);
    }
    Ok(out)
}

/// The audit as text: one line per operation, differences marked.
pub fn format(lines: &[Ledger]) -> String {
    use crate::domain::money::format_xmr;
    let mut s = format!(
        "{:<20} {:>16} {:>16} {:>14} {:>16} {:>16}  result\n",
        "codename", "deposits", "payouts", "fees", "refunds", "balance"
    );
    for l in lines {
        let result = match (&l.error, l.difference) {
            (Some(e), _) => format!("WALLET: {e}"),
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
    let off = lines.iter().filter(|l| l.is_off()).count();
    s.push_str(&format!(
        "{} operation(s), {off} with a difference or an unreadable account\n",
        lines.len()
    ));
    s
}
