//! The L2 sink's desired state: per interface, the service addresses this node wants to answer
//! ARP/NDP for. Which node of the L2 domain really answers is decided with the membership layer
//! and read back from the responder (the L2 work builds that on this type).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::Assigned;
use crate::model::{AdvertisementSpec, Mode};

/// The interface key meaning "every interface whose subnet holds the address".
pub const ANY_INTERFACE: &str = "*";

/// Interface → addresses to answer for on it.
pub type L2Owned = BTreeMap<String, BTreeSet<IpAddr>>;

/// The L2 addresses of every service under the L2 advertisements that select them.
pub fn owned<'a>(
    services: impl IntoIterator<Item = &'a [Assigned]>,
    advertisements: &[AdvertisementSpec],
) -> L2Owned {
    let ads: Vec<&AdvertisementSpec> = advertisements
        .iter()
        .filter(|a| a.mode == Mode::L2)
        .collect();
    let mut out = L2Owned::new();
    if ads.is_empty() {
        return out;
    }
    for a in services.into_iter().flatten() {
        for ad in ads.iter().filter(|ad| ad.selects(a.pool.as_deref())) {
            if ad.interfaces.is_empty() {
                out.entry(ANY_INTERFACE.to_string())
                    .or_default()
                    .insert(a.address);
            }
            for i in &ad.interfaces {
                out.entry(i.clone()).or_default().insert(a.address);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assigned(addr: &str, pool: &str) -> Assigned {
        Assigned {
            address: addr.parse().expect("ip"),
            pool: Some(pool.into()),
        }
    }

    #[test]
    fn l2_advertisements_give_addresses_per_interface_and_bgp_ones_none() {
        let l2 = AdvertisementSpec {
            mode: Mode::L2,
            pools: vec!["lan".into()],
            interfaces: vec!["eth1".into(), "eth2".into()],
            ..AdvertisementSpec::default()
        };
        let anywhere = AdvertisementSpec {
            mode: Mode::L2,
            pools: vec!["dmz".into()],
            ..AdvertisementSpec::default()
        };
        let bgp = AdvertisementSpec::default();
        let services = [
            vec![assigned("192.0.2.10", "lan")],
            vec![
                assigned("203.0.113.5", "dmz"),
                assigned("198.51.100.1", "wan"),
            ],
        ];
        let got = owned(
            services.iter().map(|s| &s[..]),
            &[l2, anywhere, bgp.clone()],
        );
        assert_eq!(got.keys().collect::<Vec<_>>(), ["*", "eth1", "eth2"]);
        assert_eq!(
            got["eth1"],
            BTreeSet::from(["192.0.2.10".parse().expect("ip")])
        );
        assert_eq!(
            got["*"],
            BTreeSet::from(["203.0.113.5".parse().expect("ip")])
        );
        assert!(owned(services.iter().map(|s| &s[..]), &[bgp]).is_empty());
    }
}
