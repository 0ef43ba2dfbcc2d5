//! The peer task when a session goes down: the log line and status for each reason (with the
//! next attempt), and the reset of a connection whose peer stopped reading.

use super::PeerTask;
use crate::fsm::{ConnId, DownReason, Event, Timer};

impl PeerTask {
    /// A connection whose send queue overflowed belongs to a peer that stopped reading: the
    /// session is reset (the other peers never wait on it: each has its own task and queue).
    pub(super) fn check_send_queues(&mut self) {
        let full: Vec<(ConnId, usize, usize)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.queue.overflowed())
            .map(|(id, c)| (*id, c.queue.queued(), c.queue.limit()))
            .collect();
        for (id, queued, limit) in full {
            tracing::warn!(
                peer = %self.context.peer.name,
                queued,
                limit,
                "peer {} stopped reading: {queued} bytes queued for it, the next message would pass the send queue limit ({limit} bytes); resetting the connection",
                self.context.peer.name
            );
            self.down_reason = Some(format!(
                "send queue full ({queued} bytes waiting, limit {limit}): peer stopped reading"
            ));
            self.status_mut(|s| s.counters.send_queue_resets += 1);
            self.feed(Event::SendQueueFull(id));
            // The FSM closed it; make sure it is gone even if it was not the session's.
            self.close(id);
        }
    }

    pub(super) fn on_down(&mut self, reason: DownReason) {
        let retry = self
            .timers
            .get(&Timer::IdleHold)
            .map(|at| at.saturating_sub(self.now()));
        let next = retry.map_or(String::new(), |d| {
            format!("; next attempt in {} s", d.as_secs_f64().round())
        });
        let name = &self.context.peer.name;
        let text = match &reason {
            DownReason::NotificationSent(n) => format!("sent NOTIFICATION {n}"),
            DownReason::NotificationReceived(n) => format!("received NOTIFICATION {n}"),
            DownReason::ConnectionClosed => "connection closed".to_string(),
            DownReason::Stopped => "stopped".to_string(),
            DownReason::PrefixLimit {
                limit, received, ..
            } => {
                format!("prefix limit {limit} exceeded by peer {name} ({received} received){next}")
            }
            DownReason::SendQueueFull => self
                .down_reason
                .clone()
                .unwrap_or_else(|| "send queue full".into()),
        };
        match &reason {
            DownReason::PrefixLimit { .. } => tracing::warn!(peer = %name, "{text}"),
            _ => {
                let retry_in_s = retry.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64()));
                tracing::warn!(peer = %name, reason = %text, %retry_in_s, "session down")
            }
        }
        self.down_reason = Some(text.clone());
        self.rib.clear();
        self.established = None;
        let received = match &reason {
            DownReason::NotificationReceived(n) => Some((n.code, n.subcode)),
            _ => None,
        };
        let tripped = matches!(reason, DownReason::PrefixLimit { .. });
        self.status_mut(|s| {
            if s.established_since.is_some() {
                s.counters.flaps += 1;
            }
            if let Some(key) = received {
                *s.counters.notifications_received.entry(key).or_default() += 1;
            }
            if tripped {
                s.counters.prefix_limit_trips += 1;
            }
            s.last_error = Some(text);
            s.established_since = None;
            s.negotiated = None;
            s.prefixes_received = 0;
            s.clear_announced();
        });
    }
}
