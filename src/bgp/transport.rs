//! The TTL rules of a session's TCP connection: eBGP one hop by default, `ebgp_multihop`, GTSM
//! (RFC 5082: send 255, accept only 255 - (hops - 1)), and what the one listening socket that
//! every peer shares can enforce before a connection is known to belong to a peer.
//!
//! The same rule applies to the connections ferrolb opens ([`super::conn`]) and to the ones it
//! accepts: an accepted socket gets its peer's settings as soon as the listener has matched its
//! source address to a peer, before our OPEN goes out.

use std::io;
use std::os::fd::AsRawFd;

use super::sockopt;
use crate::model::PeerSpec;

/// TTL settings of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl {
    /// Outgoing TTL / hop limit; `None` = the system default (64).
    pub send: Option<u8>,
    /// GTSM: the lowest TTL accepted on received segments; 0 = no check.
    pub min: u8,
}

/// The TTL rule of a session: GTSM when `ttl_security` (with `ebgp_multihop` as the hop
/// count), else `ebgp_multihop` as the outgoing TTL, else 1 for eBGP (a directly connected
/// peer, as BIRD, FRR and Cisco do by default) and the system default for iBGP.
pub fn session_ttl(peer: &PeerSpec, ibgp: bool) -> Ttl {
    let hops = peer.ebgp_multihop.unwrap_or(1).max(1);
    match (peer.ttl_security, peer.ebgp_multihop) {
        (true, _) => Ttl {
            send: Some(255),
            min: 255 - (hops - 1),
        },
        (false, Some(ttl)) => Ttl {
            send: Some(ttl),
            min: 0,
        },
        (false, None) if ibgp => Ttl { send: None, min: 0 },
        (false, None) => Ttl {
            send: Some(1),
            min: 0,
        },
    }
}

/// What the listening socket enforces for every peer at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerTtl {
    /// TTL of the SYN-ACKs the kernel sends from the listener: 255 when any peer uses GTSM
    /// (its router drops a SYN-ACK below 255 before the connection exists), else the default.
    pub send: Option<u8>,
    /// `IP_MINTTL` for IPv4 SYNs: the lowest GTSM minimum when every IPv4 peer uses GTSM, else
    /// 0 (one peer without GTSM must still be able to connect from any distance; its
    /// connections are checked per peer once accepted).
    pub min_v4: u8,
    /// `IPV6_MINHOPCOUNT` for IPv6 SYNs, by the same rule over the IPv6 peers.
    pub min_v6: u8,
}

/// The listener's settings for `peers` (see [`ListenerTtl`]).
pub fn listener_ttl(peers: &[PeerSpec]) -> ListenerTtl {
    let min_of = |v6: bool| {
        let family: Vec<&PeerSpec> = peers.iter().filter(|p| p.address.is_ipv6() == v6).collect();
        if family.is_empty() || !family.iter().all(|p| p.ttl_security) {
            return 0;
        }
        family
            .iter()
            .map(|p| session_ttl(p, false).min)
            .min()
            .unwrap_or(0)
    };
    ListenerTtl {
        send: peers.iter().any(|p| p.ttl_security).then_some(255),
        min_v4: min_of(false),
        min_v6: min_of(true),
    }
}

/// Applies a session's TTL rule to a socket towards a peer of family `v6` (an IPv4 peer on a
/// dual-stack listener's accepted socket takes the IPv4 options, which the kernel applies to
/// IPv4-mapped traffic).
pub fn apply_session(sock: &impl AsRawFd, v6: bool, ttl: Ttl) -> io::Result<()> {
    sockopt::set_ttl_or_default(sock, v6, ttl.send.map(u32::from))?;
    sockopt::set_min_ttl(sock, v6, u32::from(ttl.min))
}

/// Applies the listener's settings; a dual-stack (IPv6) listener gets both families' options.
/// The listener also saves every SYN (`TCP_SAVE_SYN`), so that an accepted connection's SYN
/// TTL can be checked against its own peer's GTSM minimum ([`check_syn`]).
pub fn apply_listener(sock: &impl AsRawFd, dual_stack: bool, ttl: ListenerTtl) -> io::Result<()> {
    sockopt::set_save_syn(sock, true)?;
    sockopt::set_ttl_or_default(sock, false, ttl.send.map(u32::from))?;
    sockopt::set_min_ttl(sock, false, u32::from(ttl.min_v4))?;
    if dual_stack {
        sockopt::set_ttl_or_default(sock, true, ttl.send.map(u32::from))?;
        sockopt::set_min_ttl(sock, true, u32::from(ttl.min_v6))?;
    }
    Ok(())
}

/// An accepted connection that must not be used.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "its SYN arrived with TTL {ttl}, below this peer's GTSM minimum {min} (ttl_security: \
         255 less the ebgp_multihop hops beyond the first); is the peer configured for TTL \
         security (BIRD `ttl security on`, FRR `neighbor X ttl-security hops N`) and no \
         further away?"
    )]
    BelowMinimum { ttl: u8, min: u8 },
    #[error("cannot set its TTL / GTSM options: {0}")]
    Io(#[from] io::Error),
}

/// Checks an accepted connection against its peer's rule, before anything is sent on it: the
/// SYN's TTL (the listener saved it) against the GTSM minimum, which the listener itself can
/// enforce only when every peer of the family uses GTSM; then the socket gets the rule for
/// the rest of the connection.
pub fn check_syn(sock: &impl AsRawFd, v6: bool, ttl: Ttl) -> Result<(), Refused> {
    if ttl.min > 0 {
        if let Some(syn) = sockopt::saved_syn_ttl(sock)?.filter(|t| *t < ttl.min) {
            return Err(Refused::BelowMinimum {
                ttl: syn,
                min: ttl.min,
            });
        }
    }
    apply_session(sock, v6, ttl)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::peer::{validate, PeerInput};

    fn peer(address: &str, multihop: Option<i64>, gtsm: bool) -> PeerSpec {
        let input = PeerInput {
            address: Some(address.into()),
            asn: Some(64500),
            ebgp_multihop: multihop,
            ttl_security: Some(gtsm),
            ..PeerInput::default()
        };
        validate(&input, None, &Default::default())
            .0
            .expect("a valid peer")
    }

    #[test]
    fn ebgp_is_one_hop_by_default_and_ibgp_keeps_the_system_default() {
        let p = peer("192.0.2.1", None, false);
        assert_eq!(
            session_ttl(&p, false),
            Ttl {
                send: Some(1),
                min: 0
            }
        );
        assert_eq!(session_ttl(&p, true), Ttl { send: None, min: 0 });
    }

    #[test]
    fn ebgp_multihop_is_the_outgoing_ttl_without_a_minimum() {
        let p = peer("192.0.2.1", Some(2), false);
        assert_eq!(
            session_ttl(&p, false),
            Ttl {
                send: Some(2),
                min: 0
            }
        );
        assert_eq!(
            session_ttl(&p, true),
            Ttl {
                send: Some(2),
                min: 0
            }
        );
    }

    #[test]
    fn gtsm_sends_255_and_accepts_255_less_the_hops_beyond_the_first() {
        let direct = peer("192.0.2.1", None, true);
        assert_eq!(
            session_ttl(&direct, false),
            Ttl {
                send: Some(255),
                min: 255
            }
        );
        let two = peer("192.0.2.1", Some(2), true);
        assert_eq!(
            session_ttl(&two, true),
            Ttl {
                send: Some(255),
                min: 254
            }
        );
        let far = peer("192.0.2.1", Some(255), true);
        assert_eq!(session_ttl(&far, false).min, 1);
    }

    #[test]
    fn the_listener_enforces_a_minimum_only_when_every_peer_of_the_family_uses_gtsm() {
        let all = [
            peer("192.0.2.1", None, true),
            peer("192.0.2.3", Some(2), true),
        ];
        let l = listener_ttl(&all);
        assert_eq!((l.send, l.min_v4, l.min_v6), (Some(255), 254, 0));
        let mixed = [
            peer("192.0.2.1", None, true),
            peer("192.0.2.3", None, false),
        ];
        let l = listener_ttl(&mixed);
        assert_eq!((l.send, l.min_v4, l.min_v6), (Some(255), 0, 0));
        let v6 = [
            peer("192.0.2.1", None, false),
            peer("2001:db8::1", None, true),
        ];
        let l = listener_ttl(&v6);
        assert_eq!((l.send, l.min_v4, l.min_v6), (Some(255), 0, 255));
        let none = [peer("192.0.2.1", Some(3), false)];
        assert_eq!(
            listener_ttl(&none),
            ListenerTtl {
                send: None,
                min_v4: 0,
                min_v6: 0
            }
        );
    }
}
