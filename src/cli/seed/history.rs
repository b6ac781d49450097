//! The history of a launched operation: its launch steps, payouts, end,
//! cloud resources and node health samples.

use super::*;

impl Gen {
    /// An operation that was funded and launched; `state` says how it stands now.
    pub(super) fn launched(
        &mut self,
        op: &mut Operation,
        b: &mut Books,
        state: State,
    ) -> Result<(), StoreError> {
        let now = self.now;
        let every = self.every;
        let periods = 2 + self.rng.below(5) as i64; // 2..=6 payouts
        let price = self.price();
        // Work backwards from when billing stopped (or stands now).
        let billed_until = match state {
            State::Active => now - self.rng.range(0, self.due_every),
            _ => now - self.rng.range(86_400, 60 * 86_400),
        };
        let launched = billed_until - periods * every;
        let funded = launched - self.rng.range(240, 1_200);
        let seen = funded - self.rng.range(120, 900);
        let created = seen - self.rng.range(300, 86_400);
        op.created_at = created;
        op.funds_seen = true;
        let codename = op.codename.clone();
        b.events.push((
            created,
            EventKind::Created,
            format!("Operation {codename} opened in {}.", op.region),
        ));
        // What the hosting costs over the node's life.
        let secs = u64::try_from(every).unwrap_or(10_800);
        let per_period = due_pico(secs, COST, price);
        let hosting = per_period * periods as u64 + FEE * periods as u64;
        let spare = match state {
            // Enough for days more.
            State::Active => per_period * (8 + self.rng.below(40)) + self.rng.below(XMR / 10),
            // Not enough for the next period.
            _ => self.rng.below(per_period / 2) + FEE * 2,
        };
        let deposit = hosting + spare;
        // One or two transfers.
        let first = if self.rng.below(4) == 0 {
            deposit / 3
        } else {
            deposit
        };
        let txid = self.rng.hex(32);
        b.account.incoming.push(SbIn {
            txid,
            amount: first,
            at: seen,
        });
        b.events.push((
            seen,
            EventKind::FundsSeen,
            format!("Payment of {} XMR seen (in the pool).", format_xmr(first)),
        ));
        if first < deposit {
            let at = seen + self.rng.range(60, 600);
            b.account.incoming.push(SbIn {
                txid: self.rng.hex(32),
                amount: deposit - first,
                at,
            });
            b.events.push((
                at,
                EventKind::FundsSeen,
                format!(
                    "Payment of {} XMR seen (in the pool).",
                    format_xmr(deposit - first)
                ),
            ));
        }
        b.events.push((
            funded,
            EventKind::Funded,
            format!("Funded: {} XMR unlocked.", format_xmr(deposit)),
        ));
        for (step, msg) in [
            (30, "Volume created."),
            (60, "Droplet created."),
            (90, "Droplet addresses known."),
            (120, "DNS records created."),
        ] {
            b.events.push((
                (funded + step).min(launched - 1),
                EventKind::LaunchStep,
                msg.into(),
            ));
        }
        b.events.push((
            launched,
            EventKind::Launched,
            format!("Node launched: {codename}.node."),
        ));
        if state == State::Active {
            b.events.push((
                launched + 600,
                EventKind::NodeReport,
                "Node reported: synchronized.".into(),
            ));
        }
        op.launched_at = Some(launched);
        op.billed_until = Some(billed_until);
        for k in 1..=periods {
            let at = launched + k * every + self.rng.range(5, 120);
            let hash = self.rng.hex(32);
            let is_final = state != State::Active && k == periods;
            b.account.outgoing.push(SbOut {
                txid: hash.clone(),
                to: self.payout_to.clone(),
                amount: per_period,
                fee: FEE,
                at,
            });
            b.events.push((
                at,
                EventKind::Payout,
                format!(
                    "Paid {} XMR for {} of hosting (tx {}).",
                    format_xmr(per_period),
                    crate::clock::duration(secs),
                    &hash[..12]
                ),
            ));
            b.payouts.push(Payout {
                op_id: op.id.clone(),
                seq: k as u64,
                at,
                seconds: secs,
                cost_per_hour: COST,
                price,
                amount: per_period,
                fee: FEE,
                tx_hash: hash,
                tx_metadata: String::new(),
                status: PayoutStatus::Relayed,
                is_final,
                kind: PayoutKind::Hosting,
                key_images: Vec::new(),
                to: String::new(),
            });
        }
        let last = launched + periods * every + 130;
        match state {
            State::Active => {
                op.state = State::Active;
                op.state_since = launched;
                op.launch_step = Some(LaunchStep::Done);
                op.node_reports = vec![
                    (launched - 60, "cloud-init started".into()),
                    (launched - 20, "monerod started".into()),
                    (launched + 600, "synchronized".into()),
                ];
                if self.rng.below(5) == 0 {
                    op.onion = Some(format!("{}.onion", self.rng.hex(28)));
                }
            }
            State::Ended | State::Closed => {
                b.events.push((
                    last,
                    EventKind::LowFunds,
                    "The balance no longer covers the next period.".into(),
                ));
                b.events.push((
                    last + 5,
                    EventKind::Ended,
                    "Ended: the money ran out; the node, its volume and DNS records were destroyed. Refill to relaunch.".into(),
                ));
                op.state = State::Ended;
                op.state_since = last + 5;
                if state == State::Closed {
                    let left = spare;
                    // A refund goes to the refund address; without one the
                    // money stays in the account (SPEC.md, Money).
                    if let Some(to) = op.refund_address.clone()
                        && left > FEE
                    {
                        let hash = self.rng.hex(32);
                        let at = last + 3_600;
                        b.account.outgoing.push(SbOut {
                            txid: hash.clone(),
                            to,
                            amount: left - FEE,
                            fee: FEE,
                            at,
                        });
                        b.events.push((
                            at,
                            EventKind::Refund,
                            format!(
                                "Refunded {} XMR to the refund address (tx {}).",
                                format_xmr(left - FEE),
                                &hash[..12]
                            ),
                        ));
                        b.payouts.push(Payout {
                            op_id: op.id.clone(),
                            seq: periods as u64 + 1,
                            at,
                            seconds: 0,
                            cost_per_hour: COST,
                            price,
                            amount: left - FEE,
                            fee: FEE,
                            tx_hash: hash,
                            tx_metadata: String::new(),
                            status: PayoutStatus::Relayed,
                            is_final: true,
                            kind: PayoutKind::Refund,
                            key_images: Vec::new(),
                            to: op.refund_address.clone().unwrap_or_default(),
                        });
                    }
                    b.events.push((
                        last + 3_700,
                        EventKind::Closed,
                        "Closed: what was left went back to the visitor.".into(),
                    ));
                    op.state = State::Closed;
                    op.state_since = last + 3_700;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The droplet, volume and DNS records of an active node, and its health history.
    pub(super) fn cloud_and_health(
        &mut self,
        tx: &mut Tx,
        op: &Operation,
    ) -> Result<(), StoreError> {
        let launched = op.launched_at.unwrap_or(op.created_at);
        let vol = self.cloud_id();
        let did = self.cloud_id();
        let (a, aaaa) = (self.cloud_id(), self.cloud_id());
        let ipv4 = format!("198.51.{}.{}", (did / 250) % 250, did % 250 + 1);
        let ipv6 = format!("2001:db8::{did:x}");
        let tags = vec!["nodecannon".to_string(), op.tag()];
        let volume = Volume {
            id: format!("vol-{vol}"),
            name: op.volume_name(),
            region: op.region.clone(),
            size_gb: self.storage_gb,
            tags: tags.clone(),
            created_at: launched - 150,
            droplet_ids: vec![did],
        };
        tx.sandbox_put(&format!("cloud/volume/{}", volume.id), &volume)?;
        let droplet = Droplet {
            id: did,
            name: op.codename.clone(),
            region: op.region.clone(),
            status: "active".into(),
            ipv4: Some(ipv4.clone()),
            ipv6: Some(ipv6.clone()),
            tags,
            created_at: launched - 120,
        };
        tx.sandbox_put(&format!("cloud/droplet/{did:012}"), &droplet)?;
        let name = format!("{}.node", op.codename);
        for (id, kind, data) in [(a, "A", &ipv4), (aaaa, "AAAA", &ipv6)] {
            let r = Record {
                id,
                kind: kind.into(),
                name: name.clone(),
                data: data.clone(),
            };
            tx.sandbox_put(&format!("cloud/record/{id:012}"), &r)?;
        }
        let mut op = op.clone();
        op.resources = Resources {
            volume_id: Some(volume.id),
            droplet_id: Some(did),
            ipv4: Some(ipv4),
            ipv6: Some(ipv6),
            dns_records: vec![a, aaaa],
        };
        // The operation's events were appended in this transaction already.
        tx.put_op(&op)?;
        self.report.droplets += 1;
        // Health: one sample every 5 minutes up to now.
        let last = self.now - self.rng.range(0, 300);
        let n = self.health_samples;
        for k in 0..n {
            let at = last - 300 * (n - 1 - k) as i64;
            if at < launched {
                continue;
            }
            let target = 3_000_000 + (at.max(0) / 120) as u64 % 1_000_000;
            let up = at - launched;
            let synced = up >= 600;
            let reachable = self.rng.below(50) != 0;
            let height = if synced {
                target
            } else {
                target * u64::try_from(up).unwrap_or(0) / 600
            };
            let s = HealthSample {
                at,
                reachable,
                height: if reachable { height } else { 0 },
                target_height: if reachable { target } else { 0 },
                synchronized: reachable && synced,
                peers_in: if reachable {
                    (up / 60).min(24) as u32
                } else {
                    0
                },
                peers_out: if reachable { 12 } else { 0 },
                database_size: if reachable {
                    40_000_000_000 * height / target.max(1)
                } else {
                    0
                },
                status: if reachable {
                    "OK".into()
                } else {
                    "connection timed out".into()
                },
            };
            tx.add_health(&op.id, &s, crate::jobs::health::HISTORY)?;
            self.report.health += 1;
        }
        Ok(())
    }
}
