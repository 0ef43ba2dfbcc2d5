//! `ferrolb migrate --from-metallb`: MetalLB manifests (`metallb.io`) into ferrolb CRDs
//! (`ferrolb.io/v1alpha1`) or a node TOML, with a warning for every field that cannot be
//! carried over.
//!
//! [`read`] splits each file into YAML documents (the splitter of `ferrolb check --manifests`)
//! and fills our CRD types from the MetalLB objects: a field our type has is carried as is, any
//! other is dropped with a [`Warning`] naming its line. A plain-text `spec.password` is never
//! kept. [`to_crds::render`] and [`to_toml::render`] print the result and add the warnings of
//! their target (the TOML has no selectors, for instance).

mod read;
mod to_crds;
mod to_toml;

use std::collections::BTreeMap;
use std::fmt;

use crate::watch::crds::{BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement};

pub use read::read;
pub use to_crds::render as render_crds;
pub use to_toml::render as render_toml;

/// Where the converted objects live: MetalLB's `metallb-system` maps to it.
pub const NAMESPACE: &str = "ferrolb-system";

/// A field that was not carried over: `file:line: kind/name: field: why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub line: usize,
    pub kind: String,
    pub name: String,
    pub field: String,
    pub why: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}/{}: {}: {}",
            self.file, self.line, self.kind, self.name, self.field, self.why
        )
    }
}

/// An input that cannot be parsed: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Where an object came from, with the line of each of its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub kind: String,
    pub name: String,
    /// The line of the document's `kind:`.
    pub line: usize,
    /// Field (`spec` key, or `communities[1]`) → its line.
    pub lines: BTreeMap<String, usize>,
}

impl Origin {
    /// The line of `field`, else of the object.
    pub fn line_of(&self, field: &str) -> usize {
        self.lines.get(field).copied().unwrap_or(self.line)
    }

    /// A warning about `field` of this object.
    pub fn warn(&self, field: &str, why: impl Into<String>) -> Warning {
        Warning {
            file: self.file.clone(),
            line: self.line_of(field),
            kind: self.kind.clone(),
            name: self.name.clone(),
            field: field.to_string(),
            why: why.into(),
        }
    }
}

/// One converted object and where it came from.
#[derive(Debug, Clone)]
pub struct Item<T> {
    pub object: T,
    pub origin: Origin,
}

/// Everything read from the inputs, in input order, and the warnings of reading.
#[derive(Debug, Default)]
pub struct Migration {
    pub pools: Vec<Item<IPAddressPool>>,
    /// A peer whose plain-text password was dropped has `password` in its origin's lines.
    pub peers: Vec<Item<BGPPeer>>,
    pub bgp_advertisements: Vec<Item<BGPAdvertisement>>,
    pub l2_advertisements: Vec<Item<L2Advertisement>>,
    pub bfd_profiles: Vec<Item<BFDProfile>>,
    /// Community aliases (`Community` objects): name → value.
    pub communities: BTreeMap<String, String>,
    pub warnings: Vec<Warning>,
}

impl Migration {
    /// True when no object was converted.
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
            && self.peers.is_empty()
            && self.bgp_advertisements.is_empty()
            && self.l2_advertisements.is_empty()
            && self.bfd_profiles.is_empty()
    }

    /// One ferrolb speaker speaks one ASN (`[node] asn`; a BGPPeer's myASN must equal it): a
    /// warning for each peer whose myASN differs from the first peer's.
    pub fn asn_warnings(&self) -> Vec<Warning> {
        let Some(asn) = self.peers.first().map(|p| p.object.spec.my_asn) else {
            return Vec::new();
        };
        self.peers
            .iter()
            .filter(|p| p.object.spec.my_asn != asn)
            .map(|p| {
                p.origin.warn(
                    "myASN",
                    format!(
                        "{} differs from the first peer's {asn}: a ferrolb node speaks one ASN ([node] asn) and refuses a peer with another",
                        p.object.spec.my_asn
                    ),
                )
            })
            .collect()
    }

    /// An advertisement's communities with the aliases of the `Community` objects resolved;
    /// an alias no Community defines is dropped with a warning.
    pub fn communities_of(&self, ad: &Item<BGPAdvertisement>) -> (Vec<String>, Vec<Warning>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        for (i, c) in ad.object.spec.communities.iter().enumerate() {
            if let Some(value) = self.communities.get(c) {
                out.push(value.clone());
            } else if crate::model::community(c).is_some() {
                out.push(c.clone());
            } else {
                let mut w = ad.origin.warn(
                    "communities",
                    format!("`{c}` is not a community and no Community object defines it as an alias; left out"),
                );
                w.line = ad.origin.line_of(&format!("communities[{i}]"));
                warnings.push(w);
            }
        }
        (out, warnings)
    }
}

#[cfg(test)]
mod tests;
