use super::*;

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    crate::yaml::from_str(text).expect("test object")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn local() -> LocalSpec {
    LocalSpec {
        asn: 64512,
        router_id: "192.0.2.10".parse().expect("id"),
        addresses: Vec::new(),
        graceful_restart_time: 120,
    }
}

fn peer_obj(name: &str, body: &str) -> BGPPeer {
    yaml(&format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: BGPPeer\nmetadata: {{name: {name}, namespace: ferrolb-system}}\nspec:\n{body}"
    ))
}

#[test]
fn peers_are_picked_by_node_selector_and_bad_ones_refused_by_name() {
    let list = vec![
        peer_obj("tor1", "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 192.0.2.1\n  holdTime: 9s"),
        peer_obj(
            "rack2",
            "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 192.0.2.5\n  nodeSelectors: [{matchLabels: {rack: r2}}]",
        ),
        peer_obj("other-asn", "  myASN: 64999\n  peerASN: 64500\n  peerAddress: 192.0.2.6"),
        peer_obj("bad-hold", "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 192.0.2.7\n  holdTime: 2s"),
    ];
    let (run, refused) = peers(
        &list,
        &labels(&[("rack", "r1")]),
        &local(),
        &Passwords::default(),
        &BfdProfiles::new(),
    );
    let names: Vec<&str> = run.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["tor1"]);
    assert_eq!(run[0].hold_time, 9);
    assert_eq!(run[0].keepalive_time, 3);
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused[0].to_string().contains("`other-asn`")
            && refused[0].message.contains("myASN: 64999")
    );
    assert!(
        refused[1].to_string().contains("`bad-hold`") && refused[1].message.contains("holdTime")
    );
    let (run, _) = peers(
        &list,
        &labels(&[("rack", "r2")]),
        &local(),
        &Passwords::default(),
        &BfdProfiles::new(),
    );
    assert_eq!(run.len(), 2);
}

#[test]
fn a_password_comes_from_a_secret_in_the_configuration_namespace() {
    let base = "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 192.0.2.1";
    let list = vec![
        peer_obj(
            "ok",
            &format!("{base}\n  passwordSecret: {{name: tor-md5}}"),
        ),
        peer_obj(
            "elsewhere",
            &format!("{base}9\n  passwordSecret: {{name: tor-md5, namespace: default}}"),
        ),
        peer_obj(
            "missing",
            &format!("{base}8\n  passwordSecret: {{name: nope}}"),
        ),
    ];
    let passwords = Passwords {
        namespace: "ferrolb-system".into(),
        by_secret: BTreeMap::from([("tor-md5".to_string(), "s3cret".to_string())]),
    };
    let (run, refused) = peers(
        &list,
        &labels(&[]),
        &local(),
        &passwords,
        &BfdProfiles::new(),
    );
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].password.as_deref(), Some("s3cret"));
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].name == "elsewhere" && refused[0].message.contains("ferrolb-system"));
    assert!(refused[1].name == "missing" && refused[1].message.contains("no Secret `nope`"));
}

fn pool(name: &str, addrs: &str, lbls: &str) -> IPAddressPool {
    yaml(&format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {{name: {name}, labels: {{{lbls}}}}}\nspec: {{addresses: [{addrs}]}}"
    ))
}

fn ad(name: &str, spec: &str) -> BGPAdvertisement {
    yaml(&format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: BGPAdvertisement\nmetadata: {{name: {name}}}\nspec: {spec}"
    ))
}

fn svc(name: &str, ips: &[&str], local: bool) -> Arc<ServiceRecord> {
    let ingress: Vec<String> = ips.iter().map(|i| format!("{{ip: \"{i}\"}}")).collect();
    let whole: k8s_openapi::api::core::v1::Service = yaml(&format!(
        "metadata: {{name: {name}, namespace: default}}\nspec: {{type: LoadBalancer, externalTrafficPolicy: {}}}\nstatus: {{loadBalancer: {{ingress: [{}]}}}}",
        if local { "Local" } else { "Cluster" },
        ingress.join(",")
    ));
    Arc::new(ServiceRecord::of(&whole))
}

fn slice(service: &str, node: &str, ready: Option<bool>) -> Arc<ReadySlice> {
    let cond = match ready {
        Some(r) => format!(", conditions: {{ready: {r}}}"),
        None => String::new(),
    };
    let whole: k8s_openapi::api::discovery::v1::EndpointSlice = yaml(&format!(
        "metadata: {{name: {service}-abc, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\naddressType: IPv4\nendpoints: [{{addresses: [10.0.0.1], nodeName: {node}{cond}}}]"
    ));
    Arc::new(crate::watch::mirror::compact::Record::of(&whole))
}

#[test]
fn only_advertised_pools_are_announced_and_local_needs_a_ready_endpoint_here() {
    let pools = vec![
        pool("public", "198.51.100.0/24", "tier: public"),
        pool("internal", "203.0.113.0/24", "tier: internal"),
    ];
    let (none, _) = advertisements(&[], &pools, &labels(&[]));
    let services = vec![
        svc("web", &["198.51.100.1"], false),
        svc("db", &["203.0.113.1"], false),
        svc("local", &["198.51.100.2"], true),
        svc("outside", &["192.0.2.99"], false),
    ];
    assert!(
        announcements(&services, &[], &pools, &none, "node-a", "")
            .wanted
            .is_empty(),
        "no BGPAdvertisement, nothing announced"
    );
    let by_selector = vec![ad(
        "pub",
        "{ipAddressPoolSelectors: [{matchLabels: {tier: public}}], communities: [\"64500:1\", bogus]}",
    )];
    let (ads, problems) = advertisements(&by_selector, &pools, &labels(&[]));
    assert_eq!(ads[0].pools, ["public"]);
    assert_eq!(ads[0].communities.len(), 1);
    assert!(problems[0].message.contains("bogus") && problems[0].kind == "BGPAdvertisement");
    let slices = vec![
        slice("local", "node-b", None),
        slice("local", "node-a", Some(false)),
    ];
    let got = announcements(&services, &slices, &pools, &ads, "node-a", "").wanted;
    assert_eq!(
        got.keys().map(|k| &**k).collect::<Vec<_>>(),
        ["default/web"]
    );
    let got = announcements(&services, &slices, &pools, &ads, "node-b", "").wanted;
    assert_eq!(
        got.keys().map(|k| &**k).collect::<Vec<_>>(),
        ["default/local", "default/web"]
    );
    assert_eq!(
        got["default/local"][..],
        [Assigned {
            address: "198.51.100.2".parse().expect("ip"),
            pool: Some("public".into())
        }]
    );
    let why = announcements(&services, &slices, &pools, &ads, "node-a", "").not;
    assert!(
        why["default/local"].contains("no ready endpoint"),
        "{why:?}"
    );
    assert!(why["default/db"].contains("selects its pool"), "{why:?}");
    let (all, _) = advertisements(&[ad("all", "{}")], &pools, &labels(&[]));
    let got = announcements(&services, &[], &pools, &all, "node-a", "").wanted;
    assert_eq!(
        got.keys().map(|k| &**k).collect::<Vec<_>>(),
        ["default/db", "default/web"]
    );
}

#[test]
fn advertisements_respect_node_selectors() {
    let pools = vec![pool("public", "198.51.100.0/24", "")];
    let ads = vec![ad(
        "r2",
        "{nodeSelectors: [{matchLabels: {rack: r2}}], aggregationLength: 24}",
    )];
    assert!(advertisements(&ads, &pools, &labels(&[("rack", "r1")]))
        .0
        .is_empty());
    let (got, _) = advertisements(&ads, &pools, &labels(&[("rack", "r2")]));
    assert_eq!(got[0].aggregation_length, Some(24));
}

#[test]
fn a_peer_runs_its_bfd_profile_and_a_missing_or_echo_profile_refuses_it() {
    let profile = |name: &str, spec: &str| -> BFDProfile {
        yaml(&format!("apiVersion: ferrolb.io/v1alpha1\nkind: BFDProfile\nmetadata: {{name: {name}}}\nspec: {spec}"))
    };
    let (profiles, refused) = bfd_profiles(&[
        profile(
            "fast",
            "{receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}",
        ),
        profile("echo", "{echoMode: true}"),
    ]);
    assert_eq!(profiles.keys().collect::<Vec<_>>(), ["fast"]);
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]
            .to_string()
            .starts_with("BFDProfile `echo`: echoMode: echo mode is not supported"),
        "{}",
        refused[0]
    );
    let peer = |name: &str, addr: &str, bfd: &str| {
        peer_obj(
            name,
            &format!(
                "  myASN: 64512\n  peerASN: 64500\n  peerAddress: {addr}\n  bfdProfile: {bfd}\n"
            ),
        )
    };
    let list = [
        peer("a", "192.0.2.1", "fast"),
        peer("b", "192.0.2.2", "echo"),
        peer("c", "192.0.2.3", "nope"),
    ];
    let (run, refused) = peers(
        &list,
        &labels(&[]),
        &local(),
        &Passwords::default(),
        &profiles,
    );
    assert_eq!(run.len(), 1);
    let bfd = run[0].bfd.as_ref().expect("a runs BFD");
    assert_eq!(
        (
            bfd.receive_interval,
            bfd.transmit_interval,
            bfd.detect_multiplier
        ),
        (100, 100, 3)
    );
    let why: Vec<String> = refused.iter().map(ToString::to_string).collect();
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(
        why[0].starts_with("BGPPeer `b`: bfdProfile: no BFD profile named `echo`"),
        "{why:?}"
    );
    assert!(
        why[1].starts_with("BGPPeer `c`: bfdProfile: no BFD profile named `nope` (known: fast)"),
        "{why:?}"
    );
}

fn l2ad(name: &str, spec: &str) -> L2Advertisement {
    yaml(&format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: L2Advertisement\nmetadata: {{name: {name}}}\nspec: {spec}"
    ))
}

#[test]
fn l2advertisements_select_pools_and_nodes_and_apply_beside_bgp_ones() {
    let pools = vec![
        pool("lan", "192.0.2.0/24", "tier: lan"),
        pool("public", "198.51.100.0/24", "tier: public"),
    ];
    let l2 = vec![
        l2ad(
            "by-selector",
            "{ipAddressPoolSelectors: [{matchLabels: {tier: lan}}], interfaces: [eth0]}",
        ),
        l2ad(
            "rack2-only",
            "{ipAddressPools: [public], nodeSelectors: [{matchLabels: {rack: r2}}]}",
        ),
    ];
    let (ads, problems) = l2_advertisements(&l2, &pools, &labels(&[("rack", "r1")]));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(ads.len(), 1, "rack2-only does not select this node");
    assert_eq!(ads[0].mode, crate::model::Mode::L2);
    assert_eq!(ads[0].pools, ["lan"]);
    assert_eq!(ads[0].interfaces, ["eth0"]);
    let (ads, _) = l2_advertisements(&l2, &pools, &labels(&[("rack", "r2")]));
    assert_eq!(ads.len(), 2);
    assert!(ads[1].interfaces.is_empty() && ads[1].pools == ["public"]);

    // A BGP and an L2 advertisement of the same pool: the service goes to both sinks.
    let bgp = vec![ad("pub", "{ipAddressPools: [public]}")];
    let services = vec![svc("web", &["198.51.100.1"], false)];
    let inputs = Inputs {
        peers: &[],
        advertisements: &bgp,
        l2_advertisements: &l2,
        pools: &pools,
        services: &services,
        slices: &[],
        labels: &labels(&[("rack", "r2")]),
        passwords: &Passwords::default(),
        bfd_profiles: &[],
        node: "node-a",
        class: "",
    };
    let (desired, found, _) = desired(&inputs, &local());
    assert!(
        found.wanted.is_empty(),
        "what is announced is only in desired.services"
    );
    let wanted = desired.services.clone();
    assert!(wanted.contains_key("default/web"));
    let mut a = crate::announce::Announcer::new();
    a.apply(desired);
    let owned = a
        .l2()
        .get(crate::announce::l2::ANY_INTERFACE)
        .cloned()
        .unwrap_or_default();
    assert!(
        owned.contains(&"198.51.100.1".parse().expect("ip")),
        "{:?}",
        a.l2()
    );
    assert_eq!(
        a.mode_of(&wanted["default/web"]),
        crate::model::Mode::Bgp,
        "BGP and L2 both: BGP routes are made too"
    );
}
