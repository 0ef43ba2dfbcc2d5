//! What the API server fills into a Service on create (the only kind given defaults here,
//! because the daemon reads these fields): type, session affinity, traffic policies, IP family
//! policy and families, cluster IPs, port protocols and target ports, node ports and the health
//! check node port. The cluster is dual-stack, IPv4 primary, with the service ranges
//! 10.96.0.0/12 and fd00:10:96::/112 and node ports 30000-32767, like a default kubeadm setup.
//! Allocation takes the lowest free value instead of a random one.
//!
//! On replace, allocated values left out of the body are kept, as the real server does, and the
//! defaults are applied again (a new port gets its protocol, target port and node port).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

use super::status::ApiError;

/// Fills in what a Service leaves out (idempotent: set fields stay); `existing` are the other
/// stored Services, whose addresses and node ports are taken.
pub fn service_defaults<'a>(
    svc: &mut Value,
    existing: impl Iterator<Item = &'a Value> + Clone,
) -> Result<(), ApiError> {
    if !svc["spec"].is_object() {
        svc["spec"] = json!({});
    }
    let spec = &mut svc["spec"];
    let kind = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    spec["type"] = json!(kind);
    if kind == "ExternalName" {
        return Ok(());
    }
    default(spec, "sessionAffinity", json!("None"));
    default(spec, "internalTrafficPolicy", json!("Cluster"));
    let exposed = kind == "NodePort" || kind == "LoadBalancer";
    if exposed {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    families(spec)?;
    cluster_ips(spec, existing.clone())?;
    let mut used = used_node_ports(existing);
    let wants_node_ports =
        exposed && spec["allocateLoadBalancerNodePorts"].as_bool() != Some(false);
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports.iter_mut().filter(|p| p.is_object()) {
            default(p, "protocol", json!("TCP"));
            let port = p["port"].clone();
            default(p, "targetPort", port);
            if wants_node_ports && p.get("nodePort").is_none() {
                p["nodePort"] = json!(next_node_port(&mut used)?);
            }
        }
    }
    let local = spec["externalTrafficPolicy"].as_str() == Some("Local");
    if kind == "LoadBalancer" && local && spec.get("healthCheckNodePort").is_none() {
        spec["healthCheckNodePort"] = json!(next_node_port(&mut used)?);
    }
    Ok(())
}

/// On replace: what was allocated stays when the new body leaves it out.
pub fn service_keep_allocated(new: &mut Value, old: &Value) {
    if !new["spec"].is_object() {
        return;
    }
    for f in [
        "clusterIP",
        "clusterIPs",
        "ipFamilies",
        "ipFamilyPolicy",
        "healthCheckNodePort",
    ] {
        if new["spec"].get(f).is_none() {
            if let Some(v) = old["spec"].get(f) {
                new["spec"][f] = v.clone();
            }
        }
    }
    // A downgrade to SingleStack drops the secondary family and address.
    let single = new["spec"]["ipFamilyPolicy"].as_str() == Some("SingleStack");
    if single && old["spec"]["ipFamilyPolicy"].as_str() != Some("SingleStack") {
        for f in ["ipFamilies", "clusterIPs"] {
            if let Some(list) = new["spec"][f].as_array_mut() {
                list.truncate(1);
            }
        }
    }
    let old_ports = old["spec"]["ports"].as_array().cloned().unwrap_or_default();
    if let Some(ports) = new["spec"]["ports"].as_array_mut() {
        for p in ports
            .iter_mut()
            .filter(|p| p.is_object() && p.get("nodePort").is_none())
        {
            let same = old_ports
                .iter()
                .find(|o| o["port"] == p["port"] && o["protocol"] == p["protocol"]);
            if let Some(np) = same.and_then(|o| o.get("nodePort")) {
                p["nodePort"] = np.clone();
            }
        }
    }
}

fn default(obj: &mut Value, field: &str, value: Value) {
    if obj.get(field).is_none_or(Value::is_null) {
        obj[field] = value;
    }
}

/// ipFamilyPolicy and ipFamilies, for a dual-stack IPv4-primary cluster.
fn families(spec: &mut Value) -> Result<(), ApiError> {
    let given: Vec<String> = spec["ipFamilies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if given.iter().any(|f| f != "IPv4" && f != "IPv6") || given.len() > 2 {
        return Err(invalid("spec.ipFamilies: Unsupported value"));
    }
    let policy = match spec["ipFamilyPolicy"].as_str() {
        Some(p) => p.to_string(),
        None if given.len() == 2 => "RequireDualStack".into(),
        None => "SingleStack".into(),
    };
    let families = match (policy.as_str(), given.first().map(String::as_str)) {
        ("SingleStack", Some(f)) if given.len() == 1 => vec![f.to_string()],
        ("SingleStack", None) => vec!["IPv4".to_string()],
        ("PreferDualStack" | "RequireDualStack", Some("IPv6")) => {
            vec!["IPv6".into(), "IPv4".into()]
        }
        ("PreferDualStack" | "RequireDualStack", _) => vec!["IPv4".into(), "IPv6".into()],
        _ => return Err(invalid("spec.ipFamilyPolicy and spec.ipFamilies disagree")),
    };
    spec["ipFamilyPolicy"] = json!(policy);
    spec["ipFamilies"] = json!(families);
    Ok(())
}

fn cluster_ips<'a>(
    spec: &mut Value,
    existing: impl Iterator<Item = &'a Value>,
) -> Result<(), ApiError> {
    if spec["clusterIP"].as_str() == Some("None") {
        spec["clusterIPs"] = json!(["None"]);
        return Ok(());
    }
    let used: BTreeSet<String> = existing
        .filter_map(|s| s["spec"]["clusterIPs"].as_array().cloned())
        .flatten()
        .filter_map(|ip| ip.as_str().map(str::to_string))
        .collect();
    let mut given: Vec<String> = strings(&spec["clusterIPs"]);
    if given.is_empty() {
        given.extend(
            spec["clusterIP"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    if let Some(ip) = given.iter().find(|ip| used.contains(*ip)) {
        return Err(invalid(&format!(
            "spec.clusterIPs: Invalid value: {ip}: provided IP is already allocated"
        )));
    }
    let mut ips = Vec::new();
    for (i, family) in strings(&spec["ipFamilies"]).iter().enumerate() {
        match given.get(i) {
            Some(ip) => ips.push(ip.clone()),
            None => ips.push(
                free_ip(family == "IPv6", &used).ok_or_else(|| invalid("service range is full"))?,
            ),
        }
    }
    spec["clusterIP"] = json!(ips.first());
    spec["clusterIPs"] = json!(ips);
    Ok(())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn free_ip(v6: bool, used: &BTreeSet<String>) -> Option<String> {
    (10u32..4000).find_map(|n| {
        let ip = if v6 {
            Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, n as u16).to_string()
        } else {
            Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + n).to_string()
        };
        (!used.contains(&ip)).then_some(ip)
    })
}

fn used_node_ports<'a>(existing: impl Iterator<Item = &'a Value>) -> BTreeSet<u64> {
    let mut used = BTreeSet::new();
    for s in existing {
        if let Some(ports) = s["spec"]["ports"].as_array() {
            used.extend(ports.iter().filter_map(|p| p["nodePort"].as_u64()));
        }
        used.extend(s["spec"]["healthCheckNodePort"].as_u64());
    }
    used
}

fn next_node_port(used: &mut BTreeSet<u64>) -> Result<u64, ApiError> {
    let port = (30000..=32767)
        .find(|p| !used.contains(p))
        .ok_or_else(|| invalid("spec.ports: node port range is full"))?;
    used.insert(port);
    Ok(port)
}

fn invalid(message: &str) -> ApiError {
    ApiError::new(422, "Invalid", format!("Service is invalid: {message}"))
}
