//! `ferrolb check --manifests DIR`: offline validation of ferrolb CRD objects in YAML files,
//! with `file:line:col: message` errors like the TOML checker.
//!
//! Every `*.yaml`/`*.yml` file in DIR (sorted, not recursive) is split into documents. A document
//! of `apiVersion: ferrolb.io/v1alpha1` must be one of our kinds and deserialize into its type
//! (unknown fields are errors, so a misspelt key is named); then the values are checked the way
//! the daemon will read them: addresses and ranges, peer addresses, ASNs, hold/keepalive times,
//! communities, aggregation lengths, duplicate names. A `metallb.io` object gets a hint to
//! rename the group. Documents of other groups (Namespace, RBAC, DaemonSet) are skipped.
//!
//! Locations: YAML and type errors carry the parser's line and column; for a bad value the
//! first line of its document holding that value (or its key) is named.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::crds::{
    BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement, ServiceAnnouncement,
};
use crate::config::{address_range, community};

const API_VERSION: &str = "ferrolb.io/v1alpha1";

/// One problem in a manifest: the same `file:line:col: message` as a config error.
pub type ManifestError = crate::config::ConfigError;

/// What a check found: how many ferrolb objects were valid, and every problem.
#[derive(Debug, Default)]
pub struct Report {
    pub objects: usize,
    pub errors: Vec<ManifestError>,
}

/// Checks every YAML file in `dir`.
pub fn check_dir(dir: &Path) -> Report {
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
            Ok(text) => check_text(&file, &text, &mut seen, &mut report),
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
struct Doc<'a> {
    text: String,
    first_line: usize,
    file: &'a str,
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
    fn find(&self, needle: &str, message: impl Into<String>) -> ManifestError {
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

fn documents<'a>(file: &'a str, text: &str) -> Vec<Doc<'a>> {
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
    seen: &mut BTreeSet<(String, String, String)>,
    report: &mut Report,
) {
    for doc in documents(file, text) {
        let value: serde_yaml::Value = match serde_yaml::from_str(&doc.text) {
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
            "IPAddressPool" => typed::<IPAddressPool>(&doc, report).map(|o| pool(&doc, &o, report)),
            "BGPPeer" => typed::<BGPPeer>(&doc, report).map(|o| peer(&doc, &o, report)),
            "BGPAdvertisement" => {
                typed::<BGPAdvertisement>(&doc, report).map(|o| bgp_ad(&doc, &o, report))
            }
            "L2Advertisement" => typed::<L2Advertisement>(&doc, report).map(drop),
            "BFDProfile" => typed::<BFDProfile>(&doc, report).map(drop),
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

fn located(doc: &Doc<'_>, e: &serde_yaml::Error) -> ManifestError {
    let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let message = e.to_string();
    // serde_yaml appends " at line L column C"; the location is already in front.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    doc.error(line, col, message)
}

fn typed<T: DeserializeOwned>(doc: &Doc<'_>, report: &mut Report) -> Option<T> {
    match serde_yaml::from_str(&doc.text) {
        Ok(o) => Some(o),
        Err(e) => {
            report.errors.push(located(doc, &e));
            None
        }
    }
}

fn pool(doc: &Doc<'_>, o: &IPAddressPool, report: &mut Report) {
    if let Some(sa) = &o.spec.service_allocation {
        selectors(doc, &sa.namespace_selectors, report);
        selectors(doc, &sa.service_selectors, report);
    }
    if o.spec.addresses.is_empty() {
        report
            .errors
            .push(doc.find("addresses", "IPAddressPool without addresses"));
    }
    for a in &o.spec.addresses {
        if address_range(a).is_none() {
            report.errors.push(doc.find(
                a,
                format!("`{a}` is not a CIDR, an address or a range `first-last` of one family"),
            ));
        }
    }
}

/// Label selectors with an operator Kubernetes does not have are located at the operator.
fn selectors(doc: &Doc<'_>, list: &[super::crds::LabelSelector], report: &mut Report) {
    for sel in list {
        if let Err(e) = super::speaker::requirements(sel) {
            let bad = sel
                .match_expressions
                .iter()
                .map(|x| x.operator.as_str())
                .find(|op| !matches!(*op, "In" | "NotIn" | "Exists" | "DoesNotExist"))
                .unwrap_or("matchExpressions");
            report.errors.push(doc.find(bad, e));
        }
    }
}

fn peer(doc: &Doc<'_>, o: &BGPPeer, report: &mut Report) {
    let s = &o.spec;
    selectors(doc, &s.node_selectors, report);
    let mut bad = |needle: &str, msg: String| report.errors.push(doc.find(needle, msg));
    if s.peer_address.parse::<IpAddr>().is_err() {
        bad(
            &s.peer_address,
            format!("peerAddress `{}` is not an IP address", s.peer_address),
        );
    }
    if s.my_asn == 0 {
        bad("myASN", "myASN 0 is reserved (RFC 7607)".into());
    }
    if s.peer_asn == 0 {
        bad("peerASN", "peerASN 0 is reserved (RFC 7607)".into());
    }
    if let Some(a) = &s.source_address {
        if a.parse::<IpAddr>().is_err() {
            bad(a, format!("sourceAddress `{a}` is not an IP address"));
        }
    }
    if let Some(r) = &s.router_id {
        if r.parse::<std::net::Ipv4Addr>().is_err() {
            bad(r, format!("routerID `{r}` is not an IPv4 address"));
        }
    }
    let hold = s.hold_time.as_ref().map(|h| (h, go_duration(h)));
    if let Some((h, d)) = &hold {
        match d {
            None => bad(
                h,
                format!("holdTime `{h}` is not a duration like `90s` or `3m`"),
            ),
            Some(1 | 2) => bad(h, format!("holdTime `{h}`: 0 or at least 3 s (RFC 4271)")),
            Some(_) => {}
        }
    }
    if let Some(k) = &s.keepalive_time {
        match (go_duration(k), hold.and_then(|(_, d)| d)) {
            (None, _) => bad(
                k,
                format!("keepaliveTime `{k}` is not a duration like `30s`"),
            ),
            (Some(k_s), Some(h_s)) if h_s > 0 && k_s >= h_s => bad(
                k,
                format!("keepaliveTime `{k}` must be shorter than holdTime"),
            ),
            _ => {}
        }
    }
}

fn bgp_ad(doc: &Doc<'_>, o: &BGPAdvertisement, report: &mut Report) {
    let s = &o.spec;
    selectors(doc, &s.node_selectors, report);
    selectors(doc, &s.ip_address_pool_selectors, report);
    for c in &s.communities {
        if community(c).is_none() {
            report.errors.push(doc.find(
                c,
                format!("community `{c}` is not `ASN:value`, `large:a:b:c` or a well-known name"),
            ));
        }
    }
    if s.aggregation_length.is_some_and(|l| l > 32) {
        report
            .errors
            .push(doc.find("aggregationLength", "aggregationLength is at most 32"));
    }
    if s.aggregation_length_v6.is_some_and(|l| l > 128) {
        report
            .errors
            .push(doc.find("aggregationLengthV6", "aggregationLengthV6 is at most 128"));
    }
}

/// Seconds of a Go duration made of h/m/s parts (`90s`, `1m30s`, `2h`); None when malformed
/// or fractional.
pub(crate) fn go_duration(text: &str) -> Option<u64> {
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

    fn check(text: &str) -> Report {
        let mut report = Report::default();
        check_text("m.yaml", text, &mut BTreeSet::new(), &mut report);
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
            ["m.yaml:9:5: `203.0.113.30-2001:db8::1` is not a CIDR, an address or a range `first-last` of one family"]
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
            m.iter().any(|e| e.starts_with("m.yaml:7:3: peerASN 0")),
            "{m:?}"
        );
        assert!(
            m.iter().any(|e| e.starts_with("m.yaml:8:16: peerAddress")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|e| e.starts_with("m.yaml:9:13: holdTime `2s`")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|e| e.starts_with("m.yaml:10:18: keepaliveTime")),
            "{m:?}"
        );
    }

    #[test]
    fn communities_and_duplicates_are_refused() {
        let ad = "apiVersion: ferrolb.io/v1alpha1\nkind: BGPAdvertisement\nmetadata:\n  name: a\nspec:\n  communities:\n  - 64500:100\n  - 64500:x\n";
        let m = messages(&format!("{ad}---\n{}", ad.replace("  - 64500:x\n", "")));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("m.yaml:8:5: community `64500:x`"), "{m:?}");
        assert!(
            m[1].starts_with("m.yaml:13:3: BGPAdvertisement `a` is defined twice"),
            "{m:?}"
        );
    }

    #[test]
    fn a_yaml_syntax_error_is_located() {
        let m = messages("apiVersion: ferrolb.io/v1alpha1\nkind: [\n");
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("m.yaml:3:"), "{m:?}");
    }

    #[test]
    fn a_selector_operator_kubernetes_does_not_have_is_located() {
        let text = "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: p}\nspec:\n  addresses: [198.51.100.0/24]\n  serviceAllocation:\n    serviceSelectors:\n    - matchExpressions:\n      - {key: tier, operator: Equals, values: [web]}\n";
        let m = messages(text);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("m.yaml:9:31:"), "{m:?}");
        assert!(m[0].contains("operator `Equals`"), "{m:?}");
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("90s"), Some(90));
        assert_eq!(go_duration("1m30s"), Some(90));
        assert_eq!(go_duration("2h"), Some(7200));
        assert_eq!(go_duration("0s"), Some(0));
        assert_eq!(go_duration("90"), None);
        assert_eq!(go_duration("1.5s"), None);
    }
}
