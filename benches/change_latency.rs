//! Service change → first byte of the UPDATE on the wire, at 10k services (issue 7).
//!
//! A standalone [`Pipeline`] with 10,000 services (IPv6, one pool) holds one eBGP session over
//! loopback to a minimal receiver in this process: a thread that answers the OPEN, then reads
//! the socket and timestamps every message at the moment the read that brought its first byte
//! returned. After the initial table is in, 1,000 changes alternate between adding a service
//! and removing it again, through `Pipeline::upsert_service` / `remove_service` (part of the
//! library, no special build, no SIGHUP). For each change the latency is the time from just
//! before the call to the arrival of the first byte of the next UPDATE.
//!
//! Run: `cargo bench --bench change_latency`. Prints a Markdown table (bench.sh copies it into
//! BENCHMARKS.md). Measured, never asserted.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ferrolb::config::{self, HostInfo, IpFamilies, ServiceConfig};
use ferrolb::packet::codec::{self, CodecParams};
use ferrolb::packet::message::{Capabilities, Family, Message, Open};
use ferrolb::standalone::Pipeline;

const SERVICES: usize = 10_000;
const CHANGES: usize = 1_000;
const UPDATE: u8 = 2;

/// (arrival of the first byte, message type)
type Arrival = (Instant, u8);

fn config_text(port: u16) -> String {
    let mut t = format!(
        r#"
[node]
name = "bench"
router_id = "192.0.2.2"
asn = 64512
addresses = ["192.0.2.2", "2001:db8::2"]

[bgp]
listen = ""

[http]
listen = ""

[[bgp.peers]]
name = "receiver"
address = "127.0.0.1"
port = {port}
asn = 64500
hold_time = 240
connect_retry = 1
families = ["ipv6"]

[[pools]]
name = "bench"
addresses = ["2001:db8:100::/64"]
"#
    );
    for i in 0..SERVICES {
        t.push_str(&format!(
            "\n[[services]]\nname = \"svc-{i:05}\"\npool = \"bench\"\n"
        ));
    }
    t
}

/// The receiving side: OPEN + KEEPALIVE back, then timestamps every message's first byte.
fn receiver(listener: TcpListener, arrivals: mpsc::Sender<Arrival>) {
    loop {
        match listener.accept() {
            Ok((sock, _)) => {
                if let Err(e) = session(sock, &arrivals) {
                    eprintln!("receiver: session ended: {e}");
                }
            }
            Err(e) => eprintln!("receiver: accept: {e}"),
        }
    }
}

fn session(mut sock: TcpStream, arrivals: &mpsc::Sender<Arrival>) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let open = Message::Open(Open {
        my_as: 64500,
        hold_time: 240,
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities: Capabilities {
            families: [Family::Ipv6Unicast].into(),
            four_octet_as: Some(64500),
            ..Capabilities::default()
        },
    });
    let mut out = BytesMut::new();
    codec::encode(&open, &CodecParams::default(), &mut out);
    codec::encode(&Message::Keepalive, &CodecParams::default(), &mut out);
    sock.write_all(&out)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 16];
    // Offset in `buf` where the next message starts.
    let mut next = 0usize;
    loop {
        let n = sock.read(&mut chunk)?;
        let at = Instant::now();
        if n == 0 {
            return Ok(());
        }
        let start_len = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        // Every message that starts inside this chunk arrived (first byte) at `at`.
        while buf.len() >= next + 19 {
            let len = usize::from(u16::from_be_bytes([buf[next + 16], buf[next + 17]]));
            let kind = buf[next + 18];
            // A message that started in an earlier chunk is not reported: its first byte came
            // before `at` (only the initial table spans chunks; the measured changes are idle
            // wire followed by one UPDATE).
            if next >= start_len {
                let _ = arrivals.send((at, kind));
            }
            if len < 19 {
                return Err(std::io::Error::other("bad message length"));
            }
            next += len;
        }
        // Everything before `next` is read; a message whose body is still on its way keeps
        // its remaining length as the offset of the next header.
        if next >= buf.len() {
            next -= buf.len();
            buf.clear();
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    let port = listener.local_addr().expect("receiver address").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || receiver(listener, tx));

    let text = config_text(port);
    let host = HostInfo::default();
    let config = config::parse_with(Path::new("bench.toml"), &text, &host).expect("bench config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let directory = Arc::new(RwLock::new(HashMap::new()));
    let mut pipeline = Pipeline::start(config, directory).expect("pipeline");

    // Wait for the initial table (10k prefixes sent), then for the wire to go quiet.
    let deadline = Instant::now() + Duration::from_secs(60);
    while pipeline
        .speaker()
        .sessions()
        .first()
        .is_none_or(|s| s.prefixes_sent < SERVICES)
    {
        assert!(
            Instant::now() < deadline,
            "the initial table was not sent: {:?}",
            pipeline.speaker().sessions()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    while rx.try_recv().is_ok() {}

    let mut samples = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let name = format!("extra-{}", i / 2);
        let t0 = Instant::now();
        if i % 2 == 0 {
            let (r, _) = pipeline.upsert_service(ServiceConfig {
                name: name.as_str().into(),
                addresses: Box::default(),
                pool: Some("bench".into()),
                ip_families: IpFamilies::SingleStack,
                allow_shared_ip: None,
            });
            assert_eq!(r.assigned.len(), 1, "the new service got no address");
        } else {
            assert!(pipeline.remove_service(&name).0);
        }
        let arrived = loop {
            let (at, kind) = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("an UPDATE after the change");
            if kind == UPDATE {
                break at;
            }
        };
        samples.push(arrived.saturating_duration_since(t0));
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!("| measurement | p50 | p99 | max | mean | goal |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| service change → first UPDATE byte, {CHANGES} changes (add/remove alternating) at {SERVICES} services, 1 session over loopback | {} | {} | {} | {} | p99 < 5 ms |",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(samples[samples.len() - 1]),
        ms(mean),
    );
    rt.block_on(pipeline.shutdown(Duration::ZERO));
}
