//! `--to crds`: the converted objects as ferrolb.io/v1alpha1 YAML documents, with a `Secret`
//! to fill for every peer whose plain-text password was left out.

use serde::Serialize;

use super::{Migration, Warning, NAMESPACE};
use crate::watch::crds::SecretReference;

/// The YAML stream and the warnings of this target.
pub fn render(m: &Migration) -> Result<(String, Vec<Warning>), crate::yaml::SerializeError> {
    let mut out = String::from("# Converted from MetalLB by `ferrolb migrate --from-metallb`.\n");
    let mut warnings = m.asn_warnings();
    for p in &m.pools {
        document(&mut out, &p.object)?;
    }
    for p in &m.bfd_profiles {
        document(&mut out, &p.object)?;
    }
    for p in &m.peers {
        let mut peer = p.object.clone();
        if p.origin.lines.contains_key("password") {
            let name = format!("{}-password", p.origin.name);
            document(&mut out, &secret(&name))?;
            warnings.push(p.origin.warn(
                "password",
                format!("not printed: put the password in Secret `{name}` (key `password`, now REPLACE-ME); passwordSecret names it"),
            ));
            peer.spec.password_secret = Some(SecretReference {
                name,
                namespace: None,
            });
        }
        document(&mut out, &peer)?;
    }
    for ad in &m.bgp_advertisements {
        let (communities, w) = m.communities_of(ad);
        warnings.extend(w);
        let mut o = ad.object.clone();
        o.spec.communities = communities;
        document(&mut out, &o)?;
    }
    for ad in &m.l2_advertisements {
        document(&mut out, &ad.object)?;
    }
    Ok((out, warnings))
}

fn document<T: Serialize>(out: &mut String, object: &T) -> Result<(), crate::yaml::SerializeError> {
    out.push_str("---\n");
    out.push_str(&crate::yaml::to_string(object)?);
    Ok(())
}

/// A Secret for a BGPPeer password, with a placeholder instead of the password.
fn secret(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "type": "Opaque",
        "stringData": {"password": "REPLACE-ME"},
    })
}
