//! The replay floor of `bird-lab/bench.sh`: a BGP sender that does nothing but write
//! pre-encoded UPDATEs. It encodes N routes with the crate's own packet encoder (4096-byte
//! UPDATEs, as densely as RFC 4271 allows) before any peer connects, waits for one connection,
//! exchanges OPENs and then writes its KEEPALIVE, every announcement and the End-of-RIB in one
//! `write_all`, as fast as the socket takes them (the receiver is Established when it reads the
//! first UPDATE; waiting for its KEEPALIVE first would add a round trip a floor should not
//! have). A line `withdraw` on stdin writes the pre-encoded withdrawals of all N the same way.
//! Whatever the receiver sends after the OPEN is read and dropped; a KEEPALIVE goes out every
//! 60 s (the bench asks for a 240 s hold time).
//!
//! ```text
//! replay LISTEN ipv4|ipv6 N NEXT_HOP   # e.g. replay 0.0.0.0:179 ipv4 100000 192.0.2.2
//! ```
//!
//! Routes: IPv4 /32s from 198.18.0.0 up (RFC 2544 range), IPv6 /128s from 2001:db8:100:: up,
//! the same prefixes as `bird-lab/mrt.py`. AS 64512, BGP ID 192.0.2.2, 4-octet AS required of
//! the peer. Prints `announced` and then `withdrawn` on stdout when each burst is written.

use std::collections::BTreeSet;
use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use ferrolb::packet::codec::{self, CodecParams};
use ferrolb::packet::message::{Capabilities, Family, Message, Open, PathAttributes};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

const ASN: u32 = 64512;

fn fail(msg: &str) -> ! {
    eprintln!("replay: {msg}");
    std::process::exit(1);
}

/// The N prefixes, as bench.sh's other senders announce them.
fn prefixes(family: Family, n: u32) -> Vec<IpNet> {
    match family {
        Family::Ipv4Unicast => {
            let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
            (0..n)
                .filter_map(|i| Ipv4Net::new(Ipv4Addr::from(base + i), 32).ok())
                .map(IpNet::V4)
                .collect()
        }
        Family::Ipv6Unicast => {
            let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0));
            (0..n)
                .filter_map(|i| Ipv6Net::new(Ipv6Addr::from(base + u128::from(i)), 128).ok())
                .map(IpNet::V6)
                .collect()
        }
    }
}

/// The announcements plus End-of-RIB, and the withdrawals, each as one byte string.
fn encode(family: Family, n: u32, next_hop: IpAddr) -> (Vec<u8>, Vec<u8>, usize) {
    let routes = prefixes(family, n);
    let attrs = PathAttributes {
        as_path: vec![ASN],
        next_hop: Some(next_hop),
        ..PathAttributes::default()
    };
    let params = CodecParams {
        four_octet_as: true,
        ..CodecParams::default()
    };
    let msgs = codec::encode_announce(&routes, &attrs, &params)
        .unwrap_or_else(|e| fail(&format!("cannot encode the routes: {e}")));
    let count = msgs.len();
    let mut announce: Vec<u8> = msgs.concat();
    announce.extend_from_slice(&codec::encode_end_of_rib(family));
    let withdraw = codec::encode_withdraw(&routes, &params).concat();
    (announce, withdraw, count)
}

fn send(stream: &mut TcpStream, msg: &Message) {
    let mut out = BytesMut::new();
    codec::encode(msg, &CodecParams::default(), &mut out);
    stream
        .write_all(&out)
        .unwrap_or_else(|e| fail(&format!("write: {e}")));
}

/// Reads until one whole message is decoded.
fn next_message(stream: &mut TcpStream, buf: &mut BytesMut) -> Message {
    let mut chunk = [0u8; 4096];
    loop {
        match codec::decode(buf, &CodecParams::default()) {
            Ok(Some(m)) => return m,
            Ok(None) => {}
            Err(n) => fail(&format!("the peer sent a bad message: {n}")),
        }
        match stream.read(&mut chunk) {
            Ok(0) => fail("the peer closed the connection during the OPEN exchange"),
            Ok(k) => buf.extend_from_slice(chunk.get(..k).unwrap_or(&[])),
            Err(e) => fail(&format!("read: {e}")),
        }
    }
}

/// OPEN both ways, then our KEEPALIVE with every announcement behind it in one write: the
/// receiver goes Established on the KEEPALIVE (RFC 4271 §8, OpenConfirm) and finds the UPDATEs
/// already in its socket. Its own KEEPALIVE is left to the drain thread.
fn open_session(stream: &mut TcpStream, family: Family, announce: &[u8]) {
    let open = Open {
        my_as: ASN as u16,
        hold_time: 240,
        router_id: Ipv4Addr::new(192, 0, 2, 2),
        capabilities: Capabilities {
            families: BTreeSet::from([family]),
            four_octet_as: Some(ASN),
            ..Capabilities::default()
        },
    };
    send(stream, &Message::Open(open));
    let mut buf = BytesMut::new();
    match next_message(stream, &mut buf) {
        Message::Open(peer) if peer.capabilities.four_octet_as.is_some() => {}
        Message::Open(_) => fail("the peer does not offer 4-octet AS numbers"),
        other => fail(&format!("expected OPEN, got {}", other.kind())),
    }
    let mut out = BytesMut::new();
    codec::encode(&Message::Keepalive, &CodecParams::default(), &mut out);
    out.extend_from_slice(announce);
    stream
        .write_all(&out)
        .unwrap_or_else(|e| fail(&format!("write: {e}")));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: replay LISTEN ipv4|ipv6 N NEXT_HOP";
    let (Some(listen), Some(fam), Some(n), Some(nh)) =
        (args.first(), args.get(1), args.get(2), args.get(3))
    else {
        fail(usage);
    };
    let family = match fam.as_str() {
        "ipv4" => Family::Ipv4Unicast,
        "ipv6" => Family::Ipv6Unicast,
        _ => fail(usage),
    };
    let n: u32 = n.parse().unwrap_or_else(|_| fail(usage));
    if family == Family::Ipv4Unicast && n > 131_072 {
        fail("ipv4 has 131072 addresses in 198.18.0.0/15");
    }
    let next_hop: IpAddr = nh.parse().unwrap_or_else(|_| fail(usage));
    let (announce, withdraw, count) = encode(family, n, next_hop);
    eprintln!(
        "replay: {n} routes in {count} UPDATEs, {} bytes; withdrawals {} bytes",
        announce.len(),
        withdraw.len()
    );

    let listener = TcpListener::bind(listen).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let (mut stream, _) = listener
        .accept()
        .unwrap_or_else(|e| fail(&format!("accept: {e}")));
    drop(listener);
    let _ = stream.set_nodelay(true);
    open_session(&mut stream, family, &announce);
    println!("announced");

    // Drop what the receiver sends (its KEEPALIVEs) so its socket never backs up.
    let mut drain = stream
        .try_clone()
        .unwrap_or_else(|e| fail(&format!("socket: {e}")));
    std::thread::spawn(move || {
        let mut sink = [0u8; 4096];
        while matches!(drain.read(&mut sink), Ok(k) if k > 0) {}
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.trim() == "withdraw" => {
                stream
                    .write_all(&withdraw)
                    .unwrap_or_else(|e| fail(&format!("write: {e}")));
                println!("withdrawn");
            }
            Ok(other) => eprintln!("replay: unknown command `{other}`"),
            Err(mpsc::RecvTimeoutError::Timeout) => send(&mut stream, &Message::Keepalive),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a byte string of whole messages; returns (announced, withdrawn, EoR seen, count).
    fn decode_all(bytes: &[u8]) -> (Vec<IpNet>, Vec<IpNet>, bool, usize) {
        let params = CodecParams {
            four_octet_as: true,
            ..CodecParams::default()
        };
        let mut buf = BytesMut::from(bytes);
        let (mut announced, mut withdrawn, mut eor, mut count) = (Vec::new(), Vec::new(), false, 0);
        while let Ok(Some(Message::Update(u))) = codec::decode(&mut buf, &params) {
            announced.extend(u.announced);
            withdrawn.extend(u.withdrawn);
            eor |= u.end_of_rib.is_some();
            count += 1;
        }
        assert!(buf.is_empty(), "bytes left that are not a whole UPDATE");
        (announced, withdrawn, eor, count)
    }

    #[test]
    fn ipv4_replay_announces_and_withdraws_the_benchmark_range_in_full_messages() {
        let n = 131_072;
        let (announce, withdraw, msgs) =
            encode(Family::Ipv4Unicast, n, "192.0.2.2".parse().unwrap());
        let (announced, _, eor, count) = decode_all(&announce);
        assert_eq!(announced, prefixes(Family::Ipv4Unicast, n));
        assert_eq!(
            announced.last().map(ToString::to_string).as_deref(),
            Some("198.19.255.255/32")
        );
        assert!(eor);
        assert_eq!(count, msgs + 1);
        // 4096-byte messages of 5-byte /32s: at most one message more than the bytes need.
        assert!(
            msgs <= (n as usize * 5).div_ceil(4096 - 60) + 1,
            "{msgs} messages"
        );
        let (_, withdrawn, _, _) = decode_all(&withdraw);
        assert_eq!(withdrawn, announced);
    }

    #[test]
    fn ipv6_replay_announces_and_withdraws_n_host_routes() {
        let n = 70_000;
        let (announce, withdraw, _) =
            encode(Family::Ipv6Unicast, n, "2001:db8::2".parse().unwrap());
        let (announced, _, eor, _) = decode_all(&announce);
        assert_eq!(announced.len(), n as usize);
        assert_eq!(
            announced.first().map(ToString::to_string).as_deref(),
            Some("2001:db8:100::/128")
        );
        assert_eq!(
            announced.last().map(ToString::to_string).as_deref(),
            Some("2001:db8:100::1:116f/128")
        );
        assert!(eor);
        let (_, withdrawn, _, _) = decode_all(&withdraw);
        assert_eq!(withdrawn, announced);
    }
}
