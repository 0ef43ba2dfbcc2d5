//! What a peer can make ferrolb hold, against real peers in namespaces: a BIRD that sends more
//! than `max_prefixes` (Cease 6/1, back-off) beside a BIRD that keeps every route; a raw-TCP
//! peer that stops reading (send queue full: its session is reset, a BIRD on the same daemon
//! gets the churn); and a BIRD restarted ten times (the session is back each time and ferrolb's
//! open file descriptors are as many as before).

mod common;

use std::time::{Duration, Instant};

use common::routers::{Bird, BirdOpts};
use common::{bfd, require, sh, wait_for, Ferrolb, Lab, NodeToml};

const ROUTER_AS: u32 = 64500;
const NODE_AS: u32 = 64512;
const WAIT: Duration = Duration::from_secs(60);

fn toml(extra: String) -> NodeToml {
    NodeToml {
        asn: NODE_AS,
        peer_asn: ROUTER_AS,
        hold_time: 9,
        services: vec![
            ("web", vec!["198.51.100.10", "2001:db8:100::10"]),
            ("api", vec!["198.51.100.11"]),
        ],
        http: Some("127.0.0.1:7473"),
        extra,
        ..NodeToml::default()
    }
}

/// Adds `addr`/24 to the router namespace's veth (a second session address there).
fn add_router_addr(lab: &Lab, addr: &str) {
    let dev = common::l2::node_dev(lab, &lab.router_ns);
    sh(&[
        "ip",
        "-n",
        &lab.router_ns,
        "addr",
        "add",
        &format!("{addr}/24"),
        "dev",
        &dev,
    ]);
}

fn session(lab: &Lab, peer: &str) -> Option<serde_json::Value> {
    bfd::status(lab)?["sessions"]
        .as_array()?
        .iter()
        .find(|s| s["peer"] == peer)
        .cloned()
}

fn last_error(lab: &Lab, peer: &str) -> String {
    session(lab, peer)
        .and_then(|s| s["last_error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn prefixes(b: &Bird) -> Vec<String> {
    let mut p: Vec<String> = b
        .ctl()
        .routes_of("ferrolb")
        .into_iter()
        .map(|r| r.prefix)
        .collect();
    p.sort();
    p.dedup();
    p
}

fn fail(what: String, f: &Ferrolb, birds: &[&Bird]) -> ! {
    let logs: Vec<String> = birds.iter().map(|b| b.log()).collect();
    panic!(
        "{what}\n--- router logs ---\n{}\n--- ferrolb log ---\n{}",
        logs.join("\n---\n"),
        f.proc.log_text()
    )
}

fn flaps(lab: &Lab, peer: &str) -> Option<u64> {
    let m = bfd::metrics(lab);
    let start = format!("ferrolb_bgp_session_flaps_total{{peer=\"{peer}\"");
    m.lines()
        .find(|l| l.starts_with(&start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_peer_over_max_prefixes_gets_cease_6_1_and_backs_off_while_another_keeps_every_route() {
    let lab = Lab::new();
    add_router_addr(&lab, "192.0.2.11");
    let steady = Bird::start_with(
        &lab,
        ROUTER_AS,
        NODE_AS,
        false,
        &BirdOpts {
            strict_bind: true,
            ..BirdOpts::default()
        },
    );
    let flood = Bird::start_with(
        &lab,
        ROUTER_AS,
        NODE_AS,
        false,
        &BirdOpts {
            instance: Some("flood"),
            local_v4: Some("192.0.2.11"),
            strict_bind: true,
            export_static: 2000,
            log_all: true,
            ..BirdOpts::default()
        },
    );
    let extra = "[[bgp.peers]]\nname = \"flood\"\naddress = \"192.0.2.11\"\nasn = 64500\nhold_time = 9\nkeepalive_time = 1\nconnect_retry = 1\nmax_prefixes = 1000\n".to_string();
    let f = Ferrolb::start(&lab, &toml(extra));
    let birds = [&steady, &flood];
    let ours = vec![
        "198.51.100.10/32".to_string(),
        "198.51.100.11/32".to_string(),
        "2001:db8:100::10/128".to_string(),
    ];
    wait_for("the steady BIRD to have ferrolb's routes", WAIT, || {
        prefixes(&steady) == ours
    })
    .unwrap_or_else(|e| fail(e, &f, &birds));
    // Watch the steady session all along: its routes must never go missing.
    let mut missing = Vec::new();
    let mut watch = |what: &str, cond: &mut dyn FnMut() -> bool| {
        wait_for(what, WAIT, || {
            let p = prefixes(&steady);
            if p != ours {
                missing.push(p);
            }
            cond()
        })
    };
    // BIRD logs `ferrolb: Received: Maximum number of prefixes reached`.
    watch("the flooding BIRD to be told Cease 6/1", &mut || {
        flood
            .log()
            .contains("Received: Maximum number of prefixes reached")
    })
    .unwrap_or_else(|e| fail(e, &f, &birds));
    // /status shows the latest trip only: under load the poll can see a later one (10 s, 20 s
    // ...), so it must name a trip and a back-off; the log proves the first wait was 5 s.
    watch("the trip in ferrolb's log and /status", &mut || {
        let log = f.proc.log_text();
        let status = last_error(&lab, "flood");
        log.contains("prefix limit 1000 exceeded by peer flood (")
            && log.contains("next attempt in 5 s")
            && status.contains("prefix limit 1000 exceeded")
            && status.contains("next attempt in ")
    })
    .unwrap_or_else(|e| fail(format!("{e}: {}", last_error(&lab, "flood")), &f, &birds));
    // The peer comes back after 5 s, sends 2,000 again, and the wait doubles.
    watch("the second trip, 10 s", &mut || {
        f.proc.log_text().contains("next attempt in 10 s")
    })
    .unwrap_or_else(|e| fail(e, &f, &birds));
    assert!(
        missing.is_empty(),
        "the steady BIRD lost routes: {missing:?}"
    );
    assert_eq!(flaps(&lab, "router"), Some(0), "the steady session flapped");
    let m = bfd::metrics(&lab);
    assert!(
        m.lines().any(
            |l| l.starts_with("ferrolb_bgp_session_resets_total{peer=\"flood\"")
                && l.contains("reason=\"max_prefixes\"")
                && !l.ends_with(" 0")
        ),
        "{m}"
    );
    assert!(
        m.contains("code=\"6\",subcode=\"1\""),
        "Cease 6/1 counted: {m}"
    );
}

/// A BGP speaker that sends OPEN and KEEPALIVEs and never reads (SO_RCVBUF 4 KiB), from
/// 192.0.2.12 to ferrolb; it prints `reset` when the connection is reset.
const SLOW_PEER: &str = r#"
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("192.0.2.12", 0))
for _ in range(600):
    try:
        s.connect(("192.0.2.2", 179))
        break
    except OSError:
        time.sleep(0.1)
def msg(t, body):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), t) + body
# OPEN: version 4, AS 64500, hold 9 s, BGP identifier 192.0.2.12, no optional parameters.
s.sendall(msg(1, struct.pack("!BHH4sB", 4, 64500, 9, socket.inet_aton("192.0.2.12"), 0)))
print("open sent", flush=True)
while True:
    try:
        s.sendall(msg(4, b""))
    except OSError as e:
        print("reset:", e, flush=True)
        sys.exit(0)
    time.sleep(1)
"#;

/// `n` services, one IPv4 address each, from 198.18.0.0 (set 0) or 198.18.64.0 (set 1).
fn services(n: u32, set: u32) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut prefixes = Vec::new();
    for i in 0..n {
        let a = std::net::Ipv4Addr::from(0xC612_0000u32 + set * 0x4000 + i);
        text.push_str(&format!(
            "\n[[services]]\nname = \"s{set}x{i}\"\naddresses = [\"{a}\"]\n"
        ));
        prefixes.push(format!("{a}/32"));
    }
    (text, prefixes)
}

#[test]
fn a_peer_that_stops_reading_is_reset_and_a_bird_on_the_same_daemon_gets_the_churn() {
    require("python3");
    let lab = Lab::new();
    add_router_addr(&lab, "192.0.2.12");
    let bird = Bird::start(&lab, ROUTER_AS, NODE_AS, false);
    let slow_peer = "[[bgp.peers]]\nname = \"slow\"\naddress = \"192.0.2.12\"\nasn = 64500\npassive = true\nhold_time = 9\nsend_queue_limit = 65536\n";
    let with = |set: u32| {
        let (text, mut prefixes) = services(3000, set);
        let mut t = toml(format!("{slow_peer}{text}"));
        t.services.clear();
        prefixes.sort();
        (t, prefixes)
    };
    let (first, _) = with(0);
    let mut f = Ferrolb::start(&lab, &first);
    let script = lab.path("slow_peer.py");
    std::fs::write(&script, SLOW_PEER).expect("write slow_peer.py");
    let peer = lab.spawn(
        &lab.router_ns,
        "slow_peer",
        &["python3", script.to_str().expect("utf8")],
    );
    let birds = [&bird];
    wait_for("both sessions Established", WAIT, || {
        session(&lab, "slow").is_some_and(|s| s["state"] == "Established")
            && session(&lab, "router").is_some_and(|s| s["state"] == "Established")
    })
    .unwrap_or_else(|e| fail(format!("{e}\n{}", peer.log_text()), &f, &birds));
    // Churn: every reload withdraws 3,000 routes and announces 3,000 others. The slow peer's
    // kernel buffers fill, then its 64 KiB queue.
    let mut set = 0;
    let start = Instant::now();
    let mut reloads = 0;
    while !f.proc.log_text().contains("stopped reading") {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no reset after {reloads} reloads\n{}",
            f.proc.log_text()
        );
        reloads += 1;
        set = 1 - set;
        let (t, want) = with(set);
        f.reload(&t);
        wait_for("BIRD to get the reload", WAIT, || prefixes(&bird) == want)
            .unwrap_or_else(|e| fail(e, &f, &birds));
    }
    wait_for("the slow peer to see its connection reset", WAIT, || {
        peer.log_text().contains("reset")
    })
    .unwrap_or_else(|e| fail(format!("{e}\n{}", peer.log_text()), &f, &birds));
    let err = last_error(&lab, "slow");
    assert!(
        err.contains("send queue full (") && err.contains("peer stopped reading"),
        "{err}"
    );
    // Changes keep reaching BIRD.
    for _ in 0..2 {
        set = 1 - set;
        let (t, want) = with(set);
        f.reload(&t);
        wait_for("BIRD to get a reload after the reset", WAIT, || {
            prefixes(&bird) == want
        })
        .unwrap_or_else(|e| fail(e, &f, &birds));
    }
    assert_eq!(flaps(&lab, "router"), Some(0), "BIRD's session flapped");
    let m = bfd::metrics(&lab);
    assert!(
        m.contains("peer=\"slow\",peer_address=\"192.0.2.12\",reason=\"send_queue_full\"} 1"),
        "{m}"
    );
    assert_eq!(f.terminate(), Some(0));
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_bird_restarted_ten_times_comes_back_each_time_and_ferrolb_holds_no_more_fds() {
    let lab = Lab::new();
    let mut bird = Bird::start(&lab, ROUTER_AS, NODE_AS, false);
    let f = Ferrolb::start(&lab, &toml(String::new()));
    let up = |b: &Bird| {
        b.protocol_established("ferrolb")
            && session(&lab, "router").is_some_and(|s| s["state"] == "Established")
    };
    wait_for("Established", WAIT, || up(&bird)).unwrap_or_else(|e| fail(e, &f, &[&bird]));
    // Stay up past the FSM's STABLE (10 s) so the back-off starts afresh each time.
    let stable = Duration::from_secs(11);
    std::thread::sleep(stable);
    let before = open_fds(f.proc.pid());
    assert!(before > 0);
    for i in 0..10 {
        drop(bird); // SIGKILL
        bird = Bird::start(&lab, ROUTER_AS, NODE_AS, false);
        wait_for(
            &format!("Established after restart {}", i + 1),
            WAIT,
            || up(&bird) && bird.ctl().routes_of("ferrolb").len() == 3,
        )
        .unwrap_or_else(|e| fail(e, &f, &[&bird]));
        std::thread::sleep(stable);
    }
    let after = open_fds(f.proc.pid());
    assert_eq!(
        after,
        before,
        "open fds before and after 10 restarts\n{}",
        f.proc.log_text()
    );
    assert_eq!(flaps(&lab, "router"), Some(10));
}
