//! The lifecycle state machine of SPEC.md.

use serde::{Deserialize, Serialize};

/// Where an operation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    AwaitingFunds,
    Funded,
    Launching,
    Active,
    LowFunds,
    Ended,
    Closed,
    Cancelled,
    Expired,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an operation cannot go from {from} to {to}")]
pub struct InvalidTransition {
    pub from: State,
    pub to: State,
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 9] = [
        State::AwaitingFunds,
        State::Funded,
        State::Launching,
        State::Active,
        State::LowFunds,
        State::Ended,
        State::Closed,
        State::Cancelled,
        State::Expired,
    ];

    /// The name used in URLs, JSON and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::AwaitingFunds => "awaiting_funds",
            State::Funded => "funded",
            State::Launching => "launching",
            State::Active => "active",
            State::LowFunds => "low_funds",
            State::Ended => "ended",
            State::Closed => "closed",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
        }
    }

    /// A phrase for visitors.
    pub fn label(&self) -> &'static str {
        match self {
            State::AwaitingFunds => "Awaiting funds",
            State::Funded => "Funded, launch queued",
            State::Launching => "Launching",
            State::Active => "Active",
            State::LowFunds => "Low funds",
            State::Ended => "Ended (refill to relaunch)",
            State::Closed => "Closed",
            State::Cancelled => "Cancelled",
            State::Expired => "Expired (a payment revives it)",
        }
    }

    /// Whether the state allows going to `to`.
    pub fn can_go(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (AwaitingFunds, Funded | Expired | Cancelled)
                | (Funded, Launching | Ended | Cancelled)
                | (Launching, Active | Funded | Ended | Cancelled)
                | (Active, LowFunds | Ended | Funded | Cancelled | Launching)
                | (LowFunds, Active | Ended | Funded | Cancelled | Launching)
                | (Ended, Closed | Funded)
                | (Closed, Funded)
                | (Expired, AwaitingFunds | Funded | Cancelled)
        )
    }

    /// The state after going to `to`, or why that is not allowed.
    pub fn go(self, to: State) -> Result<State, InvalidTransition> {
        if self.can_go(to) {
            Ok(to)
        } else {
            Err(InvalidTransition { from: self, to })
        }
    }

    /// A node exists (or is being made) and is billed.
    pub fn has_node(&self) -> bool {
        matches!(self, State::Launching | State::Active | State::LowFunds)
    }

    /// Whether a refill relaunches the operation.
    pub fn refillable(&self) -> bool {
        matches!(self, State::Ended | State::Closed | State::Expired)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::State::{self, *};

    #[test]
    fn lifecycle_paths_of_the_spec() {
        let path = [
            AwaitingFunds,
            Funded,
            Launching,
            Active,
            LowFunds,
            Active,
            LowFunds,
            Ended,
            Closed,
            Funded,
        ];
        for w in path.windows(2) {
            assert_eq!(w[0].go(w[1]), Ok(w[1]), "{} -> {}", w[0], w[1]);
        }
        assert!(Ended.can_go(Funded), "refill from ended relaunches");
        assert!(
            Expired.can_go(Funded) && Expired.can_go(AwaitingFunds),
            "a late payment revives"
        );
        assert!(
            Active.can_go(Funded),
            "a vanished droplet goes back to funded"
        );
        assert!(
            Active.can_go(Launching) && LowFunds.can_go(Launching),
            "a dead node is rebuilt on a fresh droplet"
        );
    }

    #[test]
    fn every_transition_is_listed() {
        let allowed: &[(State, State)] = &[
            (AwaitingFunds, Funded),
            (AwaitingFunds, Expired),
            (AwaitingFunds, Cancelled),
            (Funded, Launching),
            (Funded, Ended),
            (Funded, Cancelled),
            (Launching, Active),
            (Launching, Funded),
            (Launching, Ended),
            (Launching, Cancelled),
            (Active, LowFunds),
            (Active, Ended),
            (Active, Funded),
            (Active, Cancelled),
            (Active, Launching),
            (LowFunds, Active),
            (LowFunds, Ended),
            (LowFunds, Funded),
            (LowFunds, Cancelled),
            (LowFunds, Launching),
            (Ended, Closed),
            (Ended, Funded),
            (Closed, Funded),
            (Expired, AwaitingFunds),
            (Expired, Funded),
            (Expired, Cancelled),
        ];
        for from in State::ALL {
            for to in State::ALL {
                let expect = allowed.contains(&(from, to));
                assert_eq!(from.can_go(to), expect, "{from} -> {to}");
                assert_eq!(from.go(to).is_err(), !expect);
            }
        }
    }

    #[test]
    fn cancelled_is_final_and_names_round_trip() {
        assert!(State::ALL.iter().all(|s| !Cancelled.can_go(*s)));
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
        }
    }
}
