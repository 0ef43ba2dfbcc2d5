//! The per-peer session state machine (being written; this is the agreed interface).

use std::time::Duration;

use super::{Action, Event, Negotiated, SessionConfig, State};

/// One BGP session: all of RFC 4271 §8 for one configured peer, including collision handling.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    negotiated: Option<Negotiated>,
}

impl Session {
    /// A session in Idle.
    pub fn new(config: SessionConfig) -> Session {
        Session {
            config,
            state: State::Idle,
            negotiated: None,
        }
    }

    /// Feeds one event at time `now`; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Duration) -> Vec<Action> {
        let _ = (event, now);
        Vec::new()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// What was negotiated, while Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// The configuration this session runs with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }
}
