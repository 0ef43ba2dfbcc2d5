//! The L2 fallback end to end, standalone: two ferrolb nodes on one bridge (each in its own
//! network namespace, `[cluster]` pointing at the other), the router namespace as the client
//! (it holds the bridge), real `arping` and `ndisc6` asking, and a raw AF_PACKET prober for
//! what those tools cannot do (probing every 50 ms, malformed frames).
//!
//! 20 IPv4 services (192.0.2.100-119) and one IPv6 service (2001:db8::100), the same on both
//! nodes, under one L2 advertisement. Each test checks that exactly one MAC answers, that it is
//! the MAC of the node both `/status` reports name, and what happens when that node dies
//! (SIGKILL), stops (SIGTERM), or is sent garbage.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::l2::{arping, mac_of, ndisc6, node_dev, parse_mac, Prober, What};
use common::{node_addrs, Lab, Proc, ROUTER_V4, ROUTER_V6};
use ferrolb::l2::wire::{ArpOp, MacAddr};

const WAIT: Duration = Duration::from_secs(30);
const V6: &str = "2001:db8::100";
const NOBODY_V4: &str = "192.0.2.150";

fn v4(i: u8) -> String {
    format!("192.0.2.{}", 100 + i)
}

/// node.toml of lab node `i` of two: its own names and addresses, the other as the seed.
fn toml(lab: &Lab, i: usize) -> String {
    let (me, _) = node_addrs(i);
    let (other, _) = node_addrs(1 - i);
    let mut s = format!(
        "[node]\nname = \"node-{i}\"\n\n[bgp]\nlisten = \"\"\n\n[http]\nlisten = \"127.0.0.1:7473\"\n\n\
         [state]\npath = \"{}\"\n\n[cluster]\nlisten = \"{me}:7946\"\nmembers = [\"{other}:7946\"]\n\n\
         [[pools]]\nname = \"lan\"\naddresses = [\"192.0.2.100-192.0.2.119\", \"2001:db8::100/124\"]\n\n\
         [[advertisements]]\npools = [\"lan\"]\nmode = \"l2\"\n",
        lab.path(&format!("state-{i}.json")).display()
    );
    for n in 0..20 {
        s.push_str(&format!(
            "\n[[services]]\nname = \"s{n:02}\"\naddresses = [\"{}\"]\n",
            v4(n)
        ));
    }
    s.push_str(&format!(
        "\n[[services]]\nname = \"v6\"\naddresses = [\"{V6}\"]\n"
    ));
    s
}

fn start(lab: &Lab, i: usize) -> Proc {
    let path = lab.path(&format!("node-{i}.toml"));
    std::fs::write(&path, toml(lab, i)).expect("write node.toml");
    let cfg = path.to_str().expect("utf8").to_string();
    lab.spawn(
        &lab.node_nss[i],
        &format!("ferrolb-node-{i}"),
        &[env!("CARGO_BIN_EXE_ferrolb"), "run", "--config", &cfg],
    )
}

/// Service name → the nodes `/status` of node `i` says answer for it (None: no answer).
fn owners(lab: &Lab, i: usize) -> Option<BTreeMap<String, Vec<String>>> {
    let (json, _) = lab.status(&lab.node_nss[i], &["--json"])?;
    let v: serde_json::Value = serde_json::from_str(&json).ok()?;
    let mut out = BTreeMap::new();
    for s in v["services"].as_array()? {
        let by = s["announced_by"]
            .as_array()?
            .iter()
            .filter_map(|n| n.as_str().map(String::from))
            .collect();
        out.insert(s["name"].as_str()?.to_string(), by);
    }
    Some(out)
}

/// Waits until the reports of the nodes in `alive` agree and name exactly one live node for
/// every service; returns service → owner.
fn settled(lab: &Lab, alive: &[usize]) -> BTreeMap<String, String> {
    let deadline = Instant::now() + WAIT;
    let names: BTreeSet<String> = alive.iter().map(|i| format!("node-{i}")).collect();
    loop {
        let last = alive.iter().map(|&i| owners(lab, i)).collect::<Vec<_>>();
        if let Some(Some(first)) = last.first() {
            let agree = last.iter().all(|o| o.as_ref() == Some(first));
            let one = first.len() == 21
                && first
                    .values()
                    .all(|by| by.len() == 1 && names.contains(&by[0]));
            if agree && one {
                return first
                    .iter()
                    .map(|(k, v)| (k.clone(), v[0].clone()))
                    .collect();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the nodes {alive:?} never agreed on one owner per service: {last:#?}\n{}",
            logs(lab)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn logs(lab: &Lab) -> String {
    (0..2)
        .map(|i| {
            let p = lab.path(&format!("ferrolb-node-{i}.log"));
            format!(
                "--- node-{i} ---\n{}",
                std::fs::read_to_string(p).unwrap_or_default()
            )
        })
        .collect()
}

/// The MAC of each node's veth, by node name.
fn macs(lab: &Lab) -> BTreeMap<String, String> {
    (0..2)
        .map(|i| {
            let ns = &lab.node_nss[i];
            (format!("node-{i}"), mac_of(lab, ns, &node_dev(lab, ns)))
        })
        .collect()
}

fn service_of(addr: &str) -> String {
    if addr == V6 {
        return "v6".into();
    }
    let last: u8 = addr
        .rsplit('.')
        .next()
        .and_then(|o| o.parse().ok())
        .expect("v4");
    format!("s{:02}", last - 100)
}

/// The first IPv4 address `node` owns.
fn owned_by(owner: &BTreeMap<String, String>, node: &str) -> String {
    (0..20)
        .map(v4)
        .find(|a| owner[&service_of(a)] == node)
        .unwrap_or_else(|| panic!("{node} owns no IPv4 address: {owner:?}"))
}

fn client(lab: &Lab) -> Prober {
    Prober::new(lab, &lab.router_ns, "br0", ROUTER_V4, ROUTER_V6)
}

/// The MACs answering one ARP request for `ip` from the prober within 300 ms.
fn asked(p: &Prober, ip: Ipv4Addr) -> BTreeSet<MacAddr> {
    p.arp_request(ip);
    p.collect(Duration::from_millis(300))
        .iter()
        .filter_map(|h| match &h.what {
            What::Arp(a) if a.op == ArpOp::Reply && a.sender_ip == ip && h.dst == p.mac => {
                Some(a.sender_mac)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn exactly_one_node_answers_each_address_and_status_names_it() {
    let lab = Lab::with_nodes(2);
    let _a = start(&lab, 0);
    let _b = start(&lab, 1);
    let owner = settled(&lab, &[0, 1]);
    let macs = macs(&lab);
    let share = |n: &str| (0..20).filter(|i| owner[&service_of(&v4(*i))] == n).count();
    assert!(
        share("node-0") >= 5 && share("node-1") >= 5,
        "20 addresses split {} / {}: {owner:?}",
        share("node-0"),
        share("node-1")
    );
    // Real clients: arping (IPv4) and ndisc6 (IPv6) get exactly the owner's MAC.
    for node in ["node-0", "node-1"] {
        let ip = owned_by(&owner, node);
        let got: BTreeSet<String> = arping(&lab, &lab.router_ns, "br0", &ip)
            .into_iter()
            .collect();
        assert_eq!(
            got,
            BTreeSet::from([macs[node].clone()]),
            "arping {ip} (owned by {node}, MACs {macs:?})\n{}",
            logs(&lab)
        );
    }
    let got: BTreeSet<String> = ndisc6(&lab, &lab.router_ns, "br0", V6)
        .into_iter()
        .collect();
    assert_eq!(
        got,
        BTreeSet::from([macs[&owner["v6"]].clone()]),
        "ndisc6 {V6} (owned by {}, MACs {macs:?})",
        owner["v6"]
    );
    // Every address from the prober: one answer, from the owner.
    let p = client(&lab);
    for n in 0..20 {
        let ip = v4(n);
        let got = asked(&p, ip.parse().expect("ip"));
        let want = parse_mac(&macs[&owner[&service_of(&ip)]]);
        assert_eq!(got, BTreeSet::from([want]), "answers for {ip}");
    }
    // Nobody owns 192.0.2.150: no answer.
    assert!(arping(&lab, &lab.router_ns, "br0", NOBODY_V4).is_empty());
    assert!(asked(&p, NOBODY_V4.parse().expect("ip")).is_empty());
}

#[test]
fn sigkill_of_the_owner_moves_its_addresses_to_the_other_node() {
    let lab = Lab::with_nodes(2);
    let _a = start(&lab, 0);
    let b = start(&lab, 1);
    let owner = settled(&lab, &[0, 1]);
    let macs = macs(&lab);
    let ip = owned_by(&owner, "node-1");
    // The client's kernel learns the owner's MAC (ping resolves the neighbor; nobody answers
    // the ping itself: the address is on no interface).
    let neigh = || {
        lab.exec(&lab.router_ns, &["ip", "neigh", "show", &ip, "dev", "br0"])
            .unwrap_or_default()
            .to_lowercase()
    };
    common::require("ping");
    let _ = lab.exec(&lab.router_ns, &["ping", "-c", "1", "-W", "1", &ip]);
    assert!(
        neigh().contains(&macs["node-1"]),
        "neighbor entry: {}",
        neigh()
    );

    b.signal("KILL");
    // The survivor takes every address, its gratuitous ARP moves the client's entry, and
    // arping gets the survivor's MAC.
    let owner = settled(&lab, &[0]);
    assert!(owner.values().all(|o| o == "node-0"), "{owner:?}");
    common::wait_for("the client's neighbor entry to move", WAIT, || {
        neigh().contains(&macs["node-0"])
    })
    .unwrap_or_else(|e| panic!("{e}: {}\n{}", neigh(), logs(&lab)));
    let got: BTreeSet<String> = arping(&lab, &lab.router_ns, "br0", &ip)
        .into_iter()
        .collect();
    assert_eq!(got, BTreeSet::from([macs["node-0"].clone()]));
}

#[test]
fn sigterm_of_the_owner_hands_over_without_a_gap_in_answers() {
    let lab = Lab::with_nodes(2);
    let _a = start(&lab, 0);
    let b = start(&lab, 1);
    let owner = settled(&lab, &[0, 1]);
    let macs = macs(&lab);
    let ip: Ipv4Addr = owned_by(&owner, "node-1").parse().expect("ip");
    let p = client(&lab);
    // Ask every 50 ms for 9 s; SIGTERM node-1 after 2 s.
    let probing = std::thread::spawn(move || {
        let mut answers: Vec<(Instant, MacAddr)> = Vec::new();
        let end = Instant::now() + Duration::from_secs(9);
        while Instant::now() < end {
            p.arp_request(ip);
            for h in p.collect(Duration::from_millis(50)) {
                if let What::Arp(a) = &h.what {
                    if a.op == ArpOp::Reply && a.sender_ip == ip && h.dst == p.mac {
                        answers.push((h.at, a.sender_mac));
                    }
                }
            }
        }
        answers
    });
    std::thread::sleep(Duration::from_secs(2));
    let stopped_at = Instant::now();
    b.signal("TERM");
    let answers = probing.join().expect("prober");
    let (m0, m1) = (parse_mac(&macs["node-0"]), parse_mac(&macs["node-1"]));
    assert!(
        answers.first().is_some_and(|(_, m)| *m == m1),
        "first answers from node-1: {answers:?}"
    );
    assert!(
        answers.last().is_some_and(|(_, m)| *m == m0),
        "last answers from node-0: {answers:?}\n{}",
        logs(&lab)
    );
    // The successor answers first, the stopping node after: their answers overlap.
    let first_new = answers.iter().find(|(_, m)| *m == m0).map(|(t, _)| *t);
    let last_old = answers
        .iter()
        .rev()
        .find(|(_, m)| *m == m1)
        .map(|(t, _)| *t);
    assert!(
        matches!((first_new, last_old), (Some(n), Some(o)) if n <= o),
        "node-0 did not answer before node-1 stopped: {answers:?}"
    );
    let gaps: Vec<Duration> = answers.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let worst = gaps.iter().max().copied().unwrap_or_default();
    assert!(
        worst <= Duration::from_millis(500),
        "a gap of {worst:?} in answers (SIGTERM at {:?} after the first answer): {answers:?}",
        stopped_at - answers[0].0
    );
    let owner = settled(&lab, &[0]);
    assert!(owner.values().all(|o| o == "node-0"), "{owner:?}");
}

/// `ferrolb_l2_frames_ignored_total` summed over reasons, from node `i`.
fn ignored(lab: &Lab, i: usize) -> u64 {
    let text = lab
        .exec(
            &lab.node_nss[i],
            &["curl", "-sf", "http://127.0.0.1:7473/metrics"],
        )
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("ferrolb_l2_frames_ignored_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// 2,000 frames no responder may answer: eight classes of malformed ARP/NDP and questions for
/// addresses nobody owns.
fn garbage(p: &Prober) -> Vec<Vec<u8>> {
    let good_arp = p.arp_request_frame(v4(0).parse().expect("ip"));
    let good_ns = p.ns_frame(V6.parse().expect("ip"));
    let nobody_arp = p.arp_request_frame(NOBODY_V4.parse().expect("ip"));
    let nobody_ns = p.ns_frame("2001:db8::150".parse::<Ipv6Addr>().expect("ip"));
    let mut classes: Vec<Vec<u8>> = Vec::new();
    // Short: the Ethernet header and half an ARP packet.
    classes.push(good_arp[..14 + 14].to_vec());
    // Hardware length 7, protocol length 16.
    let mut f = good_arp.clone();
    f[14 + 4] = 7;
    classes.push(f);
    let mut f = good_arp.clone();
    f[14 + 5] = 16;
    classes.push(f);
    // Hardware type 6 (IEEE 802), not Ethernet.
    let mut f = good_arp.clone();
    f[14 + 1] = 6;
    classes.push(f);
    // NS with a bad ICMPv6 checksum.
    let mut f = good_ns.clone();
    f[14 + 40 + 2] ^= 0xff;
    classes.push(f);
    // NS with an option of length 0 (RFC 4861 §4.6: drop), the checksum made right again so
    // that the option is what is wrong.
    let mut f = good_ns.clone();
    let (icmp, opt) = (14 + 40, 14 + 40 + 24);
    f[opt + 1] = 0;
    f[icmp + 2..icmp + 4].copy_from_slice(&[0, 0]);
    let sum = ferrolb::l2::wire::ipv6::icmpv6_checksum(
        p.ip6,
        ferrolb::l2::wire::ipv6::solicited_node(V6.parse().expect("ip")),
        &f[icmp..],
    );
    f[icmp + 2..icmp + 4].copy_from_slice(&sum.to_be_bytes());
    classes.push(f);
    // NS cut short (the IPv6 payload length says more than there is).
    classes.push(good_ns[..good_ns.len() - 10].to_vec());
    // Questions for addresses nobody owns.
    classes.push(nobody_arp);
    classes.push(nobody_ns);
    (0..2000)
        .map(|i| classes[i % classes.len()].clone())
        .collect()
}

#[test]
fn malformed_and_foreign_frames_change_nothing_and_get_no_answer() {
    let lab = Lab::with_nodes(2);
    let _a = start(&lab, 0);
    let _b = start(&lab, 1);
    // Without multicast snooping the bridge floods every frame as it is (with it, the bridge
    // itself parses IPv6 multicast and drops a truncated NS before any node sees it).
    common::sh(&[
        "ip",
        "-n",
        &lab.router_ns,
        "link",
        "set",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ]);
    let before = settled(&lab, &[0, 1]);
    // Past the gratuitous repeats of the takeover.
    std::thread::sleep(Duration::from_secs(5));
    let ignored_before = [ignored(&lab, 0), ignored(&lab, 1)];
    let p = client(&lab);
    let node_macs: BTreeSet<MacAddr> = macs(&lab).values().map(|m| parse_mac(m)).collect();
    let mut heard = Vec::new();
    for chunk in garbage(&p).chunks(100) {
        for f in chunk {
            p.send(f);
        }
        heard.extend(p.collect(Duration::from_millis(20)));
    }
    heard.extend(p.collect(Duration::from_millis(500)));
    // Answers about service addresses (the nodes' kernels talk ARP/NDP among themselves about
    // their own addresses; that is not an answer to the garbage).
    let service = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(a) => a.octets()[..3] == [192, 0, 2] && a.octets()[3] >= 100,
        std::net::IpAddr::V6(a) => {
            a.segments()[..7] == [0x2001, 0xdb8, 0, 0, 0, 0, 0] && a.segments()[7] >= 0x100
        }
    };
    let from_nodes: Vec<_> = heard
        .iter()
        .filter(|h| node_macs.contains(&h.src))
        .filter(|h| match &h.what {
            What::Arp(a) => a.op == ArpOp::Reply && service(a.sender_ip.into()),
            What::Ndp(n) => match &n.message {
                ferrolb::l2::wire::NdpMessage::Advert(na) => service(na.target.into()),
                _ => false,
            },
            What::Other => false,
        })
        .collect();
    assert!(
        from_nodes.is_empty(),
        "the nodes sent {} frames in answer to garbage: {:?}",
        from_nodes.len(),
        from_nodes.iter().take(5).collect::<Vec<_>>()
    );
    let after = settled(&lab, &[0, 1]);
    assert_eq!(before, after, "ownership changed");
    let grew: Vec<u64> = (0..2)
        .map(|i| ignored(&lab, i) - ignored_before[i])
        .collect();
    // Every frame reaches both nodes (broadcast and multicast on the bridge).
    assert!(
        grew.iter().all(|g| *g >= 2000),
        "ignored counters grew by {grew:?}; node-0's now:\n{}",
        lab.exec(
            &lab.node_nss[0],
            &["curl", "-sf", "http://127.0.0.1:7473/metrics"]
        )
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("ferrolb_l2"))
        .collect::<Vec<_>>()
        .join("\n")
    );
    // Still answering.
    let ip = owned_by(&after, "node-0");
    assert_eq!(asked(&p, ip.parse().expect("ip")).len(), 1);
}

/// The first gratuitous ARP for `ip` from `mac` the prober hears within `limit`.
fn first_gratuitous(p: &Prober, ip: Ipv4Addr, mac: MacAddr, limit: Duration) -> Option<Instant> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let heard = p.collect(Duration::from_millis(20));
        if let Some(h) = heard
            .iter()
            .find(|h| h.is_gratuitous_request(ip, mac) || h.is_gratuitous_reply(ip, mac))
        {
            return Some(h.at);
        }
    }
    None
}

fn summary(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    println!(
        "BENCH {what}: runs {} median {median:.0} ms max {:.0} ms min {:.0} ms all {ms:.0?}",
        ms.len(),
        ms[ms.len() - 1],
        ms[0]
    );
}

/// Benchmark, not a test (`bird-lab/bench-l2.sh` runs it and writes BENCHMARKS.md): from
/// SIGKILL of an address's owner to the first gratuitous ARP for it from the other node, as
/// the client sees it; `L2_RUNS` times (default 20), the killed node restarted in between.
#[test]
#[ignore = "benchmark: bird-lab/bench-l2.sh"]
fn bench_failover_after_sigkill_standalone() {
    let runs: usize = std::env::var("L2_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let lab = Lab::with_nodes(2);
    let mut nodes = [Some(start(&lab, 0)), Some(start(&lab, 1))];
    let macs = macs(&lab);
    let p = client(&lab);
    let mut ms = Vec::new();
    for run in 0..runs {
        let owner = settled(&lab, &[0, 1]);
        let victim = run % 2;
        let ip: Ipv4Addr = owned_by(&owner, &format!("node-{victim}"))
            .parse()
            .expect("ip");
        let survivor = parse_mac(&macs[&format!("node-{}", 1 - victim)]);
        // Past the restarted node's own takeover announcements.
        std::thread::sleep(Duration::from_secs(5));
        p.collect(Duration::from_millis(10));
        let proc = nodes[victim].take().expect("running");
        let pid = proc.pid() as i32;
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let killed = Instant::now();
        let heard = first_gratuitous(&p, ip, survivor, Duration::from_secs(10));
        drop(proc);
        let at = heard
            .unwrap_or_else(|| panic!("run {run}: no gratuitous ARP for {ip}\n{}", logs(&lab)));
        ms.push((at - killed).as_secs_f64() * 1000.0);
        nodes[victim] = Some(start(&lab, victim));
    }
    summary(
        "l2 failover standalone (SIGKILL -> first gratuitous ARP)",
        ms,
    );
}

/// Benchmark, not a test: two nodes idle for `L2_IDLE_SECS` (default 600) while the caller
/// loads the machine; counts gratuitous ARPs after the start (each is a takeover: with nobody
/// stopping, every one is a false failover).
#[test]
#[ignore = "benchmark: bird-lab/bench-l2.sh"]
fn bench_false_failovers_idle() {
    let secs: u64 = std::env::var("L2_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let lab = Lab::with_nodes(2);
    let _a = start(&lab, 0);
    let _b = start(&lab, 1);
    settled(&lab, &[0, 1]);
    std::thread::sleep(Duration::from_secs(6));
    let p = client(&lab);
    let heard = p.collect(Duration::from_secs(secs));
    let takeovers: Vec<_> = heard
        .iter()
        .filter(|h| matches!(&h.what, What::Arp(a) if a.sender_ip == a.target_ip && a.sender_ip.octets()[3] >= 100))
        .collect();
    let owner = settled(&lab, &[0, 1]);
    println!(
        "BENCH l2 false failovers: {} gratuitous ARPs in {secs} s idle; owners at the end {}",
        takeovers.len(),
        owner.values().filter(|o| *o == "node-0").count()
    );
}
