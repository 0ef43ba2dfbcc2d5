//! BGP wire benchmarks: UPDATE encoding and decoding of 1M IPv4 /32 and 1M IPv6 /128, and an
//! Adj-RIB-Out diff of 10k changes over a 100k-route table.
//!
//! IPv4 prefixes cycle through the three documentation /24s (768 addresses): the encoder's cost
//! does not depend on the values, and no address outside the documentation ranges is used.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferrolb::announce::adj_rib_out::AdjRibOut;
use ferrolb::announce::table::{PeerRoutes, RouteAttrs};
use ferrolb::packet::codec::{self, CodecParams, MAX_EXTENDED_MESSAGE_LEN};
use ferrolb::packet::message::PathAttributes;
use ipnet::IpNet;

const N: usize = 1_000_000;

fn v4_routes(n: usize) -> Vec<IpNet> {
    let bases = [
        Ipv4Addr::new(192, 0, 2, 0),
        Ipv4Addr::new(198, 51, 100, 0),
        Ipv4Addr::new(203, 0, 113, 0),
    ];
    (0..n)
        .map(|i| {
            let base = u32::from(bases[(i / 256) % 3]);
            IpNet::from(IpAddr::V4(Ipv4Addr::from(base + (i % 256) as u32)))
        })
        .collect()
}

fn v6_routes(n: usize) -> Vec<IpNet> {
    let base = u128::from("2001:db8:100::".parse::<Ipv6Addr>().expect("v6"));
    (0..n as u128)
        .map(|i| IpNet::from(IpAddr::V6(Ipv6Addr::from(base + i))))
        .collect()
}

fn attrs(nh: &str) -> PathAttributes {
    PathAttributes {
        as_path: vec![64512],
        next_hop: Some(nh.parse().expect("next hop")),
        communities: vec![0xFDE8_0064],
        ..PathAttributes::default()
    }
}

fn params(max: usize) -> CodecParams {
    CodecParams {
        four_octet_as: true,
        max_message_len: max,
        ibgp: false,
    }
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    let v4 = v4_routes(N);
    let v6 = v6_routes(N);
    for (name, max) in [
        ("4096", codec::MAX_MESSAGE_LEN),
        ("65535", MAX_EXTENDED_MESSAGE_LEN),
    ] {
        g.bench_function(format!("1M IPv4 /32, {name}-byte UPDATEs"), |b| {
            b.iter(|| {
                let m = codec::encode_announce(&v4, &attrs("192.0.2.10"), &params(max));
                black_box(m.map(|m| m.len()))
            })
        });
        g.bench_function(format!("1M IPv6 /128, {name}-byte UPDATEs"), |b| {
            b.iter(|| {
                let m = codec::encode_announce(&v6, &attrs("2001:db8::10"), &params(max));
                black_box(m.map(|m| m.len()))
            })
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    let p = params(codec::MAX_MESSAGE_LEN);
    for (name, routes, nh) in [
        ("1M IPv4 /32", v4_routes(N), "192.0.2.10"),
        ("1M IPv6 /128", v6_routes(N), "2001:db8::10"),
    ] {
        let mut wire = BytesMut::new();
        for m in codec::encode_announce(&routes, &attrs(nh), &p).expect("encode") {
            wire.extend_from_slice(&m);
        }
        let wire = wire.freeze();
        g.bench_function(name, |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| {
                    let mut n = 0;
                    while let Ok(Some(_)) = codec::decode(&mut buf, &p) {
                        n += 1;
                    }
                    black_box(n)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn adj_rib_out(c: &mut Criterion) {
    let plain = Arc::new(RouteAttrs::default());
    let table: PeerRoutes = v6_routes(100_000)
        .into_iter()
        .map(|p| (p, plain.clone()))
        .collect();
    // 10k changes: 5k withdrawn, 5k new.
    let mut changed = table.clone();
    let extra = v6_routes(105_000);
    for p in extra.iter().take(5_000) {
        changed.remove(p);
    }
    for p in extra.iter().skip(100_000) {
        changed.insert(*p, plain.clone());
    }
    let mut g = c.benchmark_group("adj_rib_out");
    g.bench_function("diff of 10k changes over 100k routes", |b| {
        b.iter_batched(
            || {
                let mut rib = AdjRibOut::default();
                rib.sync(table.clone());
                (rib, changed.clone())
            },
            |(mut rib, changed)| black_box(rib.sync(changed).announce.len()),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, encode, decode, adj_rib_out);
criterion_main!(benches);
