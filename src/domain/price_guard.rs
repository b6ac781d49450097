//! When a market price may be used for a decision that moves money or ends a
//! node (SPEC.md, Money): fresh (`PRICE_MAX_AGE_MINUTES`), sane (within
//! `PRICE_MAX_MOVE_PERCENT` of the last accepted one, or a move that persisted
//! for [`HOLD_SECS`], or one the admin accepted), and after
//! `PRICE_MAX_WAIT_HOURS` without one, the last accepted price, recorded.

use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::money::Quote;

/// How long a big move must persist before it is accepted on its own.
pub const HOLD_SECS: i64 = 15 * 60;

/// The limits from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub max_age_secs: i64,
    pub max_move_percent: u32,
    pub max_wait_secs: i64,
}

/// A price that moved too far, waiting to persist or to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub quote: Quote,
    pub since: Timestamp,
}

/// What the guard remembers between passes (stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceState {
    /// The last price decisions were allowed to use.
    pub accepted: Option<Quote>,
    pub held: Option<Held>,
    /// Since when decisions have found no fresh, sane price.
    pub trouble_since: Option<Timestamp>,
    /// Why, the last time.
    pub trouble: Option<String>,
    /// Whether the operator was told about the current trouble.
    pub notified: bool,
    /// Whether the operator was told that decisions fell back on the last accepted price.
    #[serde(default)]
    pub fell_back: bool,
}

/// What a decision may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Use this fresh, sane price.
    Use(Quote),
    /// No fresh, sane price for longer than allowed: use the last accepted
    /// one and record that (the reason says why).
    UseLast(Quote, String),
    /// Decide nothing now.
    Wait(String),
}

/// How far `b` is from `a`, in percent (rounded down).
fn moved_percent(a: Quote, b: Quote) -> u128 {
    let (a, b) = (u128::from(a.usd), u128::from(b.usd));
    if a == 0 {
        return u128::MAX;
    }
    a.abs_diff(b) * 100 / a
}

impl PriceState {
    fn accept(&mut self, q: Quote) -> Verdict {
        self.accepted = Some(q);
        self.held = None;
        self.trouble_since = None;
        self.trouble = None;
        self.notified = false;
        self.fell_back = false;
        Verdict::Use(q)
    }

    fn trouble(&mut self, why: String, now: Timestamp, rules: &Rules) -> Verdict {
        let since = *self.trouble_since.get_or_insert(now);
        self.trouble = Some(why.clone());
        match self.accepted {
            Some(last) if now - since >= rules.max_wait_secs => Verdict::UseLast(
                last,
                format!(
                    "no fresh, sane price for {} h ({why}); using the last accepted price",
                    (now - since) / 3600
                ),
            ),
            _ => Verdict::Wait(why),
        }
    }

    /// Judges what the market said (`fetched`) at `now`.
    pub fn judge(
        &mut self,
        fetched: Result<Quote, String>,
        now: Timestamp,
        rules: &Rules,
    ) -> Verdict {
        let q = match fetched {
            Ok(q) => q,
            Err(e) => return self.trouble(format!("no price: {e}"), now, rules),
        };
        let age = now - q.at;
        if age > rules.max_age_secs {
            return self.trouble(format!("the XMR price is {} min old", age / 60), now, rules);
        }
        let Some(last) = self.accepted else {
            return self.accept(q);
        };
        let moved = moved_percent(last, q);
        if moved <= u128::from(rules.max_move_percent) {
            return self.accept(q);
        }
        match self.held {
            // Still far from the accepted price after the hold: the market moved.
            Some(h) if now - h.since >= HOLD_SECS => return self.accept(q),
            Some(_) => {}
            None => {
                self.held = Some(Held {
                    quote: q,
                    since: now,
                })
            }
        }
        self.trouble(
            format!("the XMR price moved {moved} % since the last accepted one; held"),
            now,
            rules,
        )
    }

    /// The simulated price was set by the admin (sandbox): it is the accepted one.
    pub fn set_by_admin(&mut self, q: Quote) {
        self.accept(q);
    }

    /// The admin accepts the held price; false when none is held.
    pub fn accept_held(&mut self) -> bool {
        match self.held {
            Some(h) => {
                self.accept(h.quote);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        max_age_secs: 3600,
        max_move_percent: 50,
        max_wait_secs: 12 * 3600,
    };

    fn q(usd: u64, at: i64) -> Result<Quote, String> {
        Ok(Quote { usd, at })
    }

    #[test]
    fn a_fresh_price_is_used_and_a_stale_one_is_not() {
        let mut s = PriceState::default();
        assert_eq!(
            s.judge(q(150, 1000), 1000, &RULES),
            Verdict::Use(Quote { usd: 150, at: 1000 })
        );
        assert!(
            matches!(s.judge(q(151, 1000), 1000 + 3601, &RULES), Verdict::Wait(w) if w.contains("min old"))
        );
        assert_eq!(s.trouble_since, Some(4601));
        assert!(
            matches!(s.judge(Err("down".into()), 5000, &RULES), Verdict::Wait(w) if w.contains("down"))
        );
        // A fresh one again ends the trouble.
        assert!(matches!(
            s.judge(q(152, 5000), 5000, &RULES),
            Verdict::Use(_)
        ));
        assert_eq!(s.trouble_since, None);
    }

    #[test]
    fn a_big_move_is_held_until_it_persists_or_is_accepted() {
        let mut s = PriceState::default();
        s.judge(q(100, 0), 0, &RULES);
        // 50 % is within bounds, 51 % is not.
        assert!(matches!(s.judge(q(150, 10), 10, &RULES), Verdict::Use(_)));
        assert!(
            matches!(s.judge(q(227, 20), 20, &RULES), Verdict::Wait(w) if w.contains("moved 51 %"))
        );
        assert_eq!(s.accepted.unwrap().usd, 150);
        assert!(matches!(
            s.judge(q(230, 20 + HOLD_SECS - 1), 20 + HOLD_SECS - 1, &RULES),
            Verdict::Wait(_)
        ));
        assert_eq!(
            s.judge(q(231, 20 + HOLD_SECS), 20 + HOLD_SECS, &RULES),
            Verdict::Use(Quote {
                usd: 231,
                at: 20 + HOLD_SECS
            })
        );
        // A spike that comes back is never accepted.
        s.judge(q(10, 2000), 2000, &RULES);
        assert!(s.held.is_some());
        assert!(matches!(
            s.judge(q(230, 2010), 2010, &RULES),
            Verdict::Use(_)
        ));
        assert!(s.held.is_none());
        // The admin accepts a held price.
        s.judge(q(1000, 3000), 3000, &RULES);
        assert!(s.accept_held());
        assert_eq!(s.accepted.unwrap().usd, 1000);
        assert!(!s.accept_held());
    }

    #[test]
    fn after_the_max_wait_the_last_accepted_price_is_used_and_said() {
        let mut s = PriceState::default();
        s.judge(q(100, 0), 0, &RULES);
        assert!(matches!(
            s.judge(Err("x".into()), 100, &RULES),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            s.judge(Err("x".into()), 100 + 12 * 3600 - 1, &RULES),
            Verdict::Wait(_)
        ));
        match s.judge(Err("x".into()), 100 + 12 * 3600, &RULES) {
            Verdict::UseLast(l, why) => {
                assert_eq!(l.usd, 100);
                assert!(why.contains("12 h"), "{why}");
            }
            v => panic!("{v:?}"),
        }
        // With no accepted price ever, there is nothing to fall back on.
        let mut fresh = PriceState::default();
        assert!(matches!(
            fresh.judge(Err("x".into()), 0, &RULES),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            fresh.judge(Err("x".into()), 13 * 3600, &RULES),
            Verdict::Wait(_)
        ));
    }
}
