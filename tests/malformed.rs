//! The RFC 7606 matrix against a running ferrolb, from two independent injectors — ExaBGP 5
//! (`attribute [ type flags value ]`, as GoBGP's malformed-message test does) and a raw-TCP BGP
//! peer written here for what ExaBGP cannot send (framing errors, broken MP_REACH_NLRI, lengths
//! past the message) — while ferrolb's session to a real BIRD keeps all its routes. Every row goes
//! to BIRD 2 too, with the same bytes, as the cross-check: the expected answers come from the
//! RFC, and BIRD's answer is asserted for every row as well. It is the same everywhere but one
//! row: an unrecognized well-known attribute gets 3/2 from ferrolb (RFC 4271 §6.3, as the issue
//! asks), while BIRD 2.0.12 treats it as withdraw and keeps the session.
//!
//! Lab: BIRD in the router namespace (192.0.2.1, AS 64501) peers with ferrolb (node 0,
//! 192.0.2.2, AS 64500), which announces three service routes to it. The injectors run in node 1
//! (192.0.2.3, AS 64512). ferrolb has one passive peer per raw row (192.0.2.20 + row), so a
//! reset row's idle back-off never delays the next row; BIRD takes every row on one protocol
//! `injector` (from 192.0.2.3) with a 1–2 s error wait.
//!
//! What BIRD 2.x does with each class (its `bgp_decode_attrs`, checked by these tests):
//! treat-as-withdraw for ORIGIN, AS_PATH, NEXT_HOP, MED, COMMUNITIES, LARGE_COMMUNITY,
//! EXTENDED_COMMUNITIES, conflicting flags and per-attribute framing errors; attribute discard
//! for eBGP LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH from a 4-octet speaker; unknown
//! optional transitive accepted; an unknown well-known attribute treat-as-withdraw; 3/9 for a broken
//! MP_REACH/MP_UNREACH; 3/1 for a repeated MP_REACH, lengths past the message and
//! treat-as-withdraw with nothing to withdraw; 3/10 for a bad NLRI prefix length.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::l2::{in_netns, node_dev};
use common::routers::{Bird, BirdOpts};
use common::{require, sh, wait_for, Ferrolb, Lab, NodeToml, Proc};

const WAIT: Duration = Duration::from_secs(30);
const FERROLB_AS: u32 = 64500;
const BIRD_AS: u32 = 64501;
const INJECTOR_AS: u32 = 64512;
const INJECTOR: &str = "192.0.2.3";
const FERROLB: &str = "192.0.2.2";
const BIRD: &str = "192.0.2.1";

/// What the receiver must do with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// NOTIFICATION with (code, subcode), session closed.
    Reset(u8, u8),
    /// Session stays; the row's prefix is not installed; counted under this attribute.
    Withdraw(&'static str),
    /// Session stays; the prefix is installed; the attribute is counted as discarded.
    Discard(&'static str),
    /// Session stays; the prefix is installed; nothing is counted.
    Accept,
}

impl Expect {
    fn installs(self) -> bool {
        matches!(self, Expect::Discard(_) | Expect::Accept)
    }

    /// The (action, attribute) ferrolb's `/status` counts for it.
    fn counted(self) -> Option<(&'static str, &'static str)> {
        match self {
            Expect::Withdraw(a) => Some(("treat-as-withdraw", a)),
            Expect::Discard(a) => Some(("attribute-discard", a)),
            Expect::Reset(..) | Expect::Accept => None,
        }
    }
}

// ---- the ExaBGP rows: one malformed attribute each, on routes ExaBGP builds ----

/// (attribute as ExaBGP writes it, expected answer). Row i announces 198.51.100.(1 + i)/32.
/// ExaBGP drops a LOCAL_PREF towards an eBGP peer itself, so that row is a raw one.
const EXABGP_ROWS: [(&str, Expect); 14] = [
    ("[ 0x01 0x40 0x0000 ]", Expect::Withdraw("ORIGIN")), // length 2
    ("[ 0x01 0x40 0x03 ]", Expect::Withdraw("ORIGIN")),   // value 3
    ("[ 0x01 0xc0 0x00 ]", Expect::Withdraw("ORIGIN")),   // flagged optional
    ("[ 0x02 0x40 0x02020000fc00 ]", Expect::Withdraw("AS_PATH")), // count 2, one ASN
    (
        "[ 0x04 0x80 0x000001 ]",
        Expect::Withdraw("MULTI_EXIT_DISC"),
    ), // length 3
    (
        "[ 0x04 0xc0 0x00000001 ]",
        Expect::Withdraw("MULTI_EXIT_DISC"),
    ), // flagged transitive
    (
        "[ 0x08 0xc0 0x0000000102 ]",
        Expect::Withdraw("COMMUNITIES"),
    ), // length 5
    (
        "[ 0x20 0xc0 0x0000fc00000000010000 ]",
        Expect::Withdraw("LARGE_COMMUNITY"),
    ), // length 10
    (
        "[ 0x10 0xc0 0x00020001000000 ]",
        Expect::Withdraw("EXTENDED_COMMUNITIES"),
    ), // length 7
    ("[ 0x06 0x40 0x09 ]", Expect::Discard("ATOMIC_AGGREGATE")), // length 1
    (
        "[ 0x07 0xc0 0xfc00c0000201 ]",
        Expect::Discard("AGGREGATOR"),
    ), // 6 bytes, 4-octet session
    ("[ 0x11 0xc0 0x02010000fc00 ]", Expect::Discard("AS4_PATH")), // from a 4-octet speaker
    ("[ 0x63 0xe0 0x0102 ]", Expect::Accept), // unknown optional transitive, Partial set
    ("[ 0x64 0x80 0x01 ]", Expect::Accept),   // unknown optional non-transitive
];

fn exabgp_prefix(i: usize) -> String {
    format!("198.51.100.{}/32", 1 + i)
}

fn exabgp_config(targets: &[(&str, u32)]) -> String {
    let mut routes = String::new();
    for (i, (attr, _)) in EXABGP_ROWS.iter().enumerate() {
        routes.push_str(&format!(
            "    route {} next-hop {INJECTOR} attribute {attr};\n",
            exabgp_prefix(i)
        ));
    }
    targets
        .iter()
        .map(|(addr, asn)| {
            format!(
                "neighbor {addr} {{\n  router-id {INJECTOR};\n  local-address {INJECTOR};\n  local-as {INJECTOR_AS};\n  peer-as {asn};\n  hold-time 90;\n  family {{ ipv4 unicast; }}\n  static {{\n{routes}  }}\n}}\n"
            )
        })
        .collect()
}

fn start_exabgp(lab: &Lab, ns: &str) -> Proc {
    require("exabgp");
    let conf = lab.path("exabgp.conf");
    std::fs::write(
        &conf,
        exabgp_config(&[(FERROLB, FERROLB_AS), (BIRD, BIRD_AS)]),
    )
    .expect("write exabgp.conf");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "exabgp", "server"])
        .arg(&conf)
        .env("exabgp_daemon_user", "root")
        .env("exabgp_daemon_drop", "false")
        .env("exabgp_cli_enable", "false")
        .env("exabgp_log_destination", "stdout")
        .env("exabgp_log_packets", "true");
    common::spawn_logged(cmd, "exabgp", lab.path("exabgp.log"))
}

// ---- the raw rows: whole UPDATE bodies ----

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const PATH_64512: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x00];
const NH_INJECTOR: &[u8] = &[0x40, 3, 4, 192, 0, 2, 3];

/// 198.51.100.(100 + row)/32 in NLRI encoding.
fn raw_nlri(row: usize) -> Vec<u8> {
    vec![32, 198, 51, 100, 100 + row as u8]
}

fn raw_prefix(row: usize) -> String {
    format!("198.51.100.{}/32", 100 + row)
}

/// An UPDATE body from its three parts; `attr_len` overrides the Total Path Attribute Length.
fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8], attr_len: Option<u16>) -> Vec<u8> {
    let mut out = (withdrawn.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(withdrawn);
    out.extend_from_slice(&attr_len.unwrap_or(attrs.len() as u16).to_be_bytes());
    out.extend_from_slice(attrs);
    out.extend_from_slice(nlri);
    out
}

/// MP_REACH_NLRI for IPv6 with next hop 2001:db8::3 and `nlri`.
fn mp_reach_v6(nlri: &[u8]) -> Vec<u8> {
    let mut value = vec![0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8];
    value.extend_from_slice(&[0; 11]);
    value.push(3);
    value.push(0);
    value.extend_from_slice(nlri);
    let mut out = vec![0x80, 14, value.len() as u8];
    out.extend_from_slice(&value);
    out
}

fn mandatory() -> Vec<u8> {
    [ORIGIN_IGP, PATH_64512, NH_INJECTOR].concat()
}

/// One raw row: its UPDATE body for row number `i`, and what ferrolb and BIRD answer.
struct Row {
    name: &'static str,
    body: Box<dyn Fn(usize) -> Vec<u8>>,
    ferrolb: Expect,
    bird: Expect,
}

/// A row where BIRD answers as the RFC says, like ferrolb.
fn row(name: &'static str, body: Box<dyn Fn(usize) -> Vec<u8>>, expect: Expect) -> Row {
    Row {
        name,
        body,
        ferrolb: expect,
        bird: expect,
    }
}

/// The raw rows.
fn raw_rows() -> Vec<Row> {
    let v6_host: Vec<u8> = [
        &[128u8, 0x20, 0x01, 0x0d, 0xb8, 0, 0x64][..],
        &[0; 8],
        &[0, 1],
    ]
    .concat();
    let v6 = v6_host.clone();
    vec![
        row(
            "attribute length past the block, with NLRI",
            Box::new(|i| {
                let mut attrs = mandatory();
                attrs.extend_from_slice(&[0xc0, 8, 8, 0, 0, 0, 1]);
                update_body(&[], &attrs, &raw_nlri(i), None)
            }),
            Expect::Withdraw("attribute list"),
        ),
        row(
            "attribute header cut, no NLRI",
            Box::new(|_| update_body(&[], &[ORIGIN_IGP, &[0xc0, 8]].concat(), &[], None)),
            Expect::Reset(3, 1),
        ),
        row(
            "treat-as-withdraw with nothing to withdraw",
            Box::new(|i| {
                let withdrawn = raw_nlri(i);
                update_body(&withdrawn, &[0xc0, 8, 5, 0, 0, 0, 1, 2], &[], None)
            }),
            Expect::Reset(3, 1),
        ),
        row(
            "Total Path Attribute Length past the message",
            Box::new(|i| update_body(&[], &mandatory(), &raw_nlri(i), Some(200))),
            Expect::Reset(3, 1),
        ),
        row(
            "NLRI prefix length 33",
            Box::new(|i| {
                let mut nlri = raw_nlri(i);
                nlri[0] = 33;
                nlri.push(0);
                update_body(&[], &mandatory(), &nlri, None)
            }),
            Expect::Reset(3, 10),
        ),
        // RFC 4271 §6.3: 3/2. BIRD 2.0.12 treats an unknown well-known attribute as withdraw
        // (its bgp_decode_unknown) and keeps the session.
        Row {
            name: "unknown well-known attribute",
            body: Box::new(|i| {
                let mut attrs = mandatory();
                attrs.extend_from_slice(&[0x40, 99, 1, 7]);
                update_body(&[], &attrs, &raw_nlri(i), None)
            }),
            ferrolb: Expect::Reset(3, 2),
            bird: Expect::Withdraw("type 99"),
        },
        row(
            "MP_REACH_NLRI cut after one byte",
            Box::new(|_| {
                let attrs = [ORIGIN_IGP, PATH_64512, &[0x80, 14, 1, 0]].concat();
                update_body(&[], &attrs, &[], None)
            }),
            Expect::Reset(3, 9),
        ),
        row(
            "MP_REACH_NLRI next hop length 7",
            Box::new(move |_| {
                let mut mp = vec![0x80, 14, 12, 0, 2, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0];
                mp.extend_from_slice(&v6_host);
                mp[2] = (mp.len() - 3) as u8;
                let attrs = [ORIGIN_IGP, PATH_64512, &mp].concat();
                update_body(&[], &attrs, &[], None)
            }),
            Expect::Reset(3, 9),
        ),
        row(
            "MP_UNREACH_NLRI cut in its family",
            Box::new(|_| update_body(&[], &[0x80, 15, 2, 0, 2], &[], None)),
            Expect::Reset(3, 9),
        ),
        row(
            "MP_REACH_NLRI twice",
            Box::new(move |_| {
                let mp = mp_reach_v6(&v6);
                let attrs = [ORIGIN_IGP, PATH_64512, &mp, &mp].concat();
                update_body(&[], &attrs, &[], None)
            }),
            Expect::Reset(3, 1),
        ),
        row(
            "LOCAL_PREF from an eBGP peer",
            Box::new(|i| {
                let mut attrs = mandatory();
                attrs.extend_from_slice(&[0x40, 5, 4, 0, 0, 0, 100]);
                update_body(&[], &attrs, &raw_nlri(i), None)
            }),
            Expect::Discard("LOCAL_PREF"),
        ),
        row(
            "a repeated ORIGIN (later copy discarded)",
            Box::new(|i| {
                let mut attrs = mandatory();
                attrs.extend_from_slice(&[0x40, 1, 1, 2]);
                update_body(&[], &attrs, &raw_nlri(i), None)
            }),
            Expect::Discard("ORIGIN"),
        ),
    ]
}

fn raw_peer_address(row: usize) -> String {
    format!("192.0.2.{}", 20 + row)
}

// ---- a raw BGP speaker ----

struct RawPeer {
    stream: TcpStream,
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

/// OPEN: version 4, AS_TRANS-free 2-octet field (our AS fits), hold 90, BGP ID 192.0.2.3,
/// capabilities MP IPv4 and IPv6 unicast and 4-octet AS.
fn open(asn: u32) -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 65, 4];
    caps.extend_from_slice(&asn.to_be_bytes());
    let mut body = vec![4];
    body.extend_from_slice(&(asn as u16).to_be_bytes());
    body.extend_from_slice(&90u16.to_be_bytes());
    body.extend_from_slice(&[192, 0, 2, 3]);
    body.push(caps.len() as u8 + 2);
    body.push(2);
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    frame(1, &body)
}

impl RawPeer {
    /// Connects from `local` (in namespace `ns`) to `target`:179 and completes OPEN/KEEPALIVE.
    fn establish(ns: &str, local: &str, target: &str) -> Result<RawPeer, String> {
        let local: Ipv4Addr = local.parse().map_err(|e| format!("{e}"))?;
        let target: Ipv4Addr = target.parse().map_err(|e| format!("{e}"))?;
        let stream = in_netns(ns, move || -> std::io::Result<TcpStream> {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            s.bind(&SocketAddr::from((local, 0)).into())?;
            s.connect_timeout(
                &SocketAddr::from((target, 179)).into(),
                Duration::from_secs(3),
            )?;
            Ok(s.into())
        })
        .join()
        .map_err(|_| "connect thread panicked".to_string())?
        .map_err(|e| format!("connect {local} -> {target}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut p = RawPeer { stream };
        p.send(&open(INJECTOR_AS))?;
        p.expect_kind(1)?;
        p.send(&frame(4, &[]))?;
        p.expect_kind(4)?;
        Ok(p)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).map_err(|e| e.to_string())
    }

    /// The next message: (type, body).
    fn read(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        let mut head = [0u8; 19];
        self.stream.read_exact(&mut head)?;
        let len = usize::from(u16::from_be_bytes([head[16], head[17]]));
        let mut body = vec![0; len.saturating_sub(19)];
        self.stream.read_exact(&mut body)?;
        Ok((head[18], body))
    }

    /// Reads until a message of `kind` (UPDATEs and KEEPALIVEs in between are skipped).
    fn expect_kind(&mut self, kind: u8) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.read() {
                Ok((k, body)) if k == kind => return Ok(body),
                Ok((3, body)) => return Err(format!("NOTIFICATION {body:?}")),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Err(format!("no message of type {kind}"))
    }

    /// The NOTIFICATION's (code, subcode), if one arrives within `within`.
    fn notification(&mut self, within: Duration) -> Option<(u8, u8)> {
        let _ = self.stream.set_read_timeout(Some(within));
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.read() {
                Ok((3, body)) => return Some((body[0], body[1])),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

// ---- the lab ----

struct Setup {
    lab: Lab,
    bird: Bird,
    ferrolb: Ferrolb,
    injector_ns: String,
}

const SERVICES: [&str; 3] = ["203.0.113.10/32", "203.0.113.11/32", "203.0.113.12/32"];

fn setup(raw_peers: usize) -> Setup {
    let lab = Lab::with_nodes(2);
    let injector_ns = lab.node_nss[1].clone();
    let dev = node_dev(&lab, &injector_ns);
    for row in 0..raw_peers {
        let addr = format!("{}/24", raw_peer_address(row));
        sh(&["ip", "-n", &injector_ns, "addr", "add", &addr, "dev", &dev]);
    }
    let extra = format!(
        "protocol bgp injector {{\n  local {BIRD} as {BIRD_AS};\n  neighbor {INJECTOR} as {INJECTOR_AS};\n  passive on;\n  error wait time 1, 2;\n  error forget time 1;\n  ipv4 {{ import all; export none; }};\n  ipv6 {{ import all; export none; }};\n}}\n"
    );
    let bird = Bird::start_with(
        &lab,
        BIRD_AS,
        FERROLB_AS,
        false,
        &BirdOpts {
            extra,
            ..BirdOpts::default()
        },
    );
    let mut peers = format!(
        "\n[[bgp.peers]]\nname = \"injector\"\naddress = \"{INJECTOR}\"\nasn = {INJECTOR_AS}\nhold_time = 90\npassive = true\n"
    );
    for row in 0..raw_peers {
        peers.push_str(&format!(
            "\n[[bgp.peers]]\nname = \"raw{row}\"\naddress = \"{}\"\nasn = {INJECTOR_AS}\nhold_time = 90\npassive = true\n",
            raw_peer_address(row)
        ));
    }
    let toml = NodeToml {
        asn: FERROLB_AS,
        peer_asn: BIRD_AS,
        hold_time: 90,
        services: vec![
            ("web", vec!["203.0.113.10"]),
            ("api", vec!["203.0.113.11"]),
            ("db", vec!["203.0.113.12"]),
        ],
        http: Some("127.0.0.1:7473"),
        extra: peers,
        ..NodeToml::default()
    };
    let ferrolb = Ferrolb::start(&lab, &toml);
    let s = Setup {
        lab,
        bird,
        ferrolb,
        injector_ns,
    };
    s.wait("BIRD to have ferrolb's routes", || s.bird_has_services());
    s
}

impl Setup {
    fn wait(&self, what: &str, cond: impl FnMut() -> bool) {
        if let Err(e) = wait_for(what, WAIT, cond) {
            self.fail(&e);
        }
    }

    fn fail(&self, e: &str) -> ! {
        panic!(
            "{e}\n--- ferrolb log ---\n{}\n--- BIRD log ---\n{}\n--- exabgp log (if any) ---\n{}",
            self.ferrolb.proc.log_text(),
            self.bird.log(),
            std::fs::read_to_string(self.lab.path("exabgp.log")).unwrap_or_default()
        )
    }

    fn bird_has_services(&self) -> bool {
        self.bird.protocol_established("ferrolb") && self.bird.prefixes_of("ferrolb") == SERVICES
    }

    fn status(&self) -> serde_json::Value {
        common::bfd::status(&self.lab).unwrap_or_default()
    }

    fn session(&self, peer: &str) -> serde_json::Value {
        self.status()["sessions"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["peer"] == peer).cloned())
            .unwrap_or_default()
    }

    /// ferrolb's count of (action, attribute) decisions for `peer`.
    fn counted(&self, peer: &str, action: &str, attribute: &str) -> u64 {
        self.session(peer)["update_errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["action"] == action && e["attribute"] == attribute)
            .filter_map(|e| e["count"].as_u64())
            .sum()
    }

    /// The session to BIRD never went down and BIRD has every route; ferrolb is running.
    fn check_bird_session_untouched(&mut self) {
        assert!(
            matches!(self.ferrolb.proc.child.try_wait(), Ok(None)),
            "ferrolb exited"
        );
        let router = self.session("router");
        if router["state"] != "Established" || !self.bird_has_services() {
            self.fail(&format!("the session to BIRD suffered: {router}"));
        }
        let metrics = common::bfd::metrics(&self.lab);
        let flaps = "ferrolb_bgp_session_flaps_total{peer=\"router\",peer_address=\"192.0.2.1\"} 0";
        assert!(
            metrics.contains(flaps),
            "the BIRD session flapped:\n{metrics}"
        );
    }
}

/// ExaBGP sends 14 UPDATEs with one malformed (or unknown) attribute each, to ferrolb and to
/// BIRD: the same routes are installed on both, each decision is counted once under its
/// attribute at ferrolb, no session is reset, and the BIRD session keeps ferrolb's routes.
#[test]
fn exabgp_malformed_attributes_get_the_rfc_7606_answer_from_ferrolb_and_bird() {
    let mut s = setup(0);
    let exabgp = start_exabgp(&s.lab, &s.injector_ns);
    let installed: Vec<String> = {
        let mut v: Vec<String> = EXABGP_ROWS
            .iter()
            .enumerate()
            .filter(|(_, (_, e))| e.installs())
            .map(|(i, _)| exabgp_prefix(i))
            .collect();
        v.sort();
        v
    };
    // BIRD installs exactly the rows the RFC keeps.
    s.wait("BIRD to install the rows the RFC keeps", || {
        s.bird.prefixes_of("injector") == installed
    });
    // ferrolb: every decision counted under its attribute, the kept rows received.
    let mut want: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for (_, e) in EXABGP_ROWS {
        if let Some(k) = e.counted() {
            *want.entry(k).or_default() += 1;
        }
    }
    let counted = wait_for("ferrolb to count every decision", WAIT, || {
        want.iter()
            .all(|((action, attr), n)| s.counted("injector", action, attr) == *n)
            && s.session("injector")["prefixes_received"] == installed.len()
    });
    if let Err(e) = counted {
        s.fail(&format!(
            "{e}: want {want:?}, ferrolb has {}",
            s.session("injector")
        ));
    }
    let injector = s.session("injector");
    assert_eq!(injector["state"], "Established", "{injector}");
    let errors = injector["update_errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        errors.len(),
        want.len(),
        "nothing else was counted: {injector}"
    );
    // No session was reset on either side, and ExaBGP never saw a NOTIFICATION.
    assert!(
        s.bird.protocol_established("injector"),
        "{}",
        s.bird.protocol("injector")
    );
    let metrics = common::bfd::metrics(&s.lab);
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("ferrolb_bgp_notifications_sent_total{peer=\"injector\"")),
        "ferrolb sent a NOTIFICATION to ExaBGP:\n{metrics}"
    );
    assert!(
        metrics.contains("ferrolb_bgp_update_errors_total{peer=\"injector\",peer_address=\"192.0.2.3\",action=\"treat-as-withdraw\",attribute=\"ORIGIN\"} 3"),
        "{metrics}"
    );
    // Logged once per (action, attribute), with the attribute named.
    let log = s.ferrolb.proc.log_text();
    let origin_lines = log
        .lines()
        .filter(|l| l.contains("malformed UPDATE attribute") && l.contains("attribute=ORIGIN"))
        .count();
    assert_eq!(origin_lines, 1, "three ORIGIN rows, one log line:\n{log}");
    drop(exabgp);
    s.check_bird_session_untouched();
}

/// The raw peer sends each row's bytes on a fresh session, to ferrolb (one peer per row) and
/// to BIRD (one protocol): resets get the RFC's NOTIFICATION from both, the other rows keep the
/// session and install (or not) the row's prefix on both.
#[test]
fn raw_malformed_updates_get_the_rfc_7606_answer_from_ferrolb_and_bird() {
    let rows = raw_rows();
    let mut s = setup(rows.len());
    let sentinel = update_body(&[], &mandatory(), &[32, 198, 51, 100, 250], None);
    for (row, r) in rows.iter().enumerate() {
        let (name, expect) = (r.name, r.ferrolb);
        let bytes = frame(2, &(r.body)(row));
        // ferrolb, on this row's own peer.
        let peer = format!("raw{row}");
        let mut p = RawPeer::establish(&s.injector_ns, &raw_peer_address(row), FERROLB)
            .unwrap_or_else(|e| s.fail(&format!("{name}: ferrolb session: {e}")));
        p.send(&bytes).expect("send");
        match expect {
            Expect::Reset(code, subcode) => {
                let got = p.notification(WAIT);
                assert_eq!(got, Some((code, subcode)), "ferrolb, {name}");
            }
            other => {
                let (action, attr) = other.counted().expect("counted");
                s.wait(&format!("ferrolb to count {name}"), || {
                    s.counted(&peer, action, attr) == 1
                });
                p.send(&frame(2, &sentinel)).expect("send");
                s.wait(
                    &format!("ferrolb to take the sentinel after {name}"),
                    || {
                        let want = if other.installs() { 2 } else { 1 };
                        s.session(&peer)["prefixes_received"] == want
                    },
                );
                assert_eq!(
                    p.notification(Duration::from_millis(500)),
                    None,
                    "ferrolb, {name}"
                );
                assert_eq!(s.session(&peer)["state"], "Established", "ferrolb, {name}");
            }
        }
        drop(p);
        // BIRD, the same bytes (it may still be in its error wait from the previous row).
        let mut b = None;
        s.wait(&format!("a session to BIRD for {name}"), || {
            b = RawPeer::establish(&s.injector_ns, INJECTOR, BIRD).ok();
            b.is_some()
        });
        let mut b = b.expect("session");
        b.send(&bytes).expect("send");
        match r.bird {
            Expect::Reset(code, subcode) => {
                let got = b.notification(WAIT);
                assert_eq!(got, Some((code, subcode)), "BIRD, {name}");
            }
            other => {
                b.send(&frame(2, &sentinel)).expect("send");
                s.wait(&format!("BIRD to take the sentinel after {name}"), || {
                    s.bird
                        .prefixes_of("injector")
                        .contains(&"198.51.100.250/32".to_string())
                });
                let has = s.bird.prefixes_of("injector").contains(&raw_prefix(row));
                assert_eq!(has, other.installs(), "BIRD, {name}");
                assert_eq!(
                    b.notification(Duration::from_millis(500)),
                    None,
                    "BIRD, {name}"
                );
            }
        }
        drop(b);
    }
    // Every reset was counted under its attribute.
    let metrics = common::bfd::metrics(&s.lab);
    assert!(
        metrics.contains("ferrolb_bgp_update_errors_total{peer=\"raw6\",peer_address=\"192.0.2.26\",action=\"session-reset\",attribute=\"MP_REACH_NLRI\"} 1"),
        "{metrics}"
    );
    s.check_bird_session_untouched();
}
