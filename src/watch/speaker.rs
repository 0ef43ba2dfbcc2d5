//! The speaker side of Kubernetes mode, pure: which BGP sessions this node runs (BGPPeers whose
//! `nodeSelectors` match its labels), how it announces (BGPAdvertisements), and which Service
//! addresses it announces right now (Service status, and for `externalTrafficPolicy: Local` only
//! with a ready endpoint on this node).
//!
//! Decisions, like MetalLB's:
//! - An address is announced over BGP only when a BGPAdvertisement selects its pool (by
//!   `ipAddressPools`, `ipAddressPoolSelectors`, or neither = every pool) and this node
//!   (`nodeSelectors`). No BGPAdvertisement: nothing is announced over BGP.
//! - A BGPPeer whose `myASN` differs from `[node] asn` is refused (the speaker has one local
//!   ASN); so is one with an unusable address or duration. Refusals are returned as messages,
//!   the other peers run.
//! - `passwordSecret` names a Secret in `[kubernetes] namespace` whose key `password` is the
//!   TCP MD5 password (like MetalLB); a missing Secret or key refuses the peer with the reason.
//!   `routerID` and `bfdProfile` of a BGPPeer are not read yet.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::crds::{BGPAdvertisement, BGPPeer, IPAddressPool, LabelSelector};
use super::manifests::go_duration;
use super::service;
use crate::allocator::{selects, LabelMatch, Requirement};
use crate::config::{address_range, community, AdvertisementConfig, PeerConfig};
use crate::packet::message::Family;

/// Labels of an object (empty when it has none).
pub type Labels = BTreeMap<String, String>;

/// The allocator's form of a Kubernetes label selector; an unknown operator is an error.
pub fn requirements(sel: &LabelSelector) -> Result<LabelMatch, String> {
    let mut out: LabelMatch = sel
        .match_labels
        .iter()
        .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
        .collect();
    for e in &sel.match_expressions {
        let (k, vs) = (e.key.clone(), e.values.clone());
        out.push(match e.operator.as_str() {
            "In" => Requirement::In(k, vs),
            "NotIn" => Requirement::NotIn(k, vs),
            "Exists" => Requirement::Exists(k),
            "DoesNotExist" => Requirement::DoesNotExist(k),
            other => {
                return Err(format!(
                    "matchExpressions: operator `{other}` is not In, NotIn, Exists or DoesNotExist"
                ))
            }
        });
    }
    Ok(out)
}

/// True when `labels` satisfy the selector (every matchLabel and every matchExpression); a
/// selector with an unknown operator selects nothing.
pub fn matches(sel: &LabelSelector, labels: &Labels) -> bool {
    requirements(sel).is_ok_and(|r| selects(&r, labels))
}

/// True when any selector matches; an empty list selects everything.
pub fn any_matches(selectors: &[LabelSelector], labels: &Labels) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| matches(s, labels))
}

/// Where BGPPeers find their passwords: the namespace of the configuration kinds and the
/// `password` key of each Secret there, by Secret name.
#[derive(Debug, Clone, Default)]
pub struct Passwords {
    pub namespace: String,
    pub by_secret: BTreeMap<String, String>,
}

/// The sessions of this node: (peers to run, refusal messages).
pub fn peers(
    peers: &[BGPPeer],
    node_labels: &Labels,
    local_asn: u32,
    passwords: &Passwords,
) -> (Vec<PeerConfig>, Vec<String>) {
    let mut out: Vec<PeerConfig> = Vec::new();
    let mut refused = Vec::new();
    for p in peers {
        if !any_matches(&p.spec.node_selectors, node_labels) {
            continue;
        }
        match peer(p, local_asn, passwords) {
            Ok(pc) if out.iter().any(|o| o.address == pc.address) => refused.push(format!(
                "BGPPeer `{}`: another BGPPeer for this node already has address {}",
                pc.name, pc.address
            )),
            Ok(pc) => out.push(pc),
            Err(e) => refused.push(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    (out, refused)
}

fn peer(p: &BGPPeer, local_asn: u32, passwords: &Passwords) -> Result<PeerConfig, String> {
    let name = p.metadata.name.clone().unwrap_or_default();
    let s = &p.spec;
    let bad = |what: String| format!("BGPPeer `{name}`: {what}");
    let address: IpAddr = s.peer_address.parse().map_err(|_| {
        bad(format!(
            "peerAddress `{}` is not an IP address",
            s.peer_address
        ))
    })?;
    if s.my_asn != local_asn {
        return Err(bad(format!(
            "myASN {} differs from this node's ASN {local_asn} ([node] asn); one local ASN per node",
            s.my_asn
        )));
    }
    if s.peer_asn == 0 {
        return Err(bad("peerASN 0 is reserved (RFC 7607)".into()));
    }
    let hold = match &s.hold_time {
        None => 90,
        Some(h) => match go_duration(h) {
            Some(v @ (0 | 3..=65535)) => v,
            _ => return Err(bad(format!("holdTime `{h}`: 0 or 3 s to 65535 s"))),
        },
    };
    let keepalive = match &s.keepalive_time {
        None => hold / 3,
        Some(k) => match go_duration(k) {
            Some(v) if hold == 0 || v < hold => v,
            _ => {
                return Err(bad(format!(
                    "keepaliveTime `{k}`: a duration below holdTime"
                )))
            }
        },
    };
    let source_address = match &s.source_address {
        None => None,
        Some(a) => Some(
            a.parse()
                .map_err(|_| bad(format!("sourceAddress `{a}` is not an IP address")))?,
        ),
    };
    let ns = &passwords.namespace;
    let password = match &s.password_secret {
        None => None,
        Some(r) if r.namespace.as_deref().is_some_and(|n| n != ns) => {
            return Err(bad(format!(
                "passwordSecret `{}`: the Secret must be in namespace `{ns}`",
                r.name
            )))
        }
        Some(r) => Some(passwords.by_secret.get(&r.name).cloned().ok_or_else(|| {
            bad(format!(
                "passwordSecret: no Secret `{}` with a `password` key in namespace `{ns}`",
                r.name
            ))
        })?),
    };
    Ok(PeerConfig {
        name,
        address,
        asn: s.peer_asn,
        port: s.peer_port.unwrap_or(179),
        // Both bounded above to 65535.
        hold_time: u16::try_from(hold).unwrap_or(u16::MAX),
        keepalive_time: u16::try_from(keepalive).unwrap_or(u16::MAX),
        connect_retry: 5,
        source_address,
        password,
        ebgp_multihop: s.ebgp_multi_hop.and_then(|m| m.then_some(255)),
        ttl_security: false,
        passive: false,
        families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
        bfd: false,
        extended_messages: true,
        next_hop: None,
        next_hop_v6: None,
    })
}

/// The pool names a BGPAdvertisement selects (every pool when it names none).
fn selected_pools(ad: &BGPAdvertisement, pools: &[IPAddressPool]) -> Vec<String> {
    let s = &ad.spec;
    let empty = Labels::new();
    pools
        .iter()
        .filter(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            let labels = p.metadata.labels.as_ref().unwrap_or(&empty);
            (s.ip_address_pools.is_empty() && s.ip_address_pool_selectors.is_empty())
                || s.ip_address_pools.iter().any(|n| n == name)
                || s.ip_address_pool_selectors
                    .iter()
                    .any(|sel| matches(sel, labels))
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// This node's announcement rules: one per BGPAdvertisement selecting this node and at least
/// one pool. Malformed communities are skipped (and reported).
pub fn advertisements(
    ads: &[BGPAdvertisement],
    pools: &[IPAddressPool],
    node_labels: &Labels,
) -> (Vec<AdvertisementConfig>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut sorted: Vec<&BGPAdvertisement> = ads.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for ad in sorted {
        if !any_matches(&ad.spec.node_selectors, node_labels) {
            continue;
        }
        let selected = selected_pools(ad, pools);
        if selected.is_empty() {
            continue;
        }
        let name = ad.metadata.name.as_deref().unwrap_or_default();
        let communities = ad
            .spec
            .communities
            .iter()
            .filter_map(|c| {
                let parsed = community(c);
                if parsed.is_none() {
                    problems.push(format!(
                        "BGPAdvertisement `{name}`: community `{c}` is not `ASN:value` or `large:a:b:c`; left out"
                    ));
                }
                parsed
            })
            .collect();
        out.push(AdvertisementConfig {
            pools: selected,
            mode: "bgp".into(),
            peers: ad.spec.peers.clone(),
            communities,
            local_pref: ad.spec.local_pref,
            aggregation_length: ad.spec.aggregation_length.filter(|l| *l <= 32),
            aggregation_length_v6: ad.spec.aggregation_length_v6.filter(|l| *l <= 128),
        });
    }
    (out, problems)
}

/// The pool holding `address` (by name order when pools overlap).
pub fn pool_holding(pools: &[IPAddressPool], address: IpAddr) -> Option<String> {
    // The first by name among those holding it, without sorting the pools for every address.
    pools
        .iter()
        .filter(|p| {
            p.spec
                .addresses
                .iter()
                .filter_map(|a| address_range(a))
                .any(|r| r.contains(&address))
        })
        .filter_map(|p| p.metadata.name.as_ref())
        .min()
        .cloned()
}

/// What this node announces for one Service: each address with its pool.
pub type Announced = Vec<(IpAddr, String)>;

/// True when an EndpointSlice of the Service has a ready endpoint on `node`.
pub fn ready_on(svc: &Service, slices: &[EndpointSlice], node: &str) -> bool {
    let ns = svc.metadata.namespace.as_deref();
    let name = svc.metadata.name.as_deref();
    slices
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == ns)
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .map(String::as_str)
                == name
        })
        .flat_map(|s| s.endpoints.iter())
        .any(|e| {
            e.node_name.as_deref() == Some(node)
                && e.conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    // The API says a nil `ready` is to be read as ready.
                    .unwrap_or(true)
        })
}

/// Every Service this node announces now, by `namespace/name`: addresses from status whose
/// pool a BGPAdvertisement for this node selects; Local policy only with a ready endpoint here.
pub fn announcements(
    services: &[Service],
    slices: &[EndpointSlice],
    pools: &[IPAddressPool],
    ads: &[AdvertisementConfig],
    node: &str,
    class: &str,
) -> BTreeMap<String, Announced> {
    let advertised: BTreeSet<&str> = ads
        .iter()
        .flat_map(|a| a.pools.iter().map(String::as_str))
        .collect();
    let mut out = BTreeMap::new();
    for svc in services.iter().filter(|s| service::is_ours(s, class)) {
        let local = svc
            .spec
            .as_ref()
            .and_then(|s| s.external_traffic_policy.as_deref())
            == Some("Local");
        if local && !ready_on(svc, slices, node) {
            continue;
        }
        let addrs: Announced = service::ingress(svc)
            .into_iter()
            .filter_map(|a| Some((a, pool_holding(pools, a)?)))
            .filter(|(_, pool)| advertised.contains(pool.as_str()))
            .collect();
        if !addrs.is_empty() {
            out.insert(service::key(svc), addrs);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
        serde_yaml::from_str(text).expect("test object")
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let sel: LabelSelector = yaml(
            "matchLabels: {rack: r1}\nmatchExpressions:\n- {key: zone, operator: In, values: [a, b]}\n- {key: drain, operator: DoesNotExist}",
        );
        assert!(matches(&sel, &labels(&[("rack", "r1"), ("zone", "a")])));
        assert!(!matches(&sel, &labels(&[("rack", "r1"), ("zone", "c")])));
        assert!(!matches(&sel, &labels(&[("rack", "r2"), ("zone", "a")])));
        assert!(!matches(
            &sel,
            &labels(&[("rack", "r1"), ("zone", "a"), ("drain", "")])
        ));
        let not_in: LabelSelector =
            yaml("matchExpressions: [{key: zone, operator: NotIn, values: [a]}]");
        assert!(matches(&not_in, &labels(&[])));
        assert!(!matches(&not_in, &labels(&[("zone", "a")])));
        let bogus: LabelSelector = yaml("matchExpressions: [{key: zone, operator: Near}]");
        assert!(!matches(&bogus, &labels(&[("zone", "a")])));
        assert!(any_matches(&[], &labels(&[])));
    }

    fn peer_obj(name: &str, body: &str) -> BGPPeer {
        yaml(&format!(
            "apiVersion: ferrolb.io/v1alpha1\nkind: BGPPeer\nmetadata: {{name: {name}, namespace: ferrolb-system}}\nspec:\n{body}"
        ))
    }

    #[test]
    fn peers_are_picked_by_node_selector_and_bad_ones_refused_by_name() {
        let list = vec![
            peer_obj("tor1", "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 192.0.2.1\n  holdTime: 9s"),
            peer_obj(
                "rack2",
                "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 192.0.2.5\n  nodeSelectors: [{matchLabels: {rack: r2}}]",
            ),
            peer_obj("other-asn", "  myASN: 64999\n  peerASN: 64500\n  peerAddress: 192.0.2.6"),
            peer_obj("bad-hold", "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 192.0.2.7\n  holdTime: 2s"),
        ];
        let (run, refused) = peers(
            &list,
            &labels(&[("rack", "r1")]),
            64512,
            &Passwords::default(),
        );
        let names: Vec<&str> = run.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["tor1"]);
        assert_eq!(run[0].hold_time, 9);
        assert_eq!(run[0].keepalive_time, 3);
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused[0].contains("`other-asn`") && refused[0].contains("myASN 64999"));
        assert!(refused[1].contains("`bad-hold`") && refused[1].contains("holdTime"));
        let (run, _) = peers(
            &list,
            &labels(&[("rack", "r2")]),
            64512,
            &Passwords::default(),
        );
        assert_eq!(run.len(), 2);
    }

    #[test]
    fn a_password_comes_from_a_secret_in_the_configuration_namespace() {
        let base = "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 192.0.2.1";
        let list = vec![
            peer_obj(
                "ok",
                &format!("{base}\n  passwordSecret: {{name: tor-md5}}"),
            ),
            peer_obj(
                "elsewhere",
                &format!("{base}9\n  passwordSecret: {{name: tor-md5, namespace: default}}"),
            ),
            peer_obj(
                "missing",
                &format!("{base}8\n  passwordSecret: {{name: nope}}"),
            ),
        ];
        let passwords = Passwords {
            namespace: "ferrolb-system".into(),
            by_secret: BTreeMap::from([("tor-md5".to_string(), "s3cret".to_string())]),
        };
        let (run, refused) = peers(&list, &labels(&[]), 64512, &passwords);
        assert_eq!(run.len(), 1);
        assert_eq!(run[0].password.as_deref(), Some("s3cret"));
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused[0].contains("`elsewhere`") && refused[0].contains("ferrolb-system"));
        assert!(refused[1].contains("`missing`") && refused[1].contains("no Secret `nope`"));
    }

    fn pool(name: &str, addrs: &str, lbls: &str) -> IPAddressPool {
        yaml(&format!(
            "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {{name: {name}, labels: {{{lbls}}}}}\nspec: {{addresses: [{addrs}]}}"
        ))
    }

    fn ad(name: &str, spec: &str) -> BGPAdvertisement {
        yaml(&format!(
            "apiVersion: ferrolb.io/v1alpha1\nkind: BGPAdvertisement\nmetadata: {{name: {name}}}\nspec: {spec}"
        ))
    }

    fn svc(name: &str, ips: &[&str], local: bool) -> Service {
        let ingress: Vec<String> = ips.iter().map(|i| format!("{{ip: \"{i}\"}}")).collect();
        yaml(&format!(
            "metadata: {{name: {name}, namespace: default}}\nspec: {{type: LoadBalancer, externalTrafficPolicy: {}}}\nstatus: {{loadBalancer: {{ingress: [{}]}}}}",
            if local { "Local" } else { "Cluster" },
            ingress.join(",")
        ))
    }

    fn slice(service: &str, node: &str, ready: Option<bool>) -> EndpointSlice {
        let cond = match ready {
            Some(r) => format!(", conditions: {{ready: {r}}}"),
            None => String::new(),
        };
        yaml(&format!(
            "metadata: {{name: {service}-abc, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\naddressType: IPv4\nendpoints: [{{addresses: [10.0.0.1], nodeName: {node}{cond}}}]"
        ))
    }

    #[test]
    fn only_advertised_pools_are_announced_and_local_needs_a_ready_endpoint_here() {
        let pools = vec![
            pool("public", "198.51.100.0/24", "tier: public"),
            pool("internal", "203.0.113.0/24", "tier: internal"),
        ];
        let (none, _) = advertisements(&[], &pools, &labels(&[]));
        let services = vec![
            svc("web", &["198.51.100.1"], false),
            svc("db", &["203.0.113.1"], false),
            svc("local", &["198.51.100.2"], true),
            svc("outside", &["192.0.2.99"], false),
        ];
        assert!(
            announcements(&services, &[], &pools, &none, "node-a", "").is_empty(),
            "no BGPAdvertisement, nothing announced"
        );
        let by_selector = vec![ad(
            "pub",
            "{ipAddressPoolSelectors: [{matchLabels: {tier: public}}], communities: [\"64500:1\", bogus]}",
        )];
        let (ads, problems) = advertisements(&by_selector, &pools, &labels(&[]));
        assert_eq!(ads[0].pools, ["public"]);
        assert_eq!(ads[0].communities.len(), 1);
        assert!(problems[0].contains("bogus"));
        let slices = vec![
            slice("local", "node-b", None),
            slice("local", "node-a", Some(false)),
        ];
        let got = announcements(&services, &slices, &pools, &ads, "node-a", "");
        assert_eq!(got.keys().collect::<Vec<_>>(), ["default/web"]);
        let got = announcements(&services, &slices, &pools, &ads, "node-b", "");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            ["default/local", "default/web"]
        );
        assert_eq!(
            got["default/local"],
            vec![("198.51.100.2".parse().expect("ip"), "public".to_string())]
        );
        let (all, _) = advertisements(&[ad("all", "{}")], &pools, &labels(&[]));
        let got = announcements(&services, &[], &pools, &all, "node-a", "");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            ["default/db", "default/web"]
        );
    }

    #[test]
    fn advertisements_respect_node_selectors() {
        let pools = vec![pool("public", "198.51.100.0/24", "")];
        let ads = vec![ad(
            "r2",
            "{nodeSelectors: [{matchLabels: {rack: r2}}], aggregationLength: 24}",
        )];
        assert!(advertisements(&ads, &pools, &labels(&[("rack", "r1")]))
            .0
            .is_empty());
        let (got, _) = advertisements(&ads, &pools, &labels(&[("rack", "r2")]));
        assert_eq!(got[0].aggregation_length, Some(24));
    }
}
