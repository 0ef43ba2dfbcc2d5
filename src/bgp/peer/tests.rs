//! The peer task's pure helpers: capability names for `/status`, IPv4-mapped addresses.

use super::*;
use crate::packet::message::Family;

fn established(four_octet_as: bool, gr: bool) -> Option<Established> {
    let negotiated = Negotiated {
        conn: ConnId {
            direction: Direction::Outbound,
            seq: 1,
        },
        peer_router_id: "192.0.2.1".parse().expect("id"),
        peer_asn: 64500,
        hold_time: 9,
        keepalive_time: 3,
        families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
        four_octet_as,
        route_refresh: true,
        extended_message: false,
        peer_graceful_restart: gr.then(Default::default),
    };
    Some(Established {
        conn: negotiated.conn,
        negotiated,
        params: CodecParams::default(),
        local: "192.0.2.10".parse().expect("ip"),
    })
}

#[test]
fn status_names_the_families_and_capabilities_the_session_negotiated() {
    assert_eq!(
        capability_names(&established(true, false)),
        [
            "mp-ipv4-unicast",
            "mp-ipv6-unicast",
            "four-octet-as",
            "route-refresh"
        ]
    );
    assert!(capability_names(&established(false, true)).contains(&"graceful-restart".to_string()));
    assert!(capability_names(&None).is_empty());
}

#[test]
fn an_ipv4_mapped_address_is_reported_as_ipv4() {
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
    assert_eq!(unmap(mapped), "192.0.2.1".parse::<IpAddr>().expect("ip"));
    let v6: IpAddr = "2001:db8::1".parse().expect("ip");
    assert_eq!(unmap(v6), v6);
}
