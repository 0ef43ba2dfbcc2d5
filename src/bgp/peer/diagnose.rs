//! Why a session gets no connection, for the log and `/status` `last_error`. The kernel drops
//! TCP segments with a wrong or missing MD5 signature (RFC 2385) without a word to either
//! side: a password mismatch looks exactly like a peer that does not answer. What there is to
//! go on: our connects time out, and this network namespace's `TcpExt` counters
//! (`TCPMD5Failure`, `TCPMD5NotFound`, `TCPMD5Unexpected` in `/proc/net/netstat`) rise when
//! the peer's segments are the ones dropped here.

use std::time::{Duration, Instant};

use super::PeerTask;
use crate::model::PeerSpec;

/// How often a session that is not Established looks at the counters.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The kernel's TCP MD5 drop counters of this network namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Md5Drops {
    /// Segments whose signature did not match the key (`TCPMD5Failure`).
    pub wrong: u64,
    /// Unsigned segments from an address we hold a key for (`TCPMD5NotFound`).
    pub unsigned: u64,
    /// Signed segments from an address we hold no key for (`TCPMD5Unexpected`).
    pub unexpected: u64,
}

impl Md5Drops {
    /// Reads this namespace's counters; `None` where the kernel does not have them.
    pub fn read() -> Option<Md5Drops> {
        parse_netstat(&std::fs::read_to_string("/proc/net/netstat").ok()?)
    }

    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &Md5Drops) -> Md5Drops {
        Md5Drops {
            wrong: self.wrong.saturating_sub(earlier.wrong),
            unsigned: self.unsigned.saturating_sub(earlier.unsigned),
            unexpected: self.unexpected.saturating_sub(earlier.unexpected),
        }
    }
}

/// The `TcpExt` MD5 counters of `/proc/net/netstat` (a header line of names, then a line of
/// values with the same prefix).
pub fn parse_netstat(text: &str) -> Option<Md5Drops> {
    let mut lines = text.lines();
    while let Some(names) = lines.next() {
        let values = lines.next()?;
        let Some(names) = names.strip_prefix("TcpExt:") else {
            continue;
        };
        let values = values.strip_prefix("TcpExt:")?;
        let pairs: Vec<(&str, u64)> = names
            .split_whitespace()
            .zip(values.split_whitespace())
            .filter_map(|(n, v)| Some((n, v.parse().ok()?)))
            .collect();
        let get = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        return Some(Md5Drops {
            wrong: get("TCPMD5Failure")?,
            unsigned: get("TCPMD5NotFound").unwrap_or(0),
            unexpected: get("TCPMD5Unexpected").unwrap_or(0),
        });
    }
    None
}

/// The hint for a password: what a mismatch looks like.
fn password_hint(peer: &PeerSpec) -> &'static str {
    if peer.password.is_some() {
        "; a TCP MD5 password is configured for this peer: a password mismatch on either side \
         (or a peer without one) looks exactly like this, because the kernel drops badly \
         signed segments silently"
    } else {
        ""
    }
}

/// Our connection attempt got no answer before ConnectRetryTimer expired.
pub fn connect_timed_out(peer: &PeerSpec, after: Duration) -> String {
    format!(
        "connect: no answer from {}:{} within {} s{}",
        peer.address,
        peer.port,
        after.as_secs(),
        password_hint(peer)
    )
}

/// What a check of a session that is not Established finds, if anything worth saying:
/// `dropped` is what the kernel counted since the last check, `accepted` whether a connection
/// from the peer arrived since then.
pub fn check(peer: &PeerSpec, dropped: &Md5Drops, accepted: bool) -> Option<String> {
    let secs = CHECK_EVERY.as_secs();
    // The counters are the namespace's: only the kind that fits this peer's configuration.
    let relevant = if peer.password.is_some() {
        dropped.wrong + dropped.unsigned > 0
    } else {
        dropped.unexpected > 0
    };
    if relevant {
        let advice = if peer.password.is_some() {
            "a TCP MD5 password is configured for this peer: check that both sides use the same one"
        } else {
            "this peer has no password: if the router is configured with one, add it here"
        };
        return Some(format!(
            "no working connection; in the last {secs} s the kernel dropped TCP segments with a \
             wrong ({}), missing ({}) or unexpected ({}) MD5 signature in this network namespace \
             (TCPMD5Failure/NotFound/Unexpected in /proc/net/netstat); {advice}",
            dropped.wrong, dropped.unsigned, dropped.unexpected
        ));
    }
    (peer.passive && peer.password.is_some() && !accepted).then(|| {
        format!(
            "passive: no connection from {} in the last {secs} s{}",
            peer.address,
            password_hint(peer)
        )
    })
}

impl PeerTask {
    /// Every few seconds while not Established: what the kernel's TCP MD5 counters or a
    /// silent passive session suggest (see `diagnose`).
    pub(super) fn check_transport(&mut self) {
        self.check_at = Instant::now() + CHECK_EVERY;
        if self.established.is_some() {
            self.md5_drops = None; // nothing to explain: no reads while up
            return;
        }
        let now = Md5Drops::read();
        let dropped = match (&now, &self.md5_drops) {
            (Some(n), Some(before)) => n.since(before),
            _ => Md5Drops::default(),
        };
        self.md5_drops = now;
        let accepted = std::mem::take(&mut self.accepted_since_check);
        if self.stopping || self.held_by_bfd {
            return;
        }
        if let Some(text) = check(&self.context.peer, &dropped, accepted) {
            self.hint(text);
        }
    }

    /// Records a likely cause as the session's last error; logs it unless it was the last
    /// one logged (counts aside).
    pub(super) fn hint(&mut self, text: String) {
        let key: String = text.chars().filter(|c| !c.is_ascii_digit()).collect();
        if self.hinted.as_ref() != Some(&key) {
            tracing::warn!(peer = %self.context.peer.name, "{text}");
            self.hinted = Some(key);
        }
        self.status_mut(|s| s.last_error = Some(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::peer::{validate, PeerInput};

    const NETSTAT: &str = "TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure\n\
                           TcpExt: 0 2 1 7\n\
                           IpExt: InNoRoutes\n\
                           IpExt: 0\n";

    fn peer(password: Option<&str>, passive: bool) -> PeerSpec {
        let input = PeerInput {
            address: Some("192.0.2.1".into()),
            asn: Some(64500),
            password: password.map(str::to_string),
            passive: Some(passive),
            ..PeerInput::default()
        };
        validate(&input, None, &Default::default())
            .0
            .expect("a valid peer")
    }

    #[test]
    fn netstat_md5_counters_are_read_by_name() {
        let d = parse_netstat(NETSTAT).expect("counters");
        assert_eq!(
            d,
            Md5Drops {
                wrong: 7,
                unsigned: 2,
                unexpected: 1
            }
        );
        assert_eq!(parse_netstat("IpExt: a\nIpExt: 1\n"), None);
        assert_eq!(parse_netstat("TcpExt: TCPMD5Failure\nTcpExt: x\n"), None);
    }

    #[test]
    fn a_connect_time_out_with_a_password_names_the_password() {
        let text = connect_timed_out(&peer(Some("s"), false), Duration::from_secs(5));
        assert!(text.starts_with("connect: no answer from 192.0.2.1:179 within 5 s"));
        assert!(text.contains("TCP MD5 password is configured"), "{text}");
        let plain = connect_timed_out(&peer(None, false), Duration::from_secs(5));
        assert!(!plain.contains("MD5"), "{plain}");
    }

    #[test]
    fn drops_counted_by_the_kernel_are_reported_with_the_right_advice() {
        let drops = Md5Drops {
            wrong: 3,
            ..Md5Drops::default()
        };
        let with = check(&peer(Some("s"), false), &drops, false).expect("a hint");
        assert!(
            with.contains("wrong (3)") && with.contains("same one"),
            "{with}"
        );
        assert_eq!(check(&peer(None, false), &drops, true), None);
        let signed = Md5Drops {
            unexpected: 1,
            ..Md5Drops::default()
        };
        let without = check(&peer(None, false), &signed, true).expect("a hint");
        assert!(without.contains("add it here"), "{without}");
        assert_eq!(check(&peer(None, true), &Md5Drops::default(), false), None);
    }

    #[test]
    fn a_silent_passive_session_with_a_password_says_what_a_mismatch_looks_like() {
        let quiet = Md5Drops::default();
        let text = check(&peer(Some("s"), true), &quiet, false).expect("a hint");
        assert!(
            text.starts_with("passive: no connection from 192.0.2.1"),
            "{text}"
        );
        assert_eq!(check(&peer(Some("s"), true), &quiet, true), None);
        assert_eq!(check(&peer(Some("s"), false), &quiet, false), None);
    }
}
