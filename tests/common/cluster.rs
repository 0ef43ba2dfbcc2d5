//! A test cluster: the in-process API server (`apiserver.rs`) with ferrolb's CRDs installed and
//! the `ferrolb-system` namespace created, and ferrolb processes in Kubernetes mode pointed at
//! it through a kubeconfig file, exactly as a real deployment would be.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::apiserver::ApiServer;
use super::{spawn_logged, Proc};

pub const NS: &str = "ferrolb-system";

pub struct Cluster {
    pub api: ApiServer,
    pub client: kube::Client,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

/// Polls `f` every 100 ms until it gives Some, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An object from YAML text (test data).
pub fn yaml<T: DeserializeOwned>(text: &str) -> T {
    ferrolb::yaml::from_str(text).unwrap_or_else(|e| panic!("test object: {e}\n{text}"))
}

impl Cluster {
    pub async fn new() -> Cluster {
        Cluster::serve(ApiServer::start().await).await
    }

    /// Sets up a cluster on a started server: CRDs from `ferrolb crds`, the namespace.
    pub async fn serve(api: ApiServer) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        api.kubeconfig(&kubeconfig);
        let client = api.client().await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in ferrolb::watch::crds::all() {
            crds.create(&PostParams::default(), &crd)
                .await
                .expect("install a CRD");
        }
        let nss: Api<Namespace> = Api::all(client.clone());
        nss.create(
            &PostParams::default(),
            &yaml(&format!("metadata: {{name: {NS}}}")),
        )
        .await
        .expect("create the ferrolb namespace");
        Cluster {
            api,
            client,
            dir,
            kubeconfig,
        }
    }

    /// Creates an object (namespaced kinds in the object's namespace).
    pub async fn create<K>(&self, obj: K) -> K
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let ns = obj
            .meta()
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<K> = Api::namespaced(self.client.clone(), &ns);
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {obj:?}: {e}"))
    }

    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// A LoadBalancer Service in `default` (extra spec/metadata YAML lines may be given).
    pub async fn service(&self, name: &str, spec_extra: &str, annotations: &str) -> Service {
        self.create(yaml::<Service>(&format!(
            "metadata: {{name: {name}, namespace: default, annotations: {{{annotations}}}}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\n{spec_extra}"
        )))
        .await
    }

    pub async fn delete_service(&self, name: &str) {
        self.services()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete {name}: {e}"));
    }

    /// Every Service in `default` with its status addresses.
    pub async fn addresses(&self) -> BTreeMap<String, Vec<IpAddr>> {
        let list = self
            .services()
            .list(&ListParams::default())
            .await
            .expect("list services");
        list.items
            .into_iter()
            .map(|s| {
                let name = s.metadata.name.clone().unwrap_or_default();
                let ips = ferrolb::watch::service::ServiceRecord::of(&s)
                    .ingress
                    .to_vec();
                (name, ips)
            })
            .collect()
    }

    /// Waits for the Service `name` in `default` to get an address; returns the first one.
    pub async fn address_of(&self, name: &str) -> IpAddr {
        eventually(
            &format!("{name} to get an address"),
            Duration::from_secs(60),
            || async {
                self.addresses()
                    .await
                    .get(name)
                    .and_then(|a| a.first().copied())
            },
        )
        .await
    }

    /// Events (`events.k8s.io/v1`, what kube's Recorder writes) in `ns` as (regarding object
    /// name, reason, note).
    pub async fn events(&self, ns: &str) -> Vec<(String, String, String)> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        api.list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .map(|e| {
                (
                    e.regarding.and_then(|r| r.name).unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The holder of the allocator Lease.
    pub fn lease_holder(&self) -> Option<String> {
        let lease = self.api.object(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/ferrolb-allocator"
        ))?;
        lease["spec"]["holderIdentity"].as_str().map(str::to_string)
    }

    /// Starts ferrolb in Kubernetes mode as node `name` (inside `netns` when given), with a
    /// lease of `lease` seconds; `bgp` is the `[bgp]` table body and `node_extra` extra lines
    /// for `[node]`. Returns the process and its HTTP port.
    pub fn node(
        &self,
        name: &str,
        netns: Option<&str>,
        lease: u32,
        node_extra: &str,
        bgp: &str,
    ) -> (Proc, u16) {
        let port = free_port();
        let node_extra = if node_extra.contains("router_id") {
            node_extra.to_string()
        } else {
            format!("router_id = \"192.0.2.250\"\n{node_extra}")
        };
        let config = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[node]\nname = \"{name}\"\nasn = 64512\n{node_extra}\n\n[bgp]\n{bgp}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n[kubernetes]\nnamespace = \"{NS}\"\nkubeconfig = \"{}\"\nlease_duration = {lease}\n",
                self.kubeconfig.display()
            ),
        )
        .expect("write node.toml");
        let bin = env!("CARGO_BIN_EXE_ferrolb");
        let cfg = config.to_str().expect("utf8 path");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(["run", "--config", cfg])
            .env("RUST_LOG", "info,kube=warn");
        let log = self.dir.path().join(format!("{name}.log"));
        (spawn_logged(cmd, &format!("ferrolb {name}"), log), port)
    }
}

/// A port nobody listens on right now (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET /readyz` of a node: Some(true) ready, Some(false) not ready, None not answering.
pub fn ready(port: u16) -> Option<bool> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out.starts_with("HTTP/1.1 200"))
}

/// SIGTERM and wait for the exit code (None: still running after 20 s).
pub async fn terminate(p: &mut Proc) -> Option<i32> {
    p.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = p.child.try_wait() {
            return status.code();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// JSON for an IPAddressPool in the ferrolb namespace.
pub fn pool(name: &str, addresses: &[&str]) -> ferrolb::watch::crds::IPAddressPool {
    serde_json::from_value(json!({
        "apiVersion": "ferrolb.io/v1alpha1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": addresses},
    }))
    .expect("pool")
}

/// Moves the calling thread into network namespace `ns` (setns(2) on `/var/run/netns/NS`).
pub fn enter(ns: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("open the namespace");
    // SAFETY: setns on a valid namespace fd; it changes only the calling thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// Runs `f` with this thread and every runtime thread in the lab's router namespace (where the
/// lab tests serve the API server, on the router's lab address).
pub fn in_router_ns(lab: &super::Lab, f: impl Future<Output = ()>) {
    let router_ns = lab.router_ns.clone();
    enter(&router_ns);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || enter(&router_ns))
        .build()
        .expect("runtime");
    rt.block_on(f);
}
