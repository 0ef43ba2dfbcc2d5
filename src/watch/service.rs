//! What ferrolb reads from a Kubernetes Service: whether it is ours, and the allocator request
//! and restore entry it stands for. Pure: the mirror's [`ServiceRecord`]s in, allocator types
//! out.
//!
//! - Ours: `spec.type: LoadBalancer` and `spec.loadBalancerClass` equal to `[kubernetes]
//!   load_balancer_class` (the empty class means "Services without a class").
//! - Annotations are read under `ferrolb.io/`, then `metallb.io/`, then `metallb.universe.tf/`
//!   (the first spelling present wins): `loadBalancerIPs` (comma-separated), `address-pool`,
//!   `allow-shared-ip`. Without `loadBalancerIPs`, `spec.loadBalancerIP` is honoured.
//! - `spec.ipFamilyPolicy` (default SingleStack, of the family `spec.ipFamilies[0]`, IPv4 when
//!   absent); sharing carries the Service's ports and `externalTrafficPolicy: Local`.
//! - Restore: the addresses in `status.loadBalancer.ingress` are what the Service holds; the
//!   creation time orders contested addresses (older wins).

use std::net::IpAddr;

use super::mirror::record::Policy;
pub use super::mirror::record::{ServiceRecord, ANNOTATION_PREFIXES};
use crate::allocator::{FamilyPolicy, Request, Restored, Sharing};

/// `namespace/name`: the allocator key of a Service.
pub fn key(svc: &ServiceRecord) -> String {
    svc.key.to_string()
}

/// True when ferrolb handles this Service under `class`.
pub fn is_ours(svc: &ServiceRecord, class: &str) -> bool {
    svc.load_balancer && svc.class.as_deref().unwrap_or("") == class
}

/// The addresses a Service asks for (annotation `loadBalancerIPs`, else
/// `spec.loadBalancerIP`; empty: any) and its family policy; an error names the annotation or
/// field that is wrong. The part of [`request`] that can fail.
pub fn asked(svc: &ServiceRecord) -> Result<(Vec<IpAddr>, FamilyPolicy), String> {
    let addresses = match svc.annotation("loadBalancerIPs") {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| format!("annotation loadBalancerIPs: `{s}` is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => match svc.load_balancer_ip.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => vec![s
                .parse()
                .map_err(|_| format!("spec.loadBalancerIP: `{s}` is not an IP address"))?],
            None => Vec::new(),
        },
    };
    let policy = match &svc.policy {
        Policy::Unset | Policy::SingleStack => FamilyPolicy::SingleStack(svc.primary),
        Policy::PreferDualStack => FamilyPolicy::PreferDualStack,
        Policy::RequireDualStack => FamilyPolicy::RequireDualStack,
        Policy::Unknown(other) => {
            return Err(format!("spec.ipFamilyPolicy: unknown policy `{other}`"))
        }
    };
    Ok((addresses, policy))
}

/// The allocator request of a Service; an error names the annotation or field that is wrong.
pub fn request(svc: &ServiceRecord) -> Result<Request, String> {
    let (addresses, policy) = asked(svc)?;
    Ok(Request {
        key: svc.key.clone(),
        created: svc.created,
        namespace: svc.namespace().to_string(),
        // Filled by the caller, who knows the Namespace objects.
        namespace_labels: Default::default(),
        labels: svc.label_map(),
        addresses,
        pool: svc.annotation("address-pool").map(str::to_string),
        policy,
        sharing: sharing(svc),
    })
}

/// What a Service that asks to share its address brings (None when it does not ask).
pub fn sharing(svc: &ServiceRecord) -> Option<Sharing> {
    svc.annotation("allow-shared-ip")
        .filter(|k| !k.is_empty())
        .map(|k| Sharing {
            key: k.to_string(),
            ports: svc.ports.to_vec(),
            local_traffic: svc.local_traffic,
        })
}

/// The addresses in `status.loadBalancer.ingress` (unparseable entries are skipped).
pub fn ingress(svc: &ServiceRecord) -> Vec<IpAddr> {
    svc.ingress.to_vec()
}

/// The restore entry of a Service that already has addresses in its status.
pub fn restored(svc: &ServiceRecord) -> Option<Restored> {
    let addresses = ingress(svc);
    if addresses.is_empty() {
        return None;
    }
    let sharing = request(svc).ok().and_then(|r| r.sharing);
    Some(Restored {
        key: svc.key.clone(),
        created: svc.created,
        addresses,
        sharing,
        pool: svc.annotation("address-pool").map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::{Fam, Port};

    fn svc(yaml: &str) -> ServiceRecord {
        ServiceRecord::of(&crate::yaml::from_str(yaml).expect("test Service"))
    }

    const BASE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n  creationTimestamp: \"2026-01-01T00:00:10Z\"\nspec:\n  type: LoadBalancer\n  ports:\n  - port: 80\n";

    #[test]
    fn only_load_balancers_of_our_class_are_ours() {
        assert!(is_ours(&svc(BASE), ""));
        assert!(!is_ours(&svc(BASE), "ferrolb.io/lb"));
        let classed = format!("{BASE}  loadBalancerClass: ferrolb.io/lb\n");
        assert!(is_ours(&svc(&classed), "ferrolb.io/lb"));
        assert!(!is_ours(&svc(&classed), ""));
        assert!(!is_ours(
            &svc(&BASE.replace("LoadBalancer", "ClusterIP")),
            ""
        ));
    }

    #[test]
    fn a_plain_service_asks_for_one_ipv4_address_from_any_pool() {
        let r = request(&svc(BASE)).expect("request");
        assert_eq!(&*r.key, "shop/web");
        assert_eq!(r.created, 1_767_225_610);
        assert_eq!(r.policy, FamilyPolicy::SingleStack(Fam::V4));
        assert!(r.addresses.is_empty() && r.pool.is_none() && r.sharing.is_none());
    }

    #[test]
    fn every_annotation_spelling_is_read_and_ferrolb_wins() {
        for prefix in ANNOTATION_PREFIXES {
            let s = BASE.replace(
                "  creationTimestamp",
                &format!("  annotations:\n    {prefix}address-pool: reserved\n    {prefix}loadBalancerIPs: 198.51.100.7,2001:db8::7\n  creationTimestamp"),
            );
            let r = request(&svc(&s)).expect("request");
            assert_eq!(r.pool.as_deref(), Some("reserved"), "{prefix}");
            assert_eq!(r.addresses.len(), 2, "{prefix}");
        }
        let both = BASE.replace(
            "  creationTimestamp",
            "  annotations:\n    metallb.universe.tf/address-pool: old\n    ferrolb.io/address-pool: new\n  creationTimestamp",
        );
        assert_eq!(
            request(&svc(&both)).expect("r").pool.as_deref(),
            Some("new")
        );
    }

    #[test]
    fn spec_load_balancer_ip_is_honoured_and_a_bad_one_named() {
        let s = format!("{BASE}  loadBalancerIP: 203.0.113.5\n");
        assert_eq!(
            request(&svc(&s)).expect("r").addresses,
            ["203.0.113.5".parse::<IpAddr>().expect("ip")]
        );
        let bad = format!("{BASE}  loadBalancerIP: 203.0.113.500\n");
        assert_eq!(
            request(&svc(&bad)).expect_err("bad"),
            "spec.loadBalancerIP: `203.0.113.500` is not an IP address"
        );
    }

    #[test]
    fn family_policies_and_the_primary_family() {
        let v6 = format!("{BASE}  ipFamilies: [IPv6]\n");
        assert_eq!(
            request(&svc(&v6)).expect("r").policy,
            FamilyPolicy::SingleStack(Fam::V6)
        );
        let dual = format!("{BASE}  ipFamilyPolicy: RequireDualStack\n");
        assert_eq!(
            request(&svc(&dual)).expect("r").policy,
            FamilyPolicy::RequireDualStack
        );
        let prefer = format!("{BASE}  ipFamilyPolicy: PreferDualStack\n");
        assert_eq!(
            request(&svc(&prefer)).expect("r").policy,
            FamilyPolicy::PreferDualStack
        );
    }

    #[test]
    fn sharing_carries_ports_and_the_traffic_policy() {
        let s = BASE.replace(
            "  creationTimestamp",
            "  annotations:\n    ferrolb.io/allow-shared-ip: k1\n  creationTimestamp",
        ) + "  externalTrafficPolicy: Local\n";
        let sharing = request(&svc(&s)).expect("r").sharing.expect("sharing");
        assert_eq!(sharing.key, "k1");
        assert!(sharing.local_traffic);
        assert_eq!(
            sharing.ports,
            [Port {
                protocol: "TCP".into(),
                port: 80
            }]
        );
    }

    #[test]
    fn status_ingress_is_what_a_restart_re_adopts() {
        assert!(restored(&svc(BASE)).is_none());
        let s = format!("{BASE}status:\n  loadBalancer:\n    ingress:\n    - ip: 198.51.100.9\n    - hostname: x.example\n");
        let r = restored(&svc(&s)).expect("restored");
        assert_eq!(&*r.key, "shop/web");
        assert_eq!(r.addresses, ["198.51.100.9".parse::<IpAddr>().expect("ip")]);
    }
}
