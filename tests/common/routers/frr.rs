//! FRR as a lab router: bgpd alone (`-Z`, no zebra), or zebra + bfdd + bgpd talking over
//! zebra's zserv socket when BFD is wanted (`Frr::start_with`).

use super::*;

pub struct Frr {
    proc: Proc,
    /// zebra and bfdd when started with BFD (stopped after bgpd, in reverse order).
    helpers: Vec<Proc>,
    vty: String,
    ns: String,
}

/// FRR options beyond the common single-session bgpd.
#[derive(Debug, Clone, Default)]
pub struct FrrOpts {
    /// zebra + bfdd + bgpd, a bfdd profile `ferrolb` with (interval ms, multiplier) for receive
    /// and transmit, and `neighbor <node> bfd` with that profile.
    pub bfd: Option<(u32, u32)>,
    /// More `neighbor <node> ...` settings, one per entry (e.g. `password s3cret`,
    /// `ttl-security hops 1`).
    pub neighbor: Vec<String>,
}

impl Frr {
    pub fn start(lab: &Lab, asn: u32, peer_asn: u32, passive: bool) -> Frr {
        Frr::start_with(lab, asn, peer_asn, passive, &FrrOpts::default())
    }

    pub fn start_with(lab: &Lab, asn: u32, peer_asn: u32, passive: bool, opts: &FrrOpts) -> Frr {
        require("/usr/lib/frr/bgpd");
        require("vtysh");
        let dir = lab.path("frr");
        std::fs::create_dir_all(&dir).expect("frr dir");
        let p = |name: &str| dir.join(name).to_str().expect("utf8").to_string();
        let vty = dir.to_str().expect("utf8").to_string();
        let zserv = p("zserv");
        let mut helpers = Vec::new();
        let mut bfd = String::new();
        if let Some((interval, multiplier)) = opts.bfd {
            require("/usr/lib/frr/zebra");
            require("/usr/lib/frr/bfdd");
            // zebra and bfdd drop to the frr user: it must reach the sockets and pid files.
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &std::path::Path, m: u32| {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))
                    .expect("chmod frr dir")
            };
            mode(lab.dir.path(), 0o711);
            mode(&dir, 0o777);
            std::fs::write(
                p("zebra.conf"),
                "hostname router
!
",
            )
            .expect("write zebra.conf");
            std::fs::write(
                p("bfdd.conf"),
                format!(
                    "hostname router\n!\nbfd\n profile ferrolb\n  receive-interval {interval}\n  transmit-interval {interval}\n  detect-multiplier {multiplier}\n !\n!\n"
                ),
            )
            .expect("write bfdd.conf");
            let daemon = |name: &str, extra: &[&str]| -> Proc {
                let bin = format!("/usr/lib/frr/{name}");
                let conf = p(&format!("{name}.conf"));
                let pid = p(&format!("{name}.pid"));
                let mut args = vec![
                    bin.as_str(),
                    "-f",
                    &conf,
                    "-i",
                    &pid,
                    "--vty_socket",
                    &vty,
                    "-z",
                    &zserv,
                    "-P",
                    "0",
                    "--log",
                    "stdout",
                ];
                args.extend_from_slice(extra);
                lab.spawn(&lab.router_ns, name, &args)
            };
            let zebra = daemon("zebra", &[]);
            wait_ready("zebra to answer", &zebra, || {
                vtysh_on(&vty, "zebra", "show version").is_some()
            });
            helpers.push(zebra);
            let ctl = p("bfdd.sock");
            let bfdd = daemon("bfdd", &["--bfdctl", &ctl]);
            wait_ready("bfdd to answer", &bfdd, || {
                vtysh_on(&vty, "bfdd", "show bfd peers").is_some()
            });
            helpers.push(bfdd);
            bfd = format!(" neighbor {NODE_V4} bfd\n neighbor {NODE_V4} bfd profile ferrolb\n");
        }
        let conf = dir.join("bgpd.conf");
        let mut passive = if passive {
            format!(" neighbor {NODE_V4} passive\n")
        } else {
            String::new()
        };
        for line in &opts.neighbor {
            passive.push_str(&format!(" neighbor {NODE_V4} {line}\n"));
        }
        std::fs::write(
            &conf,
            format!(
                "frr defaults traditional\nhostname router\n!\nrouter bgp {asn}\n bgp router-id {ROUTER_V4}\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n neighbor {NODE_V4} remote-as {peer_asn}\n neighbor {NODE_V4} timers connect 1\n{passive}{bfd} address-family ipv4 unicast\n  neighbor {NODE_V4} activate\n exit-address-family\n address-family ipv6 unicast\n  neighbor {NODE_V4} activate\n exit-address-family\n!\n"
            ),
        )
        .expect("write bgpd.conf");
        let conf = conf.to_str().expect("utf8").to_string();
        let pid = p("bgpd.pid");
        let mut args = vec!["/usr/lib/frr/bgpd"];
        // Alone, bgpd runs without zebra; with BFD it needs zebra to reach bfdd.
        if opts.bfd.is_none() {
            args.push("-Z");
        }
        args.extend_from_slice(&[
            "-n",
            "-S",
            "-f",
            &conf,
            "-i",
            &pid,
            "--vty_socket",
            &vty,
            "-z",
            &zserv,
            "-P",
            "0",
            "--log",
            "stdout",
        ]);
        let proc = lab.spawn(&lab.router_ns, "bgpd", &args);
        let f = Frr {
            proc,
            helpers,
            vty,
            ns: lab.router_ns.clone(),
        };
        wait_ready("bgpd to answer", &f.proc, || {
            f.vtysh("show bgp summary").is_some()
        });
        f
    }

    /// `show bfd peers json` (bfdd), parsed: one object per session (`peer`, `status`,
    /// `receive-interval`, `transmit-interval`, `detect-multiplier`, ...).
    pub fn bfd_peers(&self) -> Vec<serde_json::Value> {
        vtysh_on(&self.vty, "bfdd", "show bfd peers json")
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// The `status` of bfdd's session with the node ("up", "down", "init"), if there is one.
    pub fn bfd_status(&self) -> Option<String> {
        self.bfd_peers()
            .iter()
            .find(|p| p["peer"] == NODE_V4)
            .and_then(|p| p["status"].as_str().map(str::to_string))
    }

    /// The logs of zebra, bfdd and bgpd, for failure messages.
    pub fn logs(&self) -> String {
        self.helpers
            .iter()
            .chain(std::iter::once(&self.proc))
            .map(|p| format!("--- {} ---\n{}", p.name, p.log_text()))
            .collect()
    }

    fn vtysh(&self, cmd: &str) -> Option<String> {
        vtysh_on(&self.vty, "bgpd", cmd)
    }

    /// `show bgp neighbor <node> json`, parsed.
    pub fn neighbor(&self) -> serde_json::Value {
        self.vtysh(&format!("show bgp neighbor {NODE_V4} json"))
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Number of prefixes in a family's table, without per-route detail.
    pub fn count(&self, afi: &str) -> usize {
        self.vtysh(&format!("show bgp {afi} unicast json"))
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("routes").and_then(|r| r.as_object()).map(|o| o.len()))
            .unwrap_or(0)
    }

    fn family_routes(&self, afi: &str) -> Vec<RouteInfo> {
        let Some(text) = self.vtysh(&format!("show bgp {afi} unicast json")) else {
            return vec![];
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            return vec![];
        };
        let mut out = Vec::new();
        for (prefix, paths) in v
            .get("routes")
            .and_then(|r| r.as_object())
            .into_iter()
            .flatten()
        {
            for p in paths.as_array().into_iter().flatten() {
                let as_path = p
                    .get("path")
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .split_whitespace()
                    .filter_map(|a| a.parse().ok())
                    .collect();
                let next_hop = p
                    .get("nexthops")
                    .and_then(|n| n.get(0))
                    .and_then(|n| n.get("ip"))
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .to_string();
                let local_pref = p.get("locPrf").and_then(|x| x.as_u64()).map(|x| x as u32);
                let mut r = RouteInfo {
                    prefix: prefix.clone(),
                    next_hop,
                    as_path,
                    local_pref,
                    ..RouteInfo::default()
                };
                // The table view has no communities: ask for the prefix itself.
                if let Some(detail) = self
                    .vtysh(&format!("show bgp {afi} unicast {prefix} json"))
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                {
                    let path = detail.get("paths").and_then(|x| x.get(0));
                    if let Some(path) = path {
                        frr_path_communities(path, &mut r);
                    }
                }
                out.push(r);
            }
        }
        out
    }
}

/// One vtysh command to one FRR daemon over the lab's vty socket directory.
fn vtysh_on(vty: &str, daemon: &str, cmd: &str) -> Option<String> {
    stdout_if_ok(std::process::Command::new("vtysh").args([
        "--vty_socket",
        vty,
        "-d",
        daemon,
        "-c",
        cmd,
    ]))
}

impl Drop for Frr {
    fn drop(&mut self) {
        // bgpd first (its Proc drops after this), then bfdd and zebra.
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        while let Some(p) = self.helpers.pop() {
            drop(p);
        }
    }
}

impl Router for Frr {
    fn established(&self) -> bool {
        self.vtysh(&format!("show bgp neighbor {NODE_V4} json"))
            .is_some_and(|s| s.contains("\"bgpState\":\"Established\""))
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
