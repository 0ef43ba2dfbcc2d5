//! The Kubernetes allocator's decision at 10k Services that already hold addresses in their
//! status, from an IPv6 /64 pool:
//! - `take_over` (`ferrolb::watch::allocator::decide::take_over`) over them plus one new
//!   Service: what the allocator runs on gaining the Lease or after a relist (and, before the
//!   allocator was incremental, on every change);
//! - the incremental allocator ([`Incremental`]) at the same 10k: the cost of one more Service,
//!   and of one deletion, with 5 more Services waiting for an IPv4 address from an exhausted
//!   pool (a deletion serves the waiting ones again).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ferrolb::watch::allocator::decide::{take_over, NamespaceLabels};
use ferrolb::watch::allocator::incremental::Incremental;
use ferrolb::watch::crds::IPAddressPool;
use ferrolb::watch::service::ServiceRecord;
use k8s_openapi::api::core::v1::{Node, Service};

fn service(i: usize, status: bool) -> ServiceRecord {
    let ingress = if status {
        format!(
            "\nstatus: {{loadBalancer: {{ingress: [{{ip: \"2001:db8:100::{:x}\"}}]}}}}",
            i
        )
    } else {
        String::new()
    };
    let whole: Service = ferrolb::yaml::from_str(&format!(
        "metadata: {{name: svc-{i}, namespace: ns-{}, creationTimestamp: \"2026-01-01T00:00:00Z\"}}\nspec: {{type: LoadBalancer, ipFamilies: [IPv6]}}{ingress}",
        i % 50
    ))
    .expect("bench service");
    ServiceRecord::of(&whole)
}

/// A Service waiting for an IPv4 address from the exhausted pool `tight`.
fn waiting(i: usize) -> ServiceRecord {
    let whole: Service = ferrolb::yaml::from_str(&format!(
        "metadata: {{name: wait-{i}, namespace: ns-0, creationTimestamp: \"2026-01-01T00:00:00Z\", annotations: {{ferrolb.io/address-pool: tight}}}}\nspec: {{type: LoadBalancer, ipFamilies: [IPv4]}}"
    ))
    .expect("bench service");
    ServiceRecord::of(&whole)
}

fn pool(yaml: &str) -> IPAddressPool {
    ferrolb::yaml::from_str(yaml).expect("bench pool")
}

fn bench(c: &mut Criterion) {
    let pools = vec![pool(
        "metadata: {name: v6, namespace: ferrolb-system}\nspec: {addresses: [\"2001:db8:100::/64\"]}",
    )];
    // Shared records, as the mirror hands them over (take_over clones only the `Arc`s).
    let mut services: Vec<Arc<ServiceRecord>> =
        (0..10_000).map(|i| Arc::new(service(i, true))).collect();
    services.push(Arc::new(service(10_000, false)));
    let namespaces = NamespaceLabels::new();
    let mut g = c.benchmark_group("kubernetes");
    g.sample_size(10);
    g.bench_function("take_over_10k_held_plus_1_new", |b| {
        b.iter(|| black_box(take_over(&pools, &[], &namespaces, &services, "")))
    });

    // The incremental allocator, taken over at 10k held (plus 5 waiting: the pool `tight`
    // has no address left).
    let mut with_tight = pools.clone();
    with_tight.push(pool(
        "metadata: {name: tight, namespace: ferrolb-system}\nspec: {addresses: [\"198.51.100.1-198.51.100.1\"], autoAssign: false}",
    ));
    let mut held: Vec<Arc<ServiceRecord>> =
        (0..10_000).map(|i| Arc::new(service(i, true))).collect();
    held.extend((0..6).map(|i| Arc::new(waiting(i))));
    let mut inc = Incremental::start(
        &with_tight,
        &[] as &[Node],
        NamespaceLabels::new(),
        &held,
        "",
    );
    let new = Arc::new(service(10_000, false));
    g.sample_size(50);
    g.bench_function("incremental_10k_one_more_service", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                black_box(inc.upsert(new.clone()));
                spent += t.elapsed();
                inc.delete("ns-0/svc-10000");
            }
            spent
        })
    });
    let gone = Arc::new(service(4_321, true));
    g.bench_function("incremental_10k_one_deletion", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                black_box(inc.delete("ns-21/svc-4321"));
                spent += t.elapsed();
                inc.upsert(gone.clone());
            }
            spent
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
