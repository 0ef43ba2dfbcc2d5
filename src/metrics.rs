//! `/metrics`: the status model in the Prometheus text format (OpenMetrics, prometheus-client).
//! Every scrape builds the families from one consistent read of the model; names start with
//! `ferrolb_`, per-peer series carry `peer` (the peer's name) and `peer_address`.
//!
//! `ferrolb_bfd_session_up` has a series per peer that runs BFD. The L2 (`ferrolb_l2_*`)
//! families of the observability contract come with L2 (prometheus-client encodes no family
//! without a series).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::fsm::State;
use crate::status::session::PeerStatus;
use crate::status::MetricsView;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Peer {
    peer: String,
    peer_address: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerState {
    peer: String,
    peer_address: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerCode {
    peer: String,
    peer_address: String,
    code: String,
    subcode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerFamily {
    peer: String,
    peer_address: String,
    family: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerUpdateError {
    peer: String,
    peer_address: String,
    action: String,
    attribute: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerReason {
    peer: String,
    peer_address: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadResult {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: String,
    commit: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

const STATES: [State; 6] = [
    State::Idle,
    State::Connect,
    State::Active,
    State::OpenSent,
    State::OpenConfirm,
    State::Established,
];

/// The BGP families, filled from the sessions.
#[derive(Default)]
struct Bgp {
    up: Family<Peer, Gauge>,
    state: Family<PeerState, Gauge>,
    flaps: Family<Peer, Counter>,
    resets: Family<PeerReason, Counter>,
    updates_sent: Family<Peer, Counter>,
    updates_received: Family<Peer, Counter>,
    notifications_sent: Family<PeerCode, Counter>,
    notifications_received: Family<PeerCode, Counter>,
    update_errors: Family<PeerUpdateError, Counter>,
    announced: Family<PeerFamily, Gauge>,
    bfd_up: Family<Peer, Gauge>,
}

impl Bgp {
    fn fill(&self, s: &PeerStatus) {
        let peer = Peer {
            peer: s.name.clone(),
            peer_address: s.address.to_string(),
        };
        self.up
            .get_or_create(&peer)
            .set(i64::from(s.state == State::Established));
        for st in STATES {
            let labels = PeerState {
                peer: peer.peer.clone(),
                peer_address: peer.peer_address.clone(),
                state: st.to_string(),
            };
            self.state
                .get_or_create(&labels)
                .set(i64::from(s.state == st));
        }
        if let Some(bfd) = &s.bfd {
            self.bfd_up.get_or_create(&peer).set(i64::from(bfd == "up"));
        }
        let c = &s.counters;
        self.flaps.get_or_create(&peer).inc_by(c.flaps);
        for (reason, n) in [
            ("max_prefixes", c.prefix_limit_trips),
            ("send_queue_full", c.send_queue_resets),
        ] {
            let labels = PeerReason {
                peer: peer.peer.clone(),
                peer_address: peer.peer_address.clone(),
                reason: reason.into(),
            };
            self.resets.get_or_create(&labels).inc_by(n);
        }
        self.updates_sent
            .get_or_create(&peer)
            .inc_by(c.updates_sent);
        self.updates_received
            .get_or_create(&peer)
            .inc_by(c.updates_received);
        let code = |(code, subcode): &(u8, u8)| PeerCode {
            peer: peer.peer.clone(),
            peer_address: peer.peer_address.clone(),
            code: code.to_string(),
            subcode: subcode.to_string(),
        };
        for (k, n) in &c.notifications_sent {
            self.notifications_sent.get_or_create(&code(k)).inc_by(*n);
        }
        for (k, n) in &c.notifications_received {
            self.notifications_received
                .get_or_create(&code(k))
                .inc_by(*n);
        }
        for ((action, attribute), n) in &c.update_errors {
            let labels = PeerUpdateError {
                peer: peer.peer.clone(),
                peer_address: peer.peer_address.clone(),
                action: action.to_string(),
                attribute: attribute.clone(),
            };
            self.update_errors.get_or_create(&labels).inc_by(n.count);
        }
        let v4 = s.announced.keys().filter(|p| p.addr().is_ipv4()).count();
        for (family, n) in [("ipv4", v4), ("ipv6", s.announced.len() - v4)] {
            let labels = PeerFamily {
                peer: peer.peer.clone(),
                peer_address: peer.peer_address.clone(),
                family: family.into(),
            };
            self.announced.get_or_create(&labels).set(n as i64);
        }
    }

    fn register(self, r: &mut Registry) {
        r.register(
            "ferrolb_bgp_session_up",
            "1 while the BGP session is Established",
            self.up,
        );
        r.register(
            "ferrolb_bgp_session_state",
            "1 for the session's current FSM state (RFC 4271 §8.2.2)",
            self.state,
        );
        r.register(
            "ferrolb_bgp_session_flaps",
            "Times an Established session went down",
            self.flaps,
        );
        r.register(
            "ferrolb_bgp_session_resets",
            "Sessions we reset to bound what a peer makes us hold: max_prefixes exceeded (Cease 6/1) or send queue full (the peer stopped reading)",
            self.resets,
        );
        r.register(
            "ferrolb_bgp_updates_sent",
            "UPDATE messages sent (End-of-RIB included)",
            self.updates_sent,
        );
        r.register(
            "ferrolb_bgp_updates_received",
            "UPDATE messages received",
            self.updates_received,
        );
        r.register(
            "ferrolb_bgp_notifications_sent",
            "NOTIFICATION messages sent, by code and subcode",
            self.notifications_sent,
        );
        r.register(
            "ferrolb_bgp_notifications_received",
            "NOTIFICATION messages received, by code and subcode",
            self.notifications_received,
        );
        r.register(
            "ferrolb_bgp_update_errors",
            "Malformed UPDATEs by RFC 7606 action (treat-as-withdraw, attribute-discard, session-reset) and attribute",
            self.update_errors,
        );
        r.register(
            "ferrolb_bgp_announced_prefixes",
            "Prefixes the peer has from us now (Adj-RIB-Out)",
            self.announced,
        );
        r.register(
            "ferrolb_bfd_session_up",
            "1 while the peer's BFD session is Up (RFC 5880); a series only for peers with BFD",
            self.bfd_up,
        );
    }
}

fn allocator(view: &MetricsView, r: &mut Registry) {
    let in_use = Family::<PoolLabel, Gauge>::default();
    let size = Family::<PoolLabel, FloatGauge>::default();
    let failures = Family::<Reason, Counter>::default();
    let leader = Gauge::<i64>::default();
    leader.set(i64::from(view.allocator.is_some()));
    r.register(
        "ferrolb_allocator_leader",
        "1 while this node runs the allocator (standalone: always; Kubernetes: the Lease holder)",
        leader,
    );
    if let Some(a) = &view.allocator {
        for (pool, used, total) in &a.pools {
            let l = PoolLabel { pool: pool.clone() };
            in_use
                .get_or_create(&l)
                .set(i64::try_from(*used).unwrap_or(i64::MAX));
            size.get_or_create(&l).set(*total);
        }
        for (reason, n) in &a.failures {
            failures
                .get_or_create(&Reason {
                    reason: reason.clone(),
                })
                .inc_by(*n);
        }
    }
    r.register(
        "ferrolb_allocator_addresses_in_use",
        "Addresses of the pool held by services",
        in_use,
    );
    r.register(
        "ferrolb_allocator_addresses",
        "Addresses the pool holds",
        size,
    );
    r.register(
        "ferrolb_allocation_failures",
        "Allocations that failed, by reason",
        failures,
    );
}

/// The whole `/metrics` body.
pub fn render(view: &MetricsView) -> String {
    let mut r = Registry::default();
    let bgp = Bgp::default();
    view.sessions.iter().for_each(|s| bgp.fill(s));
    bgp.register(&mut r);
    allocator(view, &mut r);
    let bfd_dropped = Family::<Reason, Counter>::default();
    for (reason, n) in &view.bfd_dropped {
        bfd_dropped
            .get_or_create(&Reason {
                reason: reason.clone(),
            })
            .inc_by(*n);
    }
    r.register(
        "ferrolb_bfd_packets_dropped",
        "BFD packets dropped before reaching a session: malformed, from an unknown session, or with a TTL below the required (255 single-hop, minimum_ttl multihop)",
        bfd_dropped,
    );
    l2(view, &mut r);
    let reloads = Family::<ReloadResult, Counter>::default();
    for (result, n) in &view.reloads {
        reloads
            .get_or_create(&ReloadResult {
                result: result.clone(),
            })
            .inc_by(*n);
    }
    r.register(
        "ferrolb_config_reloads",
        "Configuration reloads (SIGHUP), by result",
        reloads,
    );
    let build = Info::new(Build {
        version: env!("CARGO_PKG_VERSION").into(),
        commit: env!("FERROLB_GIT_COMMIT").into(),
    });
    r.register("ferrolb_build", "The running build", build);
    let mut out = String::new();
    if encode(&mut out, &r).is_err() {
        return "# cannot encode metrics\n".into();
    }
    out
}

/// The L2 sink's series, present once an L2 advertisement is in use.
fn l2(view: &MetricsView, r: &mut Registry) {
    let Some(owned) = view.l2_owned else {
        return;
    };
    let g = Gauge::<i64>::default();
    g.set(i64::try_from(owned).unwrap_or(i64::MAX));
    r.register(
        "ferrolb_l2_owned_addresses",
        "L2 service addresses this node answers ARP/NDP for right now (read from the responder)",
        g,
    );
    let sent = Counter::<u64>::default();
    sent.inc_by(view.l2_sent.get("gratuitous").copied().unwrap_or(0));
    r.register(
        "ferrolb_l2_gratuitous_sent",
        "Gratuitous ARP and unsolicited NA frames sent on taking L2 addresses over",
        sent,
    );
    let answers = Counter::<u64>::default();
    answers.inc_by(view.l2_sent.get("answers").copied().unwrap_or(0));
    r.register(
        "ferrolb_l2_answers_sent",
        "ARP replies and solicited NAs sent for addresses this node owns",
        answers,
    );
    let ignored = Family::<Reason, Counter>::default();
    for (reason, n) in &view.l2_ignored {
        ignored
            .get_or_create(&Reason {
                reason: reason.clone(),
            })
            .inc_by(*n);
    }
    r.register(
        "ferrolb_l2_frames_ignored",
        "ARP/NDP frames the responder read and did not answer, by reason (malformed classes, not_owned, foreign)",
        ignored,
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{peer, PeerInput};
    use crate::status::AllocatorStats;

    fn session(state: State) -> PeerStatus {
        let input = PeerInput {
            name: Some("tor1".into()),
            address: Some("192.0.2.1".into()),
            asn: Some(64500),
            ..PeerInput::default()
        };
        let mut s = PeerStatus::new(
            &peer::validate(&input, None, &Default::default())
                .0
                .expect("peer"),
        );
        s.state = state;
        s.counters.flaps = 2;
        s.counters.prefix_limit_trips = 3;
        s.counters.updates_sent = 7;
        s.counters.notifications_sent.insert((6, 2), 1);
        for p in ["198.51.100.1/32", "198.51.100.2/32", "2001:db8::1/128"] {
            s.announced
                .insert(p.parse().expect("prefix"), Arc::default());
        }
        s
    }

    fn line<'a>(text: &'a str, start: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(start))
    }

    #[test]
    fn sessions_pools_and_reloads_become_the_contracts_families() {
        let mut with_bfd = session(State::Established);
        with_bfd.bfd = Some("up".into());
        let view = MetricsView {
            sessions: vec![with_bfd],
            allocator: Some(AllocatorStats {
                pools: vec![("v6".into(), 3, 18_446_744_073_709_551_616.0)],
                failures: [("exhausted".to_string(), 4)].into(),
            }),
            reloads: [("ok".to_string(), 1)].into(),
            bfd_dropped: [("ttl".to_string(), 5)].into(),
            l2_owned: Some(3),
            l2_sent: [("gratuitous".to_string(), 12), ("answers".to_string(), 2)].into(),
            l2_ignored: [("not_owned".to_string(), 7)].into(),
        };
        let text = render(&view);
        let want = [
            "ferrolb_bgp_session_up{peer=\"tor1\",peer_address=\"192.0.2.1\"} 1",
            "ferrolb_bgp_session_state{peer=\"tor1\",peer_address=\"192.0.2.1\",state=\"Established\"} 1",
            "ferrolb_bgp_session_state{peer=\"tor1\",peer_address=\"192.0.2.1\",state=\"Idle\"} 0",
            "ferrolb_bgp_session_flaps_total{peer=\"tor1\",peer_address=\"192.0.2.1\"} 2",
            "ferrolb_bgp_session_resets_total{peer=\"tor1\",peer_address=\"192.0.2.1\",reason=\"max_prefixes\"} 3",
            "ferrolb_bgp_updates_sent_total{peer=\"tor1\",peer_address=\"192.0.2.1\"} 7",
            "ferrolb_bgp_notifications_sent_total{peer=\"tor1\",peer_address=\"192.0.2.1\",code=\"6\",subcode=\"2\"} 1",
            "ferrolb_bgp_announced_prefixes{peer=\"tor1\",peer_address=\"192.0.2.1\",family=\"ipv4\"} 2",
            "ferrolb_bgp_announced_prefixes{peer=\"tor1\",peer_address=\"192.0.2.1\",family=\"ipv6\"} 1",
            "ferrolb_allocator_addresses_in_use{pool=\"v6\"} 3",
            "ferrolb_allocation_failures_total{reason=\"exhausted\"} 4",
            "ferrolb_bfd_session_up{peer=\"tor1\",peer_address=\"192.0.2.1\"} 1",
            "ferrolb_bfd_packets_dropped_total{reason=\"ttl\"} 5",
            "ferrolb_config_reloads_total{result=\"ok\"} 1",
            "ferrolb_allocator_leader 1",
            "ferrolb_l2_owned_addresses 3",
            "ferrolb_l2_gratuitous_sent_total 12",
            "ferrolb_l2_answers_sent_total 2",
            "ferrolb_l2_frames_ignored_total{reason=\"not_owned\"} 7",
        ];
        for w in want {
            assert!(text.lines().any(|l| l == w), "missing `{w}` in\n{text}");
        }
        let size = line(&text, "ferrolb_allocator_addresses{pool=\"v6\"}").expect("pool size");
        let value: f64 = size
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a float");
        assert!((value - 1.8446744073709552e19).abs() < 1e6, "{size}");
        assert!(
            line(&text, "ferrolb_build_info{version=").is_some(),
            "{text}"
        );
    }

    #[test]
    fn a_down_session_is_0_and_a_node_without_the_allocator_has_no_pool_series() {
        let text = render(&MetricsView {
            sessions: vec![session(State::Active)],
            ..MetricsView::default()
        });
        assert!(
            text.contains("ferrolb_bgp_session_up{peer=\"tor1\",peer_address=\"192.0.2.1\"} 0"),
            "{text}"
        );
        assert!(
            line(&text, "ferrolb_allocator_addresses_in_use{").is_none(),
            "{text}"
        );
    }

    /// Every metric name the monitoring files under deploy/monitoring use must be one
    /// `/metrics` exports.
    #[test]
    fn the_shipped_alerts_and_dashboard_use_only_exported_metric_names() {
        let mut s = session(State::Established);
        s.counters.notifications_received.insert((6, 4), 1);
        s.counters.updates_received = 1;
        s.bfd = Some("down".into());
        let view = MetricsView {
            sessions: vec![s],
            allocator: Some(AllocatorStats {
                pools: vec![("p".into(), 1, 4.0)],
                failures: [("exhausted".to_string(), 1)].into(),
            }),
            reloads: [("ok".to_string(), 1), ("error".to_string(), 1)].into(),
            bfd_dropped: [("ttl".to_string(), 1)].into(),
            l2_owned: Some(1),
            l2_sent: [("gratuitous".to_string(), 1)].into(),
            l2_ignored: [("foreign".to_string(), 1)].into(),
        };
        let text = render(&view);
        let exported: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let files = [
            (
                "prometheusrule.yaml",
                include_str!("../deploy/monitoring/prometheusrule.yaml"),
            ),
            (
                "grafana-dashboard.json",
                include_str!("../deploy/monitoring/grafana-dashboard.json"),
            ),
        ];
        let mut used = 0;
        for (file, body) in files {
            let mut rest = body;
            while let Some(i) = rest.find("ferrolb_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                assert!(
                    exported.contains(name.as_str()),
                    "{file} uses `{name}`, which /metrics does not export: {exported:?}"
                );
                used += 1;
                rest = &rest[i + name.len()..];
            }
        }
        assert!(used >= 10, "the files name metrics ({used} found)");
    }
}
