//! Allocator benchmarks: 100k allocations from mixed IPv4 ranges plus an IPv6 /64, and a
//! restore of 100k assignments.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ferrolb::allocator::{Allocator, Fam, Pool, Range, Request, Restored};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("bench address")
}

fn pools() -> Allocator {
    let mut a = Allocator::new(Vec::new());
    let v4 = Pool::new(
        "v4",
        vec![
            Range::new(ip("198.51.100.0"), ip("198.51.100.255")).expect("range"),
            Range::new(ip("203.0.113.0"), ip("203.0.113.255")).expect("range"),
            Range::new(ip("192.0.2.0"), ip("192.0.2.255")).expect("range"),
        ],
    );
    let v6 = Pool::new(
        "v6",
        vec![Range::new(
            ip("2001:db8:100::"),
            ip("2001:db8:100::ffff:ffff:ffff:ffff"),
        )
        .expect("range")],
    );
    a.add_pool(v4).expect("pool");
    a.add_pool(v6).expect("pool");
    a
}

/// 100k services: the first 768 take the IPv4 ranges, the rest the IPv6 /64.
fn allocate_100k() -> Allocator {
    let mut a = pools();
    for i in 0..100_000u64 {
        let fam = if i < 768 { Fam::V4 } else { Fam::V6 };
        let key = format!("ns/svc-{i}");
        black_box(
            a.allocate(&Request::simple(&key, i, fam))
                .expect("allocate"),
        );
    }
    a
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator");
    g.sample_size(10);
    g.bench_function("allocate_100k_mixed_v4_ranges_and_v6_64", |b| {
        b.iter(allocate_100k)
    });
    let done = allocate_100k();
    let entries: Vec<Restored> = done
        .assignments()
        .into_iter()
        .enumerate()
        .map(|(i, (key, addrs))| Restored {
            key,
            created: i as u64,
            addresses: addrs.keys().copied().collect(),
            sharing: None,
            pool: addrs.values().flatten().next().cloned(),
        })
        .collect();
    g.bench_function("restore_100k", |b| {
        b.iter_batched(
            || (pools(), entries.clone()),
            |(mut a, e)| black_box(a.restore(e)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
