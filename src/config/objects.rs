//! `[[bgp.peers]]`, `[[pools]]` and `[[advertisements]]`: the raw TOML filled into the model's
//! inputs, validated by the model (the same rules a CRD object meets), and each problem put back
//! at the key or value it is about.

use std::collections::BTreeSet;
use std::ops::Range;

use super::problems::{span_in, span_of, Problems};
use super::raw::{RawAdvertisement, RawBfdProfile, RawPeer, RawPool, S};
use crate::allocator::NodeAddress;
use crate::model::{
    advertisement, bfd, peer, pool, AdvertisementInput, AdvertisementSpec, BfdProfileInput,
    BfdProfiles, FieldError, LocalSpec, PeerInput, PeerSpec, PoolInput, PoolSpec,
};

fn text(v: &Option<S<String>>) -> Option<String> {
    v.as_ref().map(|s| s.get_ref().clone())
}

fn int(v: &Option<S<i64>>) -> Option<i64> {
    v.as_ref().map(|s| *s.get_ref())
}

fn texts(v: &[S<String>]) -> Vec<String> {
    v.iter().map(|s| s.get_ref().clone()).collect()
}

fn peer_input(r: &RawPeer) -> PeerInput {
    PeerInput {
        name: text(&r.name),
        address: text(&r.address),
        asn: int(&r.asn),
        local_asn: None,
        router_id: None,
        port: int(&r.port),
        hold_time: int(&r.hold_time),
        keepalive_time: int(&r.keepalive_time),
        connect_retry: int(&r.connect_retry),
        source_address: text(&r.source_address),
        password: r.password.clone(),
        ebgp_multihop: int(&r.ebgp_multihop),
        ttl_security: r.ttl_security,
        passive: r.passive,
        families: r.families.as_deref().map(texts),
        bfd: r.bfd,
        bfd_profile: text(&r.bfd_profile),
        extended_messages: r.extended_messages,
        next_hop: text(&r.next_hop),
        next_hop_v6: text(&r.next_hop_v6),
        max_prefixes: int(&r.max_prefixes),
        send_queue_limit: int(&r.send_queue_limit),
    }
}

/// Where in a `[[bgp.peers]]` entry a model field is written.
fn peer_span(r: &RawPeer, e: &FieldError, whole: &Range<usize>) -> Range<usize> {
    match e.field {
        "name" => span_of(r.name.as_ref(), whole),
        "address" => span_of(r.address.as_ref(), whole),
        "asn" => span_of(r.asn.as_ref(), whole),
        "port" => span_of(r.port.as_ref(), whole),
        "hold_time" => span_of(r.hold_time.as_ref(), whole),
        "keepalive_time" => span_of(r.keepalive_time.as_ref(), whole),
        "connect_retry" => span_of(r.connect_retry.as_ref(), whole),
        "source_address" => span_of(r.source_address.as_ref(), whole),
        "ebgp_multihop" => span_of(r.ebgp_multihop.as_ref(), whole),
        "families" => span_in(r.families.as_deref().unwrap_or(&[]), e.index, whole),
        "next_hop" => span_of(r.next_hop.as_ref(), whole),
        "next_hop_v6" => span_of(r.next_hop_v6.as_ref(), whole),
        "bfd_profile" => span_of(r.bfd_profile.as_ref(), whole),
        "max_prefixes" => span_of(r.max_prefixes.as_ref(), whole),
        "send_queue_limit" => span_of(r.send_queue_limit.as_ref(), whole),
        _ => whole.clone(),
    }
}

/// `[[bfd_profiles]]` by name; a second profile of the same name is refused.
pub fn bfd_profiles(raw: &[S<RawBfdProfile>], p: &mut Problems) -> BfdProfiles {
    let mut out = BfdProfiles::new();
    for (i, rp) in raw.iter().enumerate() {
        let r = rp.get_ref();
        let input = BfdProfileInput {
            name: text(&r.name),
            receive_interval: int(&r.receive_interval),
            transmit_interval: int(&r.transmit_interval),
            detect_multiplier: int(&r.detect_multiplier),
            passive: r.passive,
            minimum_ttl: int(&r.minimum_ttl),
            echo_mode: None,
        };
        let whole = rp.span();
        let span = |e: &FieldError| match e.field {
            "name" => span_of(r.name.as_ref(), &whole),
            "receive_interval" => span_of(r.receive_interval.as_ref(), &whole),
            "transmit_interval" => span_of(r.transmit_interval.as_ref(), &whole),
            "detect_multiplier" => span_of(r.detect_multiplier.as_ref(), &whole),
            "minimum_ttl" => span_of(r.minimum_ttl.as_ref(), &whole),
            _ => whole.clone(),
        };
        let (profile, errors) = bfd::validate(&input);
        for e in &errors {
            p.field(&format!("bfd_profiles[{i}]"), e, span(e));
        }
        let Some(profile) = profile else { continue };
        if out.contains_key(&profile.name) {
            let e = FieldError::new(
                "name",
                format!("`{}` names an earlier profile", profile.name),
            );
            p.field(&format!("bfd_profiles[{i}]"), &e, span(&e));
            continue;
        }
        out.insert(profile.name.clone(), profile);
    }
    out
}

/// Every usable peer; a peer with the address or name of an earlier one is refused.
pub fn peers(
    raw: &[S<RawPeer>],
    node: &LocalSpec,
    profiles: &BfdProfiles,
    p: &mut Problems,
) -> Vec<PeerSpec> {
    let mut out = Vec::new();
    for (i, rp) in raw.iter().enumerate() {
        let (spec, errors) = peer::validate(&peer_input(rp.get_ref()), Some(node), profiles);
        for e in &errors {
            p.field(
                &format!("bgp.peers[{i}]"),
                e,
                peer_span(rp.get_ref(), e, &rp.span()),
            );
        }
        out.extend(spec.map(|s| (i, s)));
    }
    for (i, e) in peer::dedupe(&mut out) {
        let Some(rp) = raw.get(i) else { continue };
        p.field(
            &format!("bgp.peers[{i}]"),
            &e,
            peer_span(rp.get_ref(), &e, &rp.span()),
        );
    }
    out.into_iter().map(|(_, s)| s).collect()
}

/// Every pool; the node's own addresses must not be in any.
pub fn pools(
    raw: &[S<RawPool>],
    node_name: &str,
    node: &LocalSpec,
    p: &mut Problems,
) -> Vec<PoolSpec> {
    let nodes: Vec<NodeAddress> = node
        .addresses
        .iter()
        .map(|a| NodeAddress {
            node: node_name.to_string(),
            address: *a,
        })
        .collect();
    let mut out: Vec<PoolSpec> = Vec::new();
    for (i, rp) in raw.iter().enumerate() {
        let r = rp.get_ref();
        let input = PoolInput {
            name: text(&r.name),
            addresses: texts(&r.addresses),
            auto_assign: r.auto_assign,
            avoid_buggy_ips: r.avoid_buggy_ips,
            ..PoolInput::default()
        };
        let (spec, errors) = pool::validate(&input, &nodes);
        for e in &errors {
            let span = match e.field {
                "addresses" => span_in(&r.addresses, e.index, &rp.span()),
                _ => rp.span(),
            };
            p.field(&format!("pools[{i}]"), e, span);
        }
        let Some(spec) = spec else { continue };
        if out.iter().any(|x| x.name == spec.name) {
            let span = span_of(r.name.as_ref(), &rp.span());
            p.at_span(
                span,
                format!("pools[{i}].name: pool `{}` is defined twice", spec.name),
            );
        }
        out.push(spec);
    }
    out
}

/// Every advertisement; the pools and peers it names must exist, and the cross-checks of
/// [`advertisement::conflicts`] hold.
pub fn advertisements(
    raw: &[S<RawAdvertisement>],
    pools: &[PoolSpec],
    peers: &[PeerSpec],
    p: &mut Problems,
) -> Vec<AdvertisementSpec> {
    let pool_names: BTreeSet<&str> = pools.iter().map(|x| x.name.as_str()).collect();
    let peer_names: BTreeSet<&str> = peers.iter().map(|x| x.name.as_str()).collect();
    let mut out = Vec::new();
    for (i, ra) in raw.iter().enumerate() {
        let r = ra.get_ref();
        let prefix = format!("advertisements[{i}]");
        for x in r
            .pools
            .iter()
            .filter(|x| !pool_names.contains(x.get_ref().as_str()))
        {
            p.at(
                x,
                format!("{prefix}.pools: no pool named `{}`", x.get_ref()),
            );
        }
        for x in r
            .peers
            .iter()
            .filter(|x| !peer_names.contains(x.get_ref().as_str()))
        {
            p.at(
                x,
                format!("{prefix}.peers: no peer named `{}`", x.get_ref()),
            );
        }
        let input = AdvertisementInput {
            pools: texts(&r.pools),
            mode: text(&r.mode),
            peers: texts(&r.peers),
            communities: texts(&r.communities),
            local_pref: int(&r.local_pref),
            aggregation_length: int(&r.aggregation_length),
            aggregation_length_v6: int(&r.aggregation_length_v6),
            interfaces: texts(&r.interfaces),
        };
        let (spec, errors) = advertisement::validate(&input);
        for e in &errors {
            p.field(&prefix, e, advertisement_span(r, e, &ra.span()));
        }
        out.push(spec);
    }
    for (i, e) in advertisement::conflicts(&out, pools) {
        let Some(ra) = raw.get(i) else { continue };
        p.field(
            &format!("advertisements[{i}]"),
            &e,
            advertisement_span(ra.get_ref(), &e, &ra.span()),
        );
    }
    out
}

fn advertisement_span(r: &RawAdvertisement, e: &FieldError, whole: &Range<usize>) -> Range<usize> {
    match e.field {
        "mode" => span_of(r.mode.as_ref(), whole),
        "communities" => span_in(&r.communities, e.index, whole),
        "local_pref" => span_of(r.local_pref.as_ref(), whole),
        "aggregation_length" => span_of(r.aggregation_length.as_ref(), whole),
        "aggregation_length_v6" => span_of(r.aggregation_length_v6.as_ref(), whole),
        _ => whole.clone(),
    }
}
