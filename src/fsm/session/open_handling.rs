//! The session's OPEN handling (checks, hold-time negotiation, collision resolution §6.8), the
//! failure path with back-off, and small helpers for timers and connections.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Phase, Session, STABLE};
use crate::fsm::{Action, ConnId, Direction, DownReason, Negotiated, Timer};
use crate::packet::codes::{CeaseSubcode, OpenSubcode};
use crate::packet::message::{
    Capabilities, Family, GracefulRestart, Message, Notification, Open, AS_TRANS,
};

impl Session {
    /// Event 19 on a connection in OpenSent.
    pub(super) fn open_received(&mut self, id: ConnId, open: Open, now: Duration) {
        if let Err(n) = self.check_open(&open) {
            self.drop_conn(id, Some(n.clone()), now, DownReason::NotificationSent(n));
            return;
        }
        if !self.resolve_collision(id, &open, now) {
            return;
        }
        self.conns.insert(id, Phase::OpenConfirm(open.clone()));
        self.send(id, Message::Keepalive);
        let hold = self.negotiated_hold(&open);
        if hold == 0 {
            self.cancel(self.hold_timer_of(id));
        } else {
            self.arm(
                self.hold_timer_of(id),
                now + Duration::from_secs(hold.into()),
            );
        }
        if let Some(ka) = self.keepalive_for(hold) {
            self.arm(Timer::Keepalive, now + ka);
        }
    }

    /// OPEN checks that need the session's configuration (the codec did the syntax).
    fn check_open(&self, open: &Open) -> Result<(), Notification> {
        if open.asn() != self.config.peer_asn {
            return Err(Notification::open(OpenSubcode::BadPeerAs));
        }
        let ibgp = self.config.peer_asn == self.config.local_asn;
        let id = u32::from(open.router_id);
        if id == 0 || (ibgp && open.router_id == self.config.local_router_id) {
            return Err(Notification::open(OpenSubcode::BadBgpIdentifier));
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            return Err(Notification::open(OpenSubcode::UnacceptableHoldTime));
        }
        Ok(())
    }

    /// §6.8: an OPEN on `id` while another connection is in OpenConfirm or Established.
    /// Returns whether `id` survives.
    fn resolve_collision(&mut self, id: ConnId, open: &Open, now: Duration) -> bool {
        let other = self.conns.iter().find_map(|(o, p)| match p {
            Phase::OpenConfirm(_) | Phase::Established(_) if *o != id => Some((*o, p.clone())),
            _ => None,
        });
        let Some((other, phase)) = other else {
            return true;
        };
        let cease = Notification::cease(CeaseSubcode::ConnectionCollisionResolution);
        if matches!(phase, Phase::Established(_)) {
            self.drop_conn(id, Some(cease), now, DownReason::ConnectionClosed);
            return false;
        }
        let local = u32::from(self.config.local_router_id);
        let remote = u32::from(open.router_id);
        // The lower identifier gives up the connection it initiated.
        let loser_dir = if local < remote {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let (loser, keep) = if id.direction == loser_dir {
            (id, false)
        } else {
            (other, true)
        };
        self.drop_conn(loser, Some(cease), now, DownReason::ConnectionClosed);
        keep
    }

    /// Event 26 in OpenConfirm: the session is up.
    pub(super) fn establish(&mut self, id: ConnId, open: Open, now: Duration) {
        let hold = self.negotiated_hold(&open);
        let negotiated = Negotiated {
            conn: id,
            peer_router_id: open.router_id,
            peer_asn: open.asn(),
            hold_time: hold,
            keepalive_time: self.keepalive_for(hold).map_or(0, |d| d.as_secs() as u16),
            families: self.common_families(&open.capabilities),
            four_octet_as: open.capabilities.four_octet_as.is_some(),
            route_refresh: open.capabilities.route_refresh,
            extended_message: self.config.extended_message && open.capabilities.extended_message,
            peer_graceful_restart: open.capabilities.graceful_restart.clone(),
        };
        self.was_established = true;
        self.received.clear();
        self.conns.insert(id, Phase::Established(open));
        self.established_at = Some(now);
        self.negotiated = Some(negotiated.clone());
        self.restart_hold(id, now);
        self.out.push(Action::Established(negotiated));
    }

    pub(super) fn restart_hold(&mut self, id: ConnId, now: Duration) {
        if let Some(n) = &self.negotiated {
            if n.hold_time > 0 {
                let at = now + Duration::from_secs(n.hold_time.into());
                self.arm(self.hold_timer_of(id), at);
            }
        }
    }

    /// Closes one connection (after `notify`, if any). When it was the last one the session
    /// fails: Idle, back-off armed, Down reported.
    pub(super) fn drop_conn(
        &mut self,
        id: ConnId,
        notify: Option<Notification>,
        now: Duration,
        reason: DownReason,
    ) {
        if let Some(n) = notify {
            self.send(id, Message::Notification(n));
        }
        let was_established = matches!(self.conns.get(&id), Some(Phase::Established(_)));
        self.close(id);
        let others_open = self.conns.values().any(|p| *p != Phase::Pending);
        if others_open && !was_established {
            return; // a collision loser: the other connection carries on
        }
        self.fail(now, reason);
    }

    fn fail(&mut self, now: Duration, reason: DownReason) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            if self.conns.get(&id) != Some(&Phase::Pending) {
                self.send(
                    id,
                    Message::Notification(Notification::cease(CeaseSubcode::Unspecific)),
                );
            }
            self.close(id);
        }
        for t in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            self.cancel(t);
        }
        let stable = self
            .established_at
            .take()
            .is_some_and(|at| now.saturating_sub(at) >= self.config.idle_hold_max.min(STABLE));
        self.negotiated = None;
        self.received.clear();
        self.connect_retry_counter = self.connect_retry_counter.saturating_add(1);
        self.running = false;
        let delay = if matches!(reason, DownReason::PrefixLimit { .. }) {
            self.prefix_trips = self.prefix_trips.saturating_add(1);
            self.prefix_limit_backoff(self.prefix_trips)
        } else {
            if stable {
                self.failures = 0;
                self.prefix_trips = 0;
            }
            self.failures = self.failures.saturating_add(1);
            self.backoff(self.failures)
        };
        self.arm(Timer::IdleHold, now + delay);
        self.out.push(Action::Down(reason));
    }

    pub(super) fn close(&mut self, id: ConnId) {
        if self.conns.remove(&id).is_some() {
            self.out.push(Action::Close(id));
        }
        if self.primary == Some(id) {
            self.cancel(Timer::Hold);
            self.primary = None;
            // Promote a surviving connection: its collision hold timer becomes the Hold timer.
            let next = self.conns.iter().find_map(|(id, p)| match p {
                Phase::Pending => None,
                Phase::OpenSent => Some((*id, super::LARGE_HOLD)),
                Phase::OpenConfirm(o) | Phase::Established(o) => {
                    let hold = self.negotiated_hold(o);
                    Some((*id, Duration::from_secs(hold.into())))
                }
            });
            if let Some((next, hold)) = next {
                self.primary = Some(next);
                self.cancel(Timer::CollisionHold(next));
                if hold > Duration::ZERO {
                    self.arm(Timer::Hold, self.now + hold);
                }
            }
        } else {
            self.cancel(Timer::CollisionHold(id));
        }
    }

    pub(super) fn send(&mut self, id: ConnId, msg: Message) {
        self.out.push(Action::Send(id, msg));
    }

    pub(super) fn arm(&mut self, timer: Timer, at: Duration) {
        self.out.push(Action::ArmTimer(timer, at));
    }

    pub(super) fn cancel(&mut self, timer: Timer) {
        self.out.push(Action::CancelTimer(timer));
    }

    pub(super) fn has_open_conn(&self) -> bool {
        self.conns.values().any(|p| *p != Phase::Pending)
    }

    pub(super) fn is_established(&self) -> bool {
        self.conns
            .values()
            .any(|p| matches!(p, Phase::Established(_)))
    }

    pub(super) fn pending_ids(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, p)| **p == Phase::Pending)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(super) fn hold_timer_of(&self, id: ConnId) -> Timer {
        if self.primary == Some(id) {
            Timer::Hold
        } else {
            Timer::CollisionHold(id)
        }
    }

    pub(super) fn our_open(&self) -> Open {
        let asn = self.config.local_asn;
        Open {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time: self.config.hold_time,
            router_id: self.config.local_router_id,
            capabilities: Capabilities {
                families: self.config.families.clone(),
                four_octet_as: Some(asn),
                route_refresh: true,
                extended_message: self.config.extended_message,
                graceful_restart: self.config.graceful_restart_time.map(|t| GracefulRestart {
                    restarting: !self.was_established,
                    restart_time: t.min(4095),
                    // Forwarding to service addresses does not depend on this process: the F bit
                    // is set for every family.
                    families: self.config.families.iter().map(|f| (*f, true)).collect(),
                }),
            },
        }
    }

    /// Hold time: the lower of both proposals (0 means no hold timer and no keepalives).
    fn negotiated_hold(&self, open: &Open) -> u16 {
        self.config.hold_time.min(open.hold_time)
    }

    /// Keepalive interval for a negotiated hold time: ours, at most a third of the hold time.
    fn keepalive_for(&self, hold: u16) -> Option<Duration> {
        if hold == 0 {
            return None;
        }
        let third = (hold / 3).max(1);
        let ka = match self.config.keepalive_time {
            0 => third,
            k => k.min(third),
        };
        Some(Duration::from_secs(ka.into()))
    }

    pub(super) fn keepalive_interval(&self) -> Option<Duration> {
        let hold = self.negotiated.as_ref().map(|n| n.hold_time).or_else(|| {
            self.conns.values().find_map(|p| match p {
                Phase::OpenConfirm(o) => Some(self.negotiated_hold(o)),
                _ => None,
            })
        })?;
        self.keepalive_for(hold)
    }

    /// Families both sides offered; a peer without the MP capability speaks IPv4 unicast only.
    fn common_families(&self, peer: &Capabilities) -> BTreeSet<Family> {
        let theirs: BTreeSet<Family> = if peer.families.is_empty() {
            [Family::Ipv4Unicast].into()
        } else {
            peer.families.clone()
        };
        let ours: BTreeSet<Family> = if self.config.families.is_empty() {
            [Family::Ipv4Unicast].into()
        } else {
            self.config.families.clone()
        };
        ours.intersection(&theirs).copied().collect()
    }
}
