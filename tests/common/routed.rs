//! A lab with a forwarding namespace between the node and the router: BGP (and BFD) between
//! loopback addresses two hops apart, as `ebgp_multihop = 2` / BIRD `multihop 2` sessions run.
//!
//! ```text
//! node ns                      fwd ns (ip_forward)                 router ns
//! lo 192.0.2.2/32              198.51.100.1/30 | 198.51.100.5/30   lo 192.0.2.1/32
//! 198.51.100.2/30 ------------ vf1             | vf2 ------------- 198.51.100.6/30
//! ```

use super::{sh, Lab, NEXT, NODE_V4, ROUTER_V4};
use std::sync::atomic::Ordering;

impl Lab {
    /// node — fwd — router; the node reaches 192.0.2.1 and the router 192.0.2.2 through fwd.
    pub fn routed() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}x{n}", std::process::id() % 100_000);
        let fwd = format!("flbt{tag}f");
        let lab = Lab {
            router_ns: format!("flbt{tag}r"),
            node_ns: format!("flbt{tag}n"),
            node_nss: vec![format!("flbt{tag}n"), fwd.clone()],
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for ns in [&lab.router_ns, &lab.node_ns, &fwd] {
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let link = |a_ns: &str, a: &str, b_ns: &str, b: &str| {
            sh(&[
                "ip", "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns",
                b_ns,
            ]);
        };
        let addr = |ns: &str, dev: &str, cidr: &str| {
            sh(&["ip", "-n", ns, "addr", "add", cidr, "dev", dev]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        };
        let (vn, vf1, vf2, vr) = (
            format!("vn{tag}"),
            format!("vf{tag}a"),
            format!("vf{tag}b"),
            format!("vr{tag}"),
        );
        link(&lab.node_ns, &vn, &fwd, &vf1);
        link(&fwd, &vf2, &lab.router_ns, &vr);
        addr(&lab.node_ns, &vn, "198.51.100.2/30");
        addr(&fwd, &vf1, "198.51.100.1/30");
        addr(&fwd, &vf2, "198.51.100.5/30");
        addr(&lab.router_ns, &vr, "198.51.100.6/30");
        addr(&lab.node_ns, "lo", &format!("{NODE_V4}/32"));
        addr(&lab.router_ns, "lo", &format!("{ROUTER_V4}/32"));
        sh(&[
            "ip",
            "-n",
            &lab.node_ns,
            "route",
            "add",
            &format!("{ROUTER_V4}/32"),
            "via",
            "198.51.100.1",
        ]);
        sh(&[
            "ip",
            "-n",
            &lab.router_ns,
            "route",
            "add",
            &format!("{NODE_V4}/32"),
            "via",
            "198.51.100.5",
        ]);
        sh(&[
            "ip",
            "-n",
            &lab.router_ns,
            "route",
            "add",
            "198.51.100.0/30",
            "via",
            "198.51.100.5",
        ]);
        sh(&[
            "ip",
            "-n",
            &fwd,
            "route",
            "add",
            &format!("{NODE_V4}/32"),
            "via",
            "198.51.100.2",
        ]);
        sh(&[
            "ip",
            "-n",
            &fwd,
            "route",
            "add",
            &format!("{ROUTER_V4}/32"),
            "via",
            "198.51.100.6",
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &fwd,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        lab
    }
}
