//! How addresses are announced: what a front end read ([`AdvertisementInput`]), its rules
//! ([`validate`], [`conflicts`]) and the validated [`AdvertisementSpec`] the announcer applies.
//!
//! The rules, the same for `[[advertisements]]` and a BGPAdvertisement or L2Advertisement: a
//! mode of `bgp` or `l2`; communities `ASN:value` (16 bits each), `large:a:b:c` (32 bits each)
//! or a well-known name; LOCAL_PREF a 32-bit value; aggregation lengths up to 32 and 128. Across
//! advertisements: two BGP advertisements that can give one address to one peer must not set
//! different LOCAL_PREFs (a route carries one), and an aggregation length must not be shorter
//! than a CIDR block of a pool it selects (the aggregate would announce addresses outside it).

use std::fmt;
use std::net::IpAddr;

use super::field::{ranged, FieldError};
use super::pool::PoolSpec;
use super::values::{community, Community};

/// How an address reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Mode {
    /// Routes to BGP peers.
    #[default]
    Bgp,
    /// ARP/NDP answers on the node's interfaces.
    L2,
}

impl Mode {
    /// The spelling in node.toml, `/status` and ServiceAnnouncements.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Bgp => "bgp",
            Mode::L2 => "l2",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdvertisementSpec {
    /// Pool names; empty = every pool and the addresses outside all pools.
    pub pools: Vec<String>,
    pub mode: Mode,
    /// BGP: peer names; empty = all peers.
    pub peers: Vec<String>,
    pub communities: Vec<Community>,
    pub local_pref: Option<u32>,
    pub aggregation_length: Option<u8>,
    pub aggregation_length_v6: Option<u8>,
    /// L2: interface names; empty = every interface whose subnet holds the address.
    pub interfaces: Vec<String>,
}

impl AdvertisementSpec {
    /// True when it applies to an address of `pool` (None: outside every pool): no `pools`
    /// selects every pool and the addresses outside all of them.
    pub fn selects(&self, pool: Option<&str>) -> bool {
        match pool {
            _ if self.pools.is_empty() => true,
            Some(pool) => self.pools.iter().any(|p| p == pool),
            None => false,
        }
    }
}

/// An advertisement as a front end read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdvertisementInput {
    pub pools: Vec<String>,
    /// `"bgp"` (default) or `"l2"`.
    pub mode: Option<String>,
    pub peers: Vec<String>,
    pub communities: Vec<String>,
    pub local_pref: Option<i64>,
    pub aggregation_length: Option<i64>,
    pub aggregation_length_v6: Option<i64>,
    pub interfaces: Vec<String>,
}

/// Checks one advertisement. A malformed community is left out (and reported); the rest of
/// the advertisement stands.
pub fn validate(input: &AdvertisementInput) -> (AdvertisementSpec, Vec<FieldError>) {
    let mut e = Vec::new();
    let mode = match input.mode.as_deref() {
        None | Some("bgp") => Mode::Bgp,
        Some("l2") => Mode::L2,
        Some(other) => {
            e.push(FieldError::new(
                "mode",
                format!("`{other}` is not \"bgp\" or \"l2\""),
            ));
            Mode::Bgp
        }
    };
    let mut communities = Vec::new();
    for (i, c) in input.communities.iter().enumerate() {
        match community(c) {
            Some(x) => communities.push(x),
            None => e.push(FieldError::at("communities", i, format!("`{c}` is not `asn:value` (16-bit each), `large:a:b:c` (32-bit each) or a well-known name like no-export"))),
        }
    }
    let spec = AdvertisementSpec {
        pools: input.pools.clone(),
        mode,
        peers: input.peers.clone(),
        communities,
        local_pref: ranged(input.local_pref, "local_pref", 0, u32::MAX.into(), &mut e)
            .map(|v| v as u32),
        aggregation_length: ranged(
            input.aggregation_length,
            "aggregation_length",
            0,
            32,
            &mut e,
        )
        .map(|v| v as u8),
        aggregation_length_v6: ranged(
            input.aggregation_length_v6,
            "aggregation_length_v6",
            0,
            128,
            &mut e,
        )
        .map(|v| v as u8),
        interfaces: input.interfaces.clone(),
    };
    (spec, e)
}

/// Problems between advertisements and with the pools they select: (index of the
/// advertisement, problem). See the module docs for the rules.
pub fn conflicts(ads: &[AdvertisementSpec], pools: &[PoolSpec]) -> Vec<(usize, FieldError)> {
    let mut out = Vec::new();
    let overlap = |a: &[String], b: &[String]| {
        a.is_empty() || b.is_empty() || a.iter().any(|x| b.contains(x))
    };
    for (j, b) in ads.iter().enumerate().filter(|(_, a)| a.mode == Mode::Bgp) {
        let Some(lp_b) = b.local_pref else { continue };
        let conflict = ads.iter().take(j).enumerate().find(|(_, a)| {
            a.mode == Mode::Bgp
                && a.local_pref.is_some_and(|lp| lp != lp_b)
                && overlap(&a.pools, &b.pools)
                && overlap(&a.peers, &b.peers)
        });
        if let Some((i, a)) = conflict {
            out.push((j, FieldError::new("local_pref", format!(
                "{lp_b} conflicts with advertisements[{i}].local_pref = {}: both can announce the same address to the same peer, and a route carries one LOCAL_PREF",
                a.local_pref.unwrap_or_default()
            ))));
        }
    }
    for (i, ad) in ads.iter().enumerate() {
        for pool in pools
            .iter()
            .filter(|p| ad.pools.is_empty() || ad.pools.contains(&p.name))
        {
            for range in &pool.ranges {
                let (len, key) = match range.start {
                    IpAddr::V4(_) => (ad.aggregation_length, "aggregation_length"),
                    IpAddr::V6(_) => (ad.aggregation_length_v6, "aggregation_length_v6"),
                };
                let Some(len) = len else { continue };
                if let Some(net) = range.cidrs().find(|n| n.prefix_len() > len) {
                    out.push((i, FieldError::new(key, format!(
                        "{len}: pool `{}` holds {net}, which is more specific; the aggregate would announce addresses outside the pool",
                        pool.name
                    ))));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pool;

    fn ad(pools: &[&str], local_pref: Option<i64>) -> AdvertisementSpec {
        let input = AdvertisementInput {
            pools: pools.iter().map(|p| p.to_string()).collect(),
            local_pref,
            ..AdvertisementInput::default()
        };
        validate(&input).0
    }

    #[test]
    fn mode_communities_and_lengths_are_checked_and_bad_communities_left_out() {
        let input = AdvertisementInput {
            mode: Some("l3".into()),
            communities: vec!["64500:1".into(), "64500:x".into()],
            aggregation_length: Some(33),
            aggregation_length_v6: Some(64),
            ..AdvertisementInput::default()
        };
        let (spec, e) = validate(&input);
        let fields: Vec<_> = e.iter().map(|e| (e.field, e.index)).collect();
        assert_eq!(
            fields,
            [
                ("mode", None),
                ("communities", Some(1)),
                ("aggregation_length", None)
            ]
        );
        assert_eq!(spec.communities, [Community::Standard((64500 << 16) | 1)]);
        assert_eq!(
            (spec.aggregation_length, spec.aggregation_length_v6),
            (None, Some(64))
        );
        assert_eq!(
            validate(&AdvertisementInput {
                mode: Some("l2".into()),
                ..AdvertisementInput::default()
            })
            .0
            .mode,
            Mode::L2
        );
    }

    #[test]
    fn two_local_prefs_for_one_address_and_peer_conflict() {
        let ads = [
            ad(&[], Some(100)),
            ad(&["public"], Some(200)),
            ad(&["other"], Some(100)),
        ];
        let c = conflicts(&ads, &[]);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].0, c[0].1.field), (1, "local_pref"));
    }

    #[test]
    fn an_aggregate_shorter_than_a_pool_block_is_refused() {
        let (p, _) = pool::validate(
            &pool::PoolInput {
                name: Some("public".into()),
                addresses: vec!["198.51.100.0/25".into()],
                ..Default::default()
            },
            &[],
        );
        let mut a = ad(&["public"], None);
        a.aggregation_length = Some(24);
        let c = conflicts(&[a.clone()], &[p.clone().expect("pool")]);
        assert_eq!(c.len(), 1);
        assert!(c[0].1.message.contains("198.51.100.0/25"));
        a.aggregation_length = Some(25);
        assert!(conflicts(&[a], &[p.expect("pool")]).is_empty());
    }
}
