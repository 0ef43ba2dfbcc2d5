//! GoBGP (gobgpd, configured in TOML, queried with the gobgp CLI) as a lab router.

use super::*;

pub struct Gobgp {
    proc: Proc,
    api: String,
    ns: String,
}

impl Gobgp {
    pub fn start(lab: &Lab, asn: u32, peer_asn: u32, passive: bool) -> Gobgp {
        require("gobgpd");
        require("gobgp");
        let conf = lab.path("gobgpd.toml");
        let mut afis = String::new();
        for f in ["ipv4-unicast", "ipv6-unicast"] {
            afis.push_str(&format!("  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{f}\"\n"));
        }
        std::fs::write(
            &conf,
            format!(
                "[global.config]\n  as = {asn}\n  router-id = \"{ROUTER_V4}\"\n  port = 179\n  local-address-list = [\"{ROUTER_V4}\"]\n\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{NODE_V4}\"\n    peer-as = {peer_asn}\n  [neighbors.transport.config]\n    passive-mode = {passive}\n    local-address = \"{ROUTER_V4}\"\n  [neighbors.timers.config]\n    connect-retry = 1\n{afis}"
            ),
        )
        .expect("write gobgpd.toml");
        let api = "127.0.0.1:50051".to_string();
        let proc = lab.spawn(
            &lab.router_ns,
            "gobgpd",
            &[
                "gobgpd",
                "-f",
                conf.to_str().expect("utf8"),
                "-t",
                "toml",
                "--api-hosts",
                &api,
                "--pprof-disable",
                "-p",
            ],
        );
        let g = Gobgp {
            proc,
            api,
            ns: lab.router_ns.clone(),
        };
        wait_ready("gobgpd to answer", &g.proc, || {
            g.gobgp(&["global"]).is_some()
        });
        g
    }

    fn gobgp(&self, args: &[&str]) -> Option<String> {
        stdout_if_ok(
            std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.ns,
                    "gobgp",
                    "-u",
                    "127.0.0.1",
                    "-p",
                    "50051",
                ])
                .args(args),
        )
    }

    fn family_routes(&self, afi: &str) -> Vec<RouteInfo> {
        let Some(text) = self.gobgp(&["-j", "global", "rib", "-a", afi]) else {
            return vec![];
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            return vec![];
        };
        let mut out = Vec::new();
        for (prefix, paths) in v.as_object().into_iter().flatten() {
            for p in paths.as_array().into_iter().flatten() {
                let mut r = RouteInfo {
                    prefix: prefix.clone(),
                    ..RouteInfo::default()
                };
                for a in p
                    .get("attrs")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                {
                    match a.get("type").and_then(|t| t.as_u64()) {
                        Some(2) => {
                            for seg in a
                                .get("as_paths")
                                .and_then(|s| s.as_array())
                                .into_iter()
                                .flatten()
                            {
                                r.as_path.extend(
                                    seg.get("asns")
                                        .and_then(|x| x.as_array())
                                        .into_iter()
                                        .flatten()
                                        .filter_map(|x| x.as_u64())
                                        .map(|x| x as u32),
                                );
                            }
                        }
                        Some(3) => {
                            r.next_hop = a
                                .get("nexthop")
                                .and_then(|x| x.as_str())
                                .unwrap_or("")
                                .to_string()
                        }
                        Some(5) => {
                            r.local_pref = a.get("value").and_then(|x| x.as_u64()).map(|x| x as u32)
                        }
                        Some(8) => {
                            r.communities = a
                                .get("communities")
                                .and_then(|x| x.as_array())
                                .into_iter()
                                .flatten()
                                .filter_map(|x| x.as_u64())
                                .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                                .collect();
                            r.communities.sort();
                        }
                        Some(32) => {
                            r.large_communities = a
                                .get("value")
                                .and_then(|x| x.as_array())
                                .into_iter()
                                .flatten()
                                .map(|v| {
                                    // GoBGP's LargeCommunity struct has no JSON tags.
                                    let f = |k: &str| {
                                        v.get(k)
                                            .and_then(|x| x.as_u64())
                                            .map_or("?".to_string(), |x| x.to_string())
                                    };
                                    format!("{}:{}:{}", f("ASN"), f("LocalData1"), f("LocalData2"))
                                })
                                .collect();
                            r.large_communities.sort();
                        }
                        Some(14) => {
                            r.next_hop = a
                                .get("nexthop")
                                .and_then(|x| x.as_str())
                                .unwrap_or("")
                                .to_string()
                        }
                        _ => {}
                    }
                }
                out.push(r);
            }
        }
        out
    }
}

impl Router for Gobgp {
    fn established(&self) -> bool {
        self.gobgp(&["-j", "neighbor", NODE_V4]).is_some_and(|s| {
            s.contains("\"session_state\":6")
                || s.to_lowercase()
                    .contains("\"session_state\":\"established\"")
        })
    }
    fn routes(&self) -> Vec<RouteInfo> {
        let mut r = self.family_routes("ipv4");
        r.extend(self.family_routes("ipv6"));
        r
    }
    fn process(&self) -> &Proc {
        &self.proc
    }
}
