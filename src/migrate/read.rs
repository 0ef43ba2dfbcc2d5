//! MetalLB YAML documents into our CRD types: each `spec` key our type has is carried over,
//! every other one is dropped with a warning at its line.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Item, Migration, Origin, ReadError, NAMESPACE};
use crate::watch::crds::{
    BFDProfile, BFDProfileSpec, BGPAdvertisement, BGPAdvertisementSpec, BGPPeer, BGPPeerSpec,
    IPAddressPool, IPAddressPoolSpec, L2Advertisement, L2AdvertisementSpec,
};
use crate::watch::manifests::{documents, located, Doc};
use crate::yaml;

/// A YAML mapping, read as a JSON object (its keys as strings).
type Mapping = Map<String, Value>;

const POOL: &[&str] = &[
    "addresses",
    "autoAssign",
    "avoidBuggyIPs",
    "serviceAllocation",
];
const PEER: &[&str] = &[
    "myASN",
    "peerASN",
    "peerAddress",
    "peerPort",
    "holdTime",
    "keepaliveTime",
    "routerID",
    "sourceAddress",
    "passwordSecret",
    "ebgpMultiHop",
    "nodeSelectors",
    "bfdProfile",
];
const BGP_AD: &[&str] = &[
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "aggregationLength",
    "aggregationLengthV6",
    "localPref",
    "communities",
    "peers",
    "nodeSelectors",
];
const L2_AD: &[&str] = &[
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "interfaces",
];
const BFD: &[&str] = &[
    "receiveInterval",
    "transmitInterval",
    "detectMultiplier",
    "echoMode",
    "passiveMode",
    "minimumTtl",
];

/// Reads the MetalLB objects of one file into `m`. Documents of other groups are skipped; a
/// document that is not YAML is an error (nothing of the file is kept then).
pub fn read(file: &str, text: &str, m: &mut Migration) -> Result<(), ReadError> {
    let mut values = Vec::new();
    for doc in documents(file, text) {
        match yaml::from_str::<Value>(&doc.text) {
            Ok(v) => values.push((doc, v)),
            Err(e) => {
                let at = located(&doc, &e);
                return Err(ReadError {
                    file: at.file,
                    line: at.line,
                    message: at.message,
                });
            }
        }
    }
    for (doc, value) in values {
        object(&doc, &value, m);
    }
    Ok(())
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// One document.
fn object(doc: &Doc<'_>, value: &Value, m: &mut Migration) {
    let api = text(value, "apiVersion");
    if !api.starts_with("metallb.io/") {
        return; // not MetalLB's (Namespace, RBAC, ...)
    }
    let meta = value.get("metadata").cloned().unwrap_or_default();
    let kind = text(value, "kind");
    let spec = match value.get("spec") {
        Some(Value::Object(s)) => s.clone(),
        _ => Mapping::new(),
    };
    let origin = origin(doc, kind, text(&meta, "name"), &spec);
    if origin.name.is_empty() {
        m.warnings
            .push(origin.warn("metadata.name", "missing; object skipped"));
        return;
    }
    let namespace = text(&meta, "namespace");
    if !namespace.is_empty() && namespace != "metallb-system" {
        let mut w = origin.warn(
            "metadata.namespace",
            format!("`{namespace}` becomes `{NAMESPACE}`, where ferrolb reads its kinds"),
        );
        w.line = line_after(doc, "namespace:", 1).unwrap_or(origin.line);
        m.warnings.push(w);
    }
    let labels: Option<BTreeMap<String, String>> = meta
        .get("labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok());
    match kind {
        "IPAddressPool" => {
            if let Some(s) = typed::<IPAddressPoolSpec>(spec, POOL, &origin, m) {
                let mut o = IPAddressPool::new(&origin.name, s);
                o.metadata.labels = labels;
                push(&mut m.pools, o, origin, |o| &mut o.metadata);
            }
        }
        "BGPPeer" => peer(spec, origin, m),
        "BGPAdvertisement" => {
            if let Some(s) = typed::<BGPAdvertisementSpec>(spec, BGP_AD, &origin, m) {
                let o = BGPAdvertisement::new(&origin.name, s);
                push(&mut m.bgp_advertisements, o, origin, |o| &mut o.metadata);
            }
        }
        "L2Advertisement" => {
            if let Some(s) = typed::<L2AdvertisementSpec>(spec, L2_AD, &origin, m) {
                let o = L2Advertisement::new(&origin.name, s);
                push(&mut m.l2_advertisements, o, origin, |o| &mut o.metadata);
            }
        }
        "BFDProfile" => bfd(spec, origin, m),
        "Community" => community(&spec, &origin, m),
        other => m.warnings.push(origin.warn(
            "kind",
            format!("MetalLB kind `{other}` has no ferrolb counterpart; object skipped"),
        )),
    }
}

fn push<T>(
    list: &mut Vec<Item<T>>,
    mut object: T,
    origin: Origin,
    meta: impl Fn(&mut T) -> &mut kube::api::ObjectMeta,
) {
    meta(&mut object).namespace = Some(NAMESPACE.to_string());
    list.push(Item { object, origin });
}

/// The origin of a document, with the line of every `spec` key (and of each community).
fn origin(doc: &Doc<'_>, kind: &str, name: &str, spec: &Mapping) -> Origin {
    let mut lines = BTreeMap::new();
    let spec_line = line_after(doc, "spec:", 1).unwrap_or(doc.first_line);
    let start = spec_line.saturating_sub(doc.first_line) + 1;
    for key in spec.keys() {
        if let Some(l) = line_after(doc, &format!("{key}:"), start) {
            lines.insert(key.to_string(), l);
        }
    }
    if let Some(Value::Array(list)) = spec.get("communities") {
        let from = lines.get("communities").copied().unwrap_or(spec_line);
        for (i, c) in list.iter().enumerate() {
            if let Some(c) = c.as_str() {
                let at = line_after(doc, &format!("- {c}"), from + 1 - doc.first_line);
                lines.insert(format!("communities[{i}]"), at.unwrap_or(from));
            }
        }
    }
    Origin {
        file: doc.file.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        line: line_after(doc, "kind:", 1).unwrap_or(doc.first_line),
        lines,
    }
}

/// The file line of the first line at or after document line `from` (1-based) whose text,
/// without indentation or a list dash, starts with `needle`.
fn line_after(doc: &Doc<'_>, needle: &str, from: usize) -> Option<usize> {
    doc.text
        .lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            let t = l.trim_start();
            t.starts_with(needle) || t.strip_prefix("- ").is_some_and(|r| r.starts_with(needle))
        })
        .map(|(i, _)| doc.first_line + i)
}

/// Drops the keys our type lacks (a warning each), then fills our type.
fn typed<T: DeserializeOwned>(
    mut spec: Mapping,
    known: &[&str],
    origin: &Origin,
    m: &mut Migration,
) -> Option<T> {
    // In file order (a JSON map is sorted by key).
    let mut unknown: Vec<String> = spec
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect();
    unknown.sort_by_key(|k| origin.lines.get(k).copied().unwrap_or(origin.line));
    for key in unknown {
        spec.remove(key.as_str());
        m.warnings.push(origin.warn(&key, why_unsupported(&key)));
    }
    match serde_json::from_value(Value::Object(spec)) {
        Ok(s) => Some(s),
        Err(e) => {
            m.warnings
                .push(origin.warn("spec", format!("cannot convert ({e}); object skipped")));
            None
        }
    }
}

/// Why a MetalLB field has no place in ferrolb.
fn why_unsupported(key: &str) -> &'static str {
    match key {
        "vrf" => "ferrolb has no VRFs; the session would run in the default VRF; left out",
        "dynamicASN" => "ferrolb needs the peer's ASN as a number in peerASN; left out",
        "interface" => "unnumbered BGP over an interface is not supported; set peerAddress; left out",
        "disableMP" => "ferrolb always carries IPv4 and IPv6 over one multiprotocol session; left out",
        "enableGracefulRestart" => "graceful restart is not set per peer in ferrolb ([bgp] graceful_restart_time); left out",
        "connectTime" => "ferrolb retries connecting at a fixed interval; left out",
        "echoInterval" => "ferrolb's BFD does not run echo; left out",
        _ => "not a field ferrolb knows; left out",
    }
}

fn peer(mut spec: Mapping, mut origin: Origin, m: &mut Migration) {
    if spec.remove("password").is_none() {
        origin.lines.remove("password");
    } else if spec.contains_key("passwordSecret") {
        m.warnings.push(origin.warn(
            "password",
            "both password and passwordSecret are set; passwordSecret kept, the plain password left out",
        ));
        origin.lines.remove("password");
    }
    let Some(mut s) = typed::<BGPPeerSpec>(spec, PEER, &origin, m) else {
        return;
    };
    if let Some(secret) = s.password_secret.as_mut() {
        let from = secret
            .namespace
            .take()
            .unwrap_or_else(|| "metallb-system".into());
        m.warnings.push(origin.warn(
            "passwordSecret",
            format!(
                "ferrolb reads Secret `{}` (key `password`) from `{NAMESPACE}`: copy it there from `{from}`",
                secret.name
            ),
        ));
    }
    let o = BGPPeer::new(&origin.name, s);
    push(&mut m.peers, o, origin, |o| &mut o.metadata);
}

fn bfd(mut spec: Mapping, origin: Origin, m: &mut Migration) {
    if spec.get("echoMode").and_then(Value::as_bool) == Some(true) {
        spec.remove("echoMode");
        m.warnings
            .push(origin.warn("echoMode", "ferrolb's BFD does not run echo; left out"));
    }
    if let Some(s) = typed::<BFDProfileSpec>(spec, BFD, &origin, m) {
        let o = BFDProfile::new(&origin.name, s);
        push(&mut m.bfd_profiles, o, origin, |o| &mut o.metadata);
    }
}

/// `Community` objects: their aliases are resolved into the BGPAdvertisements.
fn community(spec: &Mapping, origin: &Origin, m: &mut Migration) {
    let list = spec.get("communities").and_then(Value::as_array);
    for entry in list.into_iter().flatten() {
        let (name, value) = (text(entry, "name"), text(entry, "value"));
        if name.is_empty() || value.is_empty() {
            m.warnings
                .push(origin.warn("communities", "an entry without name or value; left out"));
            continue;
        }
        if m.communities
            .insert(name.to_string(), value.to_string())
            .is_some()
        {
            m.warnings.push(origin.warn(
                "communities",
                format!("alias `{name}` is defined twice; the last value wins"),
            ));
        }
    }
}
