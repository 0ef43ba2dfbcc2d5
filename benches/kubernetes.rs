//! The Kubernetes allocator's decision (`ferrolb::watch::allocator::decide::take_over`): the allocator
//! runs it over the whole mirrored state on every change, so its cost is the cost of one
//! reconciliation. 10k Services that already hold addresses in their status (a restart, or any
//! later change) plus one new Service, from an IPv6 /64 pool.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ferrolb::watch::allocator::decide::{take_over, NamespaceLabels};
use ferrolb::watch::crds::IPAddressPool;
use k8s_openapi::api::core::v1::Service;

fn service(i: usize, status: bool) -> Service {
    let ingress = if status {
        format!(
            "\nstatus: {{loadBalancer: {{ingress: [{{ip: \"2001:db8:100::{:x}\"}}]}}}}",
            i
        )
    } else {
        String::new()
    };
    ferrolb::yaml::from_str(&format!(
        "metadata: {{name: svc-{i}, namespace: ns-{}, creationTimestamp: \"2026-01-01T00:00:00Z\"}}\nspec: {{type: LoadBalancer, ipFamilies: [IPv6]}}{ingress}",
        i % 50
    ))
    .expect("bench service")
}

fn bench(c: &mut Criterion) {
    let pools: Vec<IPAddressPool> = vec![ferrolb::yaml::from_str(
        "metadata: {name: v6, namespace: ferrolb-system}\nspec: {addresses: [\"2001:db8:100::/64\"]}",
    )
    .expect("bench pool")];
    let mut services: Vec<Service> = (0..10_000).map(|i| service(i, true)).collect();
    services.push(service(10_000, false));
    let namespaces = NamespaceLabels::new();
    let mut g = c.benchmark_group("kubernetes");
    g.sample_size(10);
    g.bench_function("take_over_10k_held_plus_1_new", |b| {
        b.iter(|| black_box(take_over(&pools, &[], &namespaces, &services, "")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
