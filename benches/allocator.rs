//! Allocator benchmarks: 100k allocations from mixed IPv4 ranges plus an IPv6 /64, a restore
//! of 100k assignments, and the standalone shape of issue 18 (100k services, one IPv4 address
//! each from one /15): claim, clone (a reload's copy), release one by one and all at once. Before the timings
//! it prints the allocator's heap bytes per service, counted by a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, BatchSize, Criterion};
use ferrolb::allocator::{Allocator, Fam, Pool, Range, Request, Restored};

/// The system allocator, counting the bytes live (as requested, without malloc's own overhead).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
            a.allocate(&Request::simple(key.as_str(), i, fam))
                .expect("allocate"),
        );
    }
    a
}

/// One /15 pool (RFC 2544 benchmark range), as bench.sh configures standalone.
fn one_v4_pool() -> Allocator {
    let mut a = Allocator::new(Vec::new());
    let range = Range::new(ip("198.18.0.0"), ip("198.19.255.255")).expect("range");
    a.add_pool(Pool::new("bench", vec![range])).expect("pool");
    a
}

const STANDALONE: u64 = 100_000;

/// `STANDALONE` services named `svc-N`, one IPv4 address each from the /15.
fn claim_standalone() -> Allocator {
    let mut a = one_v4_pool();
    for i in 0..STANDALONE {
        let req = Request::simple(format!("svc-{i}"), i, Fam::V4);
        black_box(a.allocate(&req).expect("allocate"));
    }
    a
}

/// Prints the heap the allocator holds per service, and what a clone of it adds.
fn heap_per_service() {
    let empty = one_v4_pool();
    let before = LIVE.load(Ordering::Relaxed);
    let a = claim_standalone();
    let held = LIVE.load(Ordering::Relaxed) - before;
    let copy = a.clone();
    let cloned = LIVE.load(Ordering::Relaxed) - before - held;
    println!(
        "allocator heap, {STANDALONE} services with one IPv4 address each: {held} bytes, {:.1} per service; a clone adds {cloned} bytes",
        held as f64 / STANDALONE as f64
    );
    drop((copy, a, empty));
}

fn standalone(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator_standalone_100k");
    g.sample_size(10);
    g.bench_function("claim_100k_one_v4_pool", |b| b.iter(claim_standalone));
    let full = claim_standalone();
    g.bench_function("clone_100k", |b| b.iter(|| black_box(full.clone())));
    let keys: Vec<String> = (0..STANDALONE).map(|i| format!("svc-{i}")).collect();
    g.bench_function("release_100k_one_by_one", |b| {
        b.iter_batched(
            || full.clone(),
            |mut a| {
                keys.iter().for_each(|k| a.release(k));
                a
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("release_many_100k", |b| {
        b.iter_batched(
            || full.clone(),
            |mut a| {
                a.release_many(keys.iter().map(String::as_str));
                a
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
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
            key: key.into(),
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

criterion_group!(benches, bench, standalone);

fn main() {
    heap_per_service();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
