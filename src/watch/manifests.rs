//! `ferrolb check --manifests DIR`: offline validation of ferrolb CRD objects in YAML files,
//! with `file:line:col: message` errors like the TOML checker.
//!
//! Every `*.yaml`/`*.yml` file in DIR (sorted, not recursive) is split into documents. A document
//! of `apiVersion: ferrolb.io/v1alpha1` must be one of our kinds and deserialize into its type
//! (unknown fields are errors, so a misspelt key is named); then the values go through the
//! model's validation (`crate::model`, via [`super::convert`]), the same rules the daemon and
//! node.toml apply: addresses and ranges, peer addresses, ASNs, hold/keepalive times,
//! communities, aggregation lengths, selectors; and duplicate names. With the node's config
//! (`ferrolb check --config node.toml --manifests DIR`) a BGPPeer's `myASN` and `routerID` are
//! checked against it too. A `metallb.io` object gets a hint to rename the group. Documents of
//! other groups (Namespace, RBAC, DaemonSet) are skipped.
//!
//! Locations: YAML and type errors carry the parser's line and column; for a bad value the
//! first line of its document holding that value (or its key) is named.

use std::collections::BTreeSet;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::convert::{self, advertisement_field, peer_field, pool_field};
use super::crds::{
    BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement, ServiceAnnouncement,
};
use crate::model::{
    advertisement, bfd, peer, pool, selector, BfdProfile, BfdProfiles, FieldError, LocalSpec,
};
use crate::yaml;

const API_VERSION: &str = "ferrolb.io/v1alpha1";

/// One problem in a manifest: the same `file:line:col: message` as a config error.
pub type ManifestError = crate::config::ConfigError;

/// What a check found: how many ferrolb objects were valid, and every problem.
#[derive(Debug, Default)]
pub struct Report {
    pub objects: usize,
    pub errors: Vec<ManifestError>,
}

/// Checks every YAML file in `dir`; `node` is the node the objects will run on, when known.
pub fn check_dir(dir: &Path, node: Option<&LocalSpec>) -> Report {
    let mut report = Report::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            report.errors.push(ManifestError {
                file: dir.display().to_string(),
                line: 1,
                col: 1,
                message: format!("cannot read the directory: {e}"),
            });
            return report;
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let mut seen = BTreeSet::new();
    for path in files {
        let file = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => check_text(&file, &text, node, &mut seen, &mut report),
            Err(e) => report.errors.push(ManifestError {
                file,
                line: 1,
                col: 1,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    report
}

/// One YAML document: its text and the file line it starts on.
pub(crate) struct Doc<'a> {
    pub(crate) text: String,
    pub(crate) first_line: usize,
    pub(crate) file: &'a str,
}

impl Doc<'_> {
    fn error(&self, line: usize, col: usize, message: impl Into<String>) -> ManifestError {
        ManifestError {
            file: self.file.to_string(),
            line: self.first_line + line.saturating_sub(1),
            col,
            message: message.into(),
        }
    }

    /// The location of `needle` (a key or a value): first as a list item (`- needle`), then
    /// as a mapping value (`: needle`), then anywhere; the document start when absent.
    pub(crate) fn find(&self, needle: &str, message: impl Into<String>) -> ManifestError {
        let patterns = [
            format!("- {needle}"),
            format!(": {needle}"),
            needle.to_string(),
        ];
        let at = patterns.iter().find_map(|pat| {
            let skip = pat.len() - needle.len();
            self.text
                .lines()
                .enumerate()
                .find_map(|(i, l)| l.find(pat.as_str()).map(|c| (i + 1, c + skip + 1)))
        });
        let (line, col) = at.unwrap_or((1, 1));
        self.error(line, col, message)
    }
}

pub(crate) fn documents<'a>(file: &'a str, text: &str) -> Vec<Doc<'a>> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut first_line = 1;
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            docs.push(Doc {
                text: std::mem::take(&mut current),
                first_line,
                file,
            });
            first_line = i + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push(Doc {
        text: current,
        first_line,
        file,
    });
    docs.retain(|d| {
        d.text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// Checks the documents of one file; `seen` holds (kind, namespace, name) across files.
pub fn check_text(
    file: &str,
    text: &str,
    node: Option<&LocalSpec>,
    seen: &mut BTreeSet<(String, String, String)>,
    report: &mut Report,
) {
    for doc in documents(file, text) {
        let value: serde_json::Value = match yaml::from_str(&doc.text) {
            Ok(v) => v,
            Err(e) => {
                report.errors.push(located(&doc, &e));
                continue;
            }
        };
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let (api, kind) = (field("apiVersion"), field("kind"));
        if api.starts_with("metallb.io/") {
            report.errors.push(doc.find(
                "apiVersion",
                format!(
                    "{kind} of `{api}` is MetalLB's group: rename apiVersion to `{API_VERSION}`"
                ),
            ));
            continue;
        }
        if !api.starts_with("ferrolb.io/") {
            continue; // not ours (Namespace, RBAC, DaemonSet, ...)
        }
        if api != API_VERSION {
            report.errors.push(doc.find(
                "apiVersion",
                format!("unknown version `{api}`; this ferrolb serves `{API_VERSION}`"),
            ));
            continue;
        }
        let before = report.errors.len();
        match kind {
            "IPAddressPool" => {
                typed::<IPAddressPool>(&doc, report).map(|o| check_pool(&doc, &o, report))
            }
            "BGPPeer" => typed::<BGPPeer>(&doc, report).map(|o| check_peer(&doc, &o, node, report)),
            "BGPAdvertisement" => {
                typed::<BGPAdvertisement>(&doc, report).map(|o| bgp_ad(&doc, &o, report))
            }
            "L2Advertisement" => typed::<L2Advertisement>(&doc, report).map(drop),
            "BFDProfile" => typed::<BFDProfile>(&doc, report).map(|o| check_bfd(&doc, &o, report)),
            "ServiceAnnouncement" => typed::<ServiceAnnouncement>(&doc, report).map(drop),
            other => {
                report.errors.push(doc.find(
                    "kind",
                    format!("unknown kind `{other}` in {API_VERSION} (IPAddressPool, BGPPeer, BGPAdvertisement, L2Advertisement, BFDProfile, ServiceAnnouncement)"),
                ));
                None
            }
        };
        let meta = value.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        let namespace = meta
            .and_then(|m| m.get("namespace"))
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        if name.is_empty() {
            report
                .errors
                .push(doc.find("metadata", format!("{kind} without metadata.name")));
        } else if !seen.insert((kind.to_string(), namespace.to_string(), name.to_string())) {
            report.errors.push(doc.find(
                &format!("name: {name}"),
                format!("{kind} `{name}` is defined twice in namespace `{namespace}`"),
            ));
        }
        if report.errors.len() == before {
            report.objects += 1;
        }
    }
}

pub(crate) fn located(doc: &Doc<'_>, e: &yaml::Error) -> ManifestError {
    let (line, col) = yaml::location(e);
    doc.error(line, col, yaml::message(e))
}

fn typed<T: DeserializeOwned>(doc: &Doc<'_>, report: &mut Report) -> Option<T> {
    match yaml::from_str(&doc.text) {
        Ok(o) => Some(o),
        Err(e) => {
            report.errors.push(located(doc, &e));
            None
        }
    }
}

/// Puts a model problem at the needle (a value or a key) of its document.
fn locate(doc: &Doc<'_>, needle: &str, crd_field: &str, e: &FieldError) -> ManifestError {
    doc.find(needle, format!("{crd_field}: {}", e.message))
}

fn check_pool(doc: &Doc<'_>, o: &IPAddressPool, report: &mut Report) {
    if let Some(sa) = &o.spec.service_allocation {
        selectors(doc, &sa.namespace_selectors, report);
        selectors(doc, &sa.service_selectors, report);
    }
    let (_, errors) = pool::validate(&convert::pool_input(o), &[]);
    for e in errors.iter().filter(|e| !e.field.ends_with("selectors")) {
        let needle = match (e.field, e.index) {
            ("addresses", Some(i)) => o.spec.addresses.get(i).cloned().unwrap_or_default(),
            (f, _) => pool_field(f).to_string(),
        };
        report
            .errors
            .push(locate(doc, &needle, pool_field(e.field), e));
    }
}

/// Label selectors with an operator Kubernetes does not have are located at the operator.
fn selectors(doc: &Doc<'_>, list: &[super::crds::LabelSelector], report: &mut Report) {
    for sel in convert::selectors(list) {
        if let Err(e) = selector::requirements(&sel) {
            let bad = selector::unknown_operator(&sel).unwrap_or("matchExpressions");
            report.errors.push(doc.find(bad, e));
        }
    }
}

fn check_bfd(doc: &Doc<'_>, o: &BFDProfile, report: &mut Report) {
    let (_, errors) = bfd::validate(&convert::bfd_profile_input(o));
    for e in &errors {
        let field = convert::bfd_field(e.field);
        report.errors.push(locate(doc, field, field, e));
    }
}

fn check_peer(doc: &Doc<'_>, o: &BGPPeer, node: Option<&LocalSpec>, report: &mut Report) {
    let s = &o.spec;
    selectors(doc, &s.node_selectors, report);
    let (input, mut errors) = convert::peer_input(o, None);
    // The BFDProfile a peer names may be in the cluster rather than in these files: offline,
    // any name is taken (the speaker refuses the peer while the profile does not exist).
    let profiles: BfdProfiles = input
        .bfd_profile
        .iter()
        .map(|n| (n.clone(), BfdProfile::default_profile()))
        .collect();
    errors.extend(peer::validate(&input, node, &profiles).1);
    for e in &errors {
        // String values are located at the value, numbers and switches at their key.
        let value = match e.field {
            "address" => Some(s.peer_address.clone()),
            "hold_time" => s.hold_time.clone(),
            "keepalive_time" => s.keepalive_time.clone(),
            "source_address" => s.source_address.clone(),
            "router_id" => s.router_id.clone(),
            _ => None,
        };
        let needle = value.unwrap_or_else(|| peer_field(e.field).to_string());
        report
            .errors
            .push(locate(doc, &needle, peer_field(e.field), e));
    }
}

fn bgp_ad(doc: &Doc<'_>, o: &BGPAdvertisement, report: &mut Report) {
    let s = &o.spec;
    selectors(doc, &s.node_selectors, report);
    selectors(doc, &s.ip_address_pool_selectors, report);
    let (_, errors) = advertisement::validate(&convert::advertisement_input(o, Vec::new()));
    for e in &errors {
        let needle = match (e.field, e.index) {
            ("communities", Some(i)) => s.communities.get(i).cloned().unwrap_or_default(),
            (f, _) => advertisement_field(f).to_string(),
        };
        report
            .errors
            .push(locate(doc, &needle, advertisement_field(e.field), e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Report {
        let mut report = Report::default();
        check_text("m.yaml", text, None, &mut BTreeSet::new(), &mut report);
        report
    }

    fn messages(text: &str) -> Vec<String> {
        check(text).errors.iter().map(|e| e.to_string()).collect()
    }

    const POOL: &str = "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata:\n  name: public\n  namespace: ferrolb-system\nspec:\n  addresses:\n  - 198.51.100.0/24\n  - 203.0.113.10-203.0.113.20\n";

    #[test]
    fn a_valid_pool_counts_and_other_groups_are_skipped() {
        let text = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n---\n{POOL}");
        let r = check(&text);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.objects, 1);
    }

    #[test]
    fn a_misspelt_field_is_named_at_its_line_in_the_second_document() {
        let second = POOL
            .replace("addresses:", "adresses:")
            .replace("name: public", "name: private");
        let text = format!("{POOL}---\n{second}");
        let m = messages(&text);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("m.yaml:17:"), "{m:?}");
        assert!(m[0].contains("unknown field `adresses`"), "{m:?}");
    }

    #[test]
    fn a_bad_address_is_located_at_the_value() {
        let m = messages(&POOL.replace("203.0.113.10-203.0.113.20", "203.0.113.30-2001:db8::1"));
        assert_eq!(
            m,
            ["m.yaml:9:5: addresses: `203.0.113.30-2001:db8::1` is not a CIDR (198.51.100.0/24), a range (203.0.113.10-203.0.113.20) or an address"]
        );
    }

    #[test]
    fn metallb_objects_get_a_rename_hint() {
        let m = messages(&POOL.replace("ferrolb.io/v1alpha1", "metallb.io/v1beta1"));
        assert_eq!(m.len(), 1);
        assert!(
            m[0].starts_with("m.yaml:1:1: IPAddressPool of `metallb.io/v1beta1`"),
            "{m:?}"
        );
    }

    #[test]
    fn peer_values_are_checked_like_the_daemon_reads_them() {
        let text = "apiVersion: ferrolb.io/v1alpha1\nkind: BGPPeer\nmetadata:\n  name: tor\nspec:\n  myASN: 64512\n  peerASN: 0\n  peerAddress: 192.0.2.300\n  holdTime: 2s\n  keepaliveTime: 30x\n";
        let m = messages(text);
        assert_eq!(m.len(), 4, "{m:?}");
        assert!(
            m.iter()
                .any(|e| e.starts_with("m.yaml:7:3: peerASN: AS number 0 is reserved")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|e| e.starts_with("m.yaml:8:16: peerAddress: `192.0.2.300`")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|e| e.starts_with("m.yaml:9:13: holdTime: 2 s is not allowed")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|e| e.starts_with("m.yaml:10:18: keepaliveTime: `30x` is not a duration")),
            "{m:?}"
        );
    }

    #[test]
    fn communities_and_duplicates_are_refused() {
        let ad = "apiVersion: ferrolb.io/v1alpha1\nkind: BGPAdvertisement\nmetadata:\n  name: a\nspec:\n  communities:\n  - 64500:100\n  - 64500:x\n";
        let m = messages(&format!("{ad}---\n{}", ad.replace("  - 64500:x\n", "")));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(
            m[0].starts_with("m.yaml:8:5: communities: `64500:x` is not"),
            "{m:?}"
        );
        assert!(
            m[1].starts_with("m.yaml:13:3: BGPAdvertisement `a` is defined twice"),
            "{m:?}"
        );
    }

    #[test]
    fn with_the_node_config_a_peer_with_another_asn_or_router_id_is_refused() {
        let text = "apiVersion: ferrolb.io/v1alpha1\nkind: BGPPeer\nmetadata:\n  name: tor\nspec:\n  myASN: 64999\n  peerASN: 64500\n  peerAddress: 192.0.2.1\n  routerID: 192.0.2.77\n";
        assert!(
            messages(text).is_empty(),
            "offline, only the form is checked"
        );
        let node = LocalSpec {
            asn: 64512,
            router_id: "192.0.2.10".parse().expect("id"),
            addresses: Vec::new(),
            graceful_restart_time: 120,
        };
        let mut report = Report::default();
        check_text(
            "m.yaml",
            text,
            Some(&node),
            &mut BTreeSet::new(),
            &mut report,
        );
        let m: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(
            m[0].starts_with("m.yaml:6:3: myASN: 64999 differs"),
            "{m:?}"
        );
        assert!(
            m[1].starts_with("m.yaml:9:13: routerID: 192.0.2.77 differs"),
            "{m:?}"
        );
    }

    #[test]
    fn a_yaml_syntax_error_is_located() {
        let m = messages("apiVersion: ferrolb.io/v1alpha1\nkind: [\n");
        assert_eq!(m, ["m.yaml:2:7: unclosed bracket '['"]);
    }

    #[test]
    fn a_type_error_in_the_third_document_is_located_at_its_value() {
        let third = POOL
            .replace("name: public", "name: third")
            .replace("spec:\n", "spec:\n  autoAssign: 3\n");
        let second = POOL.replace("name: public", "name: second");
        let m = messages(&format!("{POOL}---\n{second}---\n{third}"));
        // POOL is 9 lines: the third document starts at line 21, autoAssign is its line 7.
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(
            m,
            ["m.yaml:27:15: invalid boolean (strict mode expects true/false)"]
        );
    }

    #[test]
    fn a_yaml_syntax_error_in_a_later_document_is_located() {
        let bad = POOL.replace("  namespace: ferrolb-system\n", "    namespace: x\n");
        let m = messages(&format!("{POOL}---\n{bad}"));
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(
            m,
            ["m.yaml:15:14: mapping values are not allowed in this context"]
        );
    }

    #[test]
    fn a_selector_operator_kubernetes_does_not_have_is_located() {
        let text = "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: p}\nspec:\n  addresses: [198.51.100.0/24]\n  serviceAllocation:\n    serviceSelectors:\n    - matchExpressions:\n      - {key: tier, operator: Equals, values: [web]}\n";
        let m = messages(text);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("m.yaml:9:31:"), "{m:?}");
        assert!(m[0].contains("operator `Equals`"), "{m:?}");
    }
}
