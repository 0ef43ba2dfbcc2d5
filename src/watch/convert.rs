//! CRD objects into the model's inputs: the Kubernetes front end of the shared validation
//! (`crate::model`). The offline manifest check, the speaker and the allocator all convert
//! through here, so a BGPPeer, an IPAddressPool or a BGPAdvertisement meets the same rules
//! wherever it is read, and as a `[[bgp.peers]]`, `[[pools]]` or `[[advertisements]]` entry.
//!
//! A model field is named back in the CRD's spelling ([`peer_field`], [`pool_field`],
//! [`advertisement_field`]): `hold_time` is `spec.holdTime`.

use std::collections::BTreeMap;

use super::crds::{
    BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement, LabelSelector,
};
use crate::model::{
    AdvertisementInput, BfdProfileInput, ExpressionInput, FieldError, PeerInput, PoolInput,
    SelectorInput,
};

/// A label selector as the model reads it.
pub fn selector(sel: &LabelSelector) -> SelectorInput {
    SelectorInput {
        match_labels: sel.match_labels.clone(),
        match_expressions: sel
            .match_expressions
            .iter()
            .map(|e| ExpressionInput {
                key: e.key.clone(),
                operator: e.operator.clone(),
                values: e.values.clone(),
            })
            .collect(),
    }
}

/// Several selectors.
pub fn selectors(list: &[LabelSelector]) -> Vec<SelectorInput> {
    list.iter().map(selector).collect()
}

/// An IPAddressPool as the model reads it.
pub fn pool_input(p: &IPAddressPool) -> PoolInput {
    let sa = p.spec.service_allocation.clone().unwrap_or_default();
    PoolInput {
        name: p.metadata.name.clone(),
        addresses: p.spec.addresses.clone(),
        auto_assign: p.spec.auto_assign,
        avoid_buggy_ips: p.spec.avoid_buggy_ips,
        priority: sa.priority.map(i64::from),
        namespaces: sa.namespaces,
        namespace_selectors: selectors(&sa.namespace_selectors),
        service_selectors: selectors(&sa.service_selectors),
    }
}

/// A BGPPeer as the model reads it, with the TCP MD5 password already looked up. Durations are
/// Go durations (`90s`, `1m30s`); one that is not is an error of its field.
pub fn peer_input(p: &BGPPeer, password: Option<String>) -> (PeerInput, Vec<FieldError>) {
    let s = &p.spec;
    let mut errors = Vec::new();
    let mut seconds = |v: &Option<String>, field: &'static str| {
        let text = v.as_deref()?;
        let parsed = go_duration(text).and_then(|d| i64::try_from(d).ok());
        if parsed.is_none() {
            errors.push(FieldError::new(
                field,
                format!("`{text}` is not a duration like `90s` or `1m30s`"),
            ));
        }
        parsed
    };
    let hold_time = seconds(&s.hold_time, "hold_time");
    let keepalive_time = seconds(&s.keepalive_time, "keepalive_time");
    let input = PeerInput {
        name: p.metadata.name.clone(),
        address: Some(s.peer_address.clone()),
        asn: Some(i64::from(s.peer_asn)),
        local_asn: Some(i64::from(s.my_asn)),
        router_id: s.router_id.clone(),
        port: s.peer_port.map(i64::from),
        hold_time,
        keepalive_time,
        source_address: s.source_address.clone(),
        password,
        // MetalLB's ebgpMultiHop is a switch: on means any TTL.
        ebgp_multihop: s.ebgp_multi_hop.and_then(|m| m.then_some(255)),
        bfd_profile: s.bfd_profile.clone(),
        ..PeerInput::default()
    };
    (input, errors)
}

/// A BFDProfile as the model reads it (MetalLB's fields; intervals in milliseconds).
pub fn bfd_profile_input(p: &BFDProfile) -> BfdProfileInput {
    let s = &p.spec;
    BfdProfileInput {
        name: p.metadata.name.clone(),
        receive_interval: s.receive_interval.map(i64::from),
        transmit_interval: s.transmit_interval.map(i64::from),
        detect_multiplier: s.detect_multiplier.map(i64::from),
        passive: s.passive_mode,
        minimum_ttl: s.minimum_ttl.map(i64::from),
        echo_mode: s.echo_mode,
    }
}

/// A BFDProfile field in the CRD's spelling.
pub fn bfd_field(field: &str) -> &'static str {
    match field {
        "receive_interval" => "receiveInterval",
        "transmit_interval" => "transmitInterval",
        "detect_multiplier" => "detectMultiplier",
        "minimum_ttl" => "minimumTtl",
        "echo_mode" => "echoMode",
        "name" => "name",
        _ => "spec",
    }
}

/// A BGPAdvertisement as the model reads it, with the pools it selects resolved to names.
pub fn advertisement_input(ad: &BGPAdvertisement, pools: Vec<String>) -> AdvertisementInput {
    let s = &ad.spec;
    AdvertisementInput {
        pools,
        mode: None,
        peers: s.peers.clone(),
        communities: s.communities.clone(),
        local_pref: s.local_pref.map(i64::from),
        aggregation_length: s.aggregation_length.map(i64::from),
        aggregation_length_v6: s.aggregation_length_v6.map(i64::from),
        interfaces: Vec::new(),
    }
}

/// An L2Advertisement as the model reads it (mode `l2`, its `interfaces`).
pub fn l2_advertisement_input(ad: &L2Advertisement, pools: Vec<String>) -> AdvertisementInput {
    AdvertisementInput {
        pools,
        mode: Some("l2".into()),
        peers: Vec::new(),
        communities: Vec::new(),
        local_pref: None,
        aggregation_length: None,
        aggregation_length_v6: None,
        interfaces: ad.spec.interfaces.clone(),
    }
}

/// The pool names a BGPAdvertisement selects: by `ipAddressPools`, by
/// `ipAddressPoolSelectors`, or every pool when it names neither.
pub fn selected_pools(ad: &BGPAdvertisement, pools: &[IPAddressPool]) -> Vec<String> {
    pools_named_or_selected(
        &ad.spec.ip_address_pools,
        &ad.spec.ip_address_pool_selectors,
        pools,
    )
}

/// The pool names an L2Advertisement selects, by the same rules.
pub fn l2_selected_pools(ad: &L2Advertisement, pools: &[IPAddressPool]) -> Vec<String> {
    pools_named_or_selected(
        &ad.spec.ip_address_pools,
        &ad.spec.ip_address_pool_selectors,
        pools,
    )
}

fn pools_named_or_selected(
    names: &[String],
    selectors_: &[LabelSelector],
    pools: &[IPAddressPool],
) -> Vec<String> {
    let empty = BTreeMap::new();
    let sels = selectors(selectors_);
    pools
        .iter()
        .filter(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            let labels = p.metadata.labels.as_ref().unwrap_or(&empty);
            (names.is_empty() && sels.is_empty())
                || names.iter().any(|n| n == name)
                || sels
                    .iter()
                    .any(|sel| crate::model::selector::matches(sel, labels))
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// A BGPPeer field in the CRD's spelling.
pub fn peer_field(field: &str) -> &'static str {
    match field {
        "address" => "peerAddress",
        "asn" => "peerASN",
        "local_asn" => "myASN",
        "router_id" => "routerID",
        "port" => "peerPort",
        "hold_time" => "holdTime",
        "keepalive_time" => "keepaliveTime",
        "source_address" => "sourceAddress",
        "password" => "passwordSecret",
        "ebgp_multihop" => "ebgpMultiHop",
        "bfd_profile" => "bfdProfile",
        "name" => "name",
        _ => "spec",
    }
}

/// An IPAddressPool field in the CRD's spelling.
pub fn pool_field(field: &str) -> &'static str {
    match field {
        "addresses" => "addresses",
        "auto_assign" => "autoAssign",
        "avoid_buggy_ips" => "avoidBuggyIPs",
        "priority" => "priority",
        "namespace_selectors" => "namespaceSelectors",
        "service_selectors" => "serviceSelectors",
        "name" => "name",
        _ => "spec",
    }
}

/// A BGPAdvertisement field in the CRD's spelling.
pub fn advertisement_field(field: &str) -> &'static str {
    match field {
        "communities" => "communities",
        "local_pref" => "localPref",
        "aggregation_length" => "aggregationLength",
        "aggregation_length_v6" => "aggregationLengthV6",
        "peers" => "peers",
        _ => "spec",
    }
}

/// `Kind `name`: field: message`, for Events and logs.
pub fn describe(kind: &str, name: &str, crd_field: &str, e: &FieldError) -> String {
    format!("{kind} `{name}`: {crd_field}: {}", e.message)
}

/// Seconds of a Go duration made of h/m/s parts (`90s`, `1m30s`, `2h`); None when malformed
/// or fractional.
pub fn go_duration(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut digits = String::new();
    let mut any = false;
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit = match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
        any = true;
    }
    (any && digits.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("90s"), Some(90));
        assert_eq!(go_duration("1m30s"), Some(90));
        assert_eq!(go_duration("2h"), Some(7200));
        assert_eq!(go_duration("0s"), Some(0));
        assert_eq!(go_duration("90"), None);
        assert_eq!(go_duration("1.5s"), None);
    }

    #[test]
    fn a_peer_with_a_malformed_duration_names_the_field() {
        let p: BGPPeer = crate::yaml::from_str("apiVersion: ferrolb.io/v1alpha1\nkind: BGPPeer\nmetadata: {name: tor}\nspec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1, holdTime: 9x, ebgpMultiHop: true}").expect("peer");
        let (input, errors) = peer_input(&p, None);
        assert_eq!(errors.len(), 1);
        assert_eq!(peer_field(errors[0].field), "holdTime");
        assert_eq!(
            (input.hold_time, input.ebgp_multihop, input.local_asn),
            (None, Some(255), Some(64512))
        );
    }
}
