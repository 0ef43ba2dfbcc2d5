//! A protocol-faithful Kubernetes API server that runs inside a test process: HTTPS with its
//! own CA and a bearer token, a generic JSON object store with a global resourceVersion, lists
//! with label and field selectors, watches (history replay, bookmarks, streaming lists, 410
//! Expired after `compact()`), the status subresource, create/replace/patch (merge, JSON,
//! strategic, server-side apply), dry runs, delete with preconditions, finalizers and
//! ownerReference garbage collection, Service defaults, discovery and a minimal `/openapi/v2`.
//!
//! Clients reach it through the kubeconfig it writes, so the code under test cannot tell it
//! from a real cluster (kube-rs and kubectl 1.20 both work against it).
//!
//! Behaviour a test may rely on, as on a real cluster:
//! - namespaced objects are only created in an existing namespace; `default`, `kube-system`,
//!   `kube-public` and `kube-node-lease` exist from the start;
//! - creating a Service (or a custom resource, or a workload) drops its `.status`; Nodes and
//!   Pods keep theirs. `insert()` stores an object as given, to set up state such as a Service
//!   whose status was written before a daemon restart;
//! - PUT/PATCH on the main resource never change `.status`; on `/status` only `.status` changes;
//! - a write that changes nothing gets no new resourceVersion and no watch event.
//!
//! Simplified (each is said again where it is done):
//! - lists page with `limit`/`continue`, but a continued page reads the current state, not a
//!   snapshot; `resourceVersion`/`resourceVersionMatch` are ignored (always the current
//!   state); a watch from a resourceVersion newer than the server's is not delayed;
//! - server-side apply merges without field ownership (no conflicts; fields a manager drops are
//!   kept); `managedFields` only record manager, operation, time and subresource (`patch.rs`);
//! - strategic merge patch follows the patch's own directives (`strategic.rs`);
//! - Foreground deletion behaves like Background; deletes return the object (200, or 202 while
//!   finalizers hold it) rather than a `Status` for the kinds where the real server does that;
//! - one token, no RBAC, no admission, no schema validation (only the shape of metadata);
//!   HTTP/1.1 only; bookmarks come every second of idleness; discovery is the legacy
//!   (non-aggregated) format; no Table output for `kubectl get`.

mod defaults;
mod discovery;
mod http;
mod ids;
mod openapi;
mod patch;
mod route;
mod select;
mod status;
mod store;
mod strategic;
mod watch;

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use self::http::Shared;
use self::route::Route;
use self::store::Store;
use self::watch::lock;

pub use self::ids::now_rfc3339;

pub struct ApiServer {
    shared: Arc<Shared>,
    ip: std::net::IpAddr,
    port: u16,
    ca_pem: String,
    acceptor: TlsAcceptor,
    accept_task: Mutex<Option<JoinHandle<()>>>,
    /// The server's own runtime, so it keeps serving while a test blocks its thread (e.g. in
    /// `std::thread::sleep` while waiting for a daemon), whatever runtime flavour the test uses.
    runtime: Option<tokio::runtime::Runtime>,
}

impl ApiServer {
    /// Starts serving on 127.0.0.1 on a free port.
    pub async fn start() -> ApiServer {
        ApiServer::start_on(std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// Starts serving on `ip`, an address of the calling thread's network namespace (the
    /// listening socket is made here, so it lives there), on a free port; the serving
    /// certificate names `ip`.
    pub async fn start_on(ip: std::net::IpAddr) -> ApiServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-apiserver")
            .enable_all()
            .build()
            .expect("the API server's runtime");
        let std_listener =
            std::net::TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let port = std_listener.local_addr().expect("local address").port();
        let (ca_pem, config) = tls_config(ip);
        let mut store = Store::new();
        let namespaces = discovery::resources(&[])
            .into_iter()
            .find(|r| r.plural == "namespaces")
            .expect("namespaces are built in");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"metadata": {"name": ns}, "status": {"phase": "Active"}});
            store
                .create(&namespaces, "", obj)
                .expect("a fresh store takes a namespace");
        }
        let server = ApiServer {
            shared: Arc::new(Shared {
                store: Arc::new(Mutex::new(store)),
                token: ids::token(),
                port,
                log: Mutex::new(Vec::new()),
                tasks: Mutex::new(Vec::new()),
            }),
            ip,
            port,
            ca_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            accept_task: Mutex::new(None),
            runtime: Some(runtime),
        };
        server.serve(std_listener);
        server
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("running").handle()
    }

    /// Accepts connections on the server's runtime.
    fn serve(&self, listener: std::net::TcpListener) {
        let (shared, acceptor) = (self.shared.clone(), self.acceptor.clone());
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let _runtime = self.handle().enter();
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let task = self.handle().spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let conn = tokio::spawn(serve_connection(tcp, acceptor.clone(), shared.clone()));
                let mut tasks = shared.tasks.lock().unwrap_or_else(|p| p.into_inner());
                tasks.retain(|t| !t.is_finished());
                tasks.push(conn);
            }
        });
        *self.accept_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    pub fn url(&self) -> String {
        format!("https://{}", std::net::SocketAddr::new(self.ip, self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The kubeconfig a separate process uses (`KUBECONFIG=path`).
    pub fn kubeconfig_yaml(&self) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: ferrolb-test\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: ferrolb-test\n  user:\n    token: {}\ncontexts:\n- name: ferrolb-test\n  context:\n    cluster: ferrolb-test\n    user: ferrolb-test\n    namespace: default\ncurrent-context: ferrolb-test\n",
            self.url(),
            self.shared.token
        )
    }

    pub fn kubeconfig(&self, path: &Path) {
        std::fs::write(path, self.kubeconfig_yaml())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// A kube client configured from the kubeconfig, as the daemon configures its own.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml())
            .expect("our kubeconfig parses");
        let options = kube::config::KubeConfigOptions::default();
        let config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .expect("kube accepts our kubeconfig");
        kube::Client::try_from(config).expect("kube client")
    }

    /// Stops accepting and cuts every open connection, watch streams included.
    pub async fn stop(&self) {
        let accept = self
            .accept_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = accept {
            task.abort();
            let _ = task.await;
        }
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.shared.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Listens again on the same port, with the same store, certificate and token.
    pub async fn restart(&self) {
        let addr = std::net::SocketAddr::new(self.ip, self.port);
        let mut tries = 0;
        let listener = loop {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on {addr} again: {e}"),
            }
        };
        self.serve(listener);
    }

    /// Drops the watch history: resuming from any resourceVersion older than now gets 410.
    pub fn compact(&self) {
        lock(&self.shared.store).compact();
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).rv()
    }

    /// Every request seen, as "METHOD path?query".
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many requests were seen so far (a mark for [`ApiServer::request_counts`]).
    pub fn request_count(&self) -> usize {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The requests seen after the first `since`, counted by "VERB resource" (`resource` is
    /// the plural, with `/status` for the status subresource; a watching GET is "WATCH").
    /// Paths that name no resource (discovery) count under their path.
    pub fn request_counts(&self, since: usize) -> std::collections::BTreeMap<String, usize> {
        let known = discovery::resources(&lock(&self.shared.store).crds());
        let log = self.shared.log.lock().unwrap_or_else(|p| p.into_inner());
        let mut counts = std::collections::BTreeMap::new();
        for line in log.iter().skip(since) {
            let (method, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            let watching = query
                .split('&')
                .any(|kv| kv == "watch=true" || kv == "watch=1");
            let verb = if method == "GET" && watching {
                "WATCH"
            } else {
                method
            };
            let what = match route::parse(path, &known) {
                Ok(Route::Objects(t)) if t.status => format!("{}/status", t.resource.plural),
                Ok(Route::Objects(t)) => t.resource.plural.clone(),
                _ => path.to_string(),
            };
            *counts.entry(format!("{verb} {what}")).or_insert(0) += 1;
        }
        counts
    }

    /// How many stored objects of the resource at a collection path (such as
    /// `/api/v1/services`) satisfy `pred`; reads the store, sends no request.
    pub fn count_objects(&self, path: &str, pred: impl Fn(&Value) -> bool) -> usize {
        let Some(r) = self.resource_at(path) else {
            return 0;
        };
        let store = lock(&self.shared.store);
        store.objects(&r.store_key()).filter(|o| pred(o)).count()
    }

    /// The stored object at an API path such as `/api/v1/namespaces/default/services/web`.
    pub fn object(&self, path: &str) -> Option<Value> {
        let (key, ns, name) = self.locate(path)?;
        lock(&self.shared.store).get(&key, &ns, &name).cloned()
    }

    /// Stores an object at an API path directly, bypassing the API's rules (status is kept, no
    /// namespace check), but with a new resourceVersion and a watch event like any write.
    /// Missing uid, creationTimestamp, generation, name, namespace, apiVersion and kind are
    /// filled in.
    pub fn insert(&self, path: &str, obj: Value) {
        self.insert_with(path, obj, true);
    }

    /// [`ApiServer::insert`] without the garbage collector's pass over every stored object,
    /// for set-ups of thousands of objects: their ownerReferences must name live owners.
    pub fn insert_uncollected(&self, path: &str, obj: Value) {
        self.insert_with(path, obj, false);
    }

    fn insert_with(&self, path: &str, mut obj: Value, collect: bool) {
        let (key, ns, name) = self
            .locate(path)
            .unwrap_or_else(|| panic!("no object path: {path}"));
        let r = self
            .resource_at(path)
            .unwrap_or_else(|| panic!("no resource at {path}"));
        let mut store = lock(&self.shared.store);
        let old = store.get(&key, &ns, &name).cloned();
        let meta = &mut obj["metadata"];
        meta["name"] = json!(name);
        if r.namespaced {
            meta["namespace"] = json!(ns);
        }
        for (field, default) in [
            ("uid", json!(ids::uid())),
            ("creationTimestamp", json!(now_rfc3339())),
            ("generation", json!(1)),
        ] {
            if meta.get(field).is_none() {
                meta[field] = old
                    .as_ref()
                    .map(|o| o["metadata"][field].clone())
                    .unwrap_or(default);
            }
        }
        if obj.get("apiVersion").is_none() {
            obj["apiVersion"] = json!(r.api_version());
        }
        if obj.get("kind").is_none() {
            obj["kind"] = json!(r.kind);
        }
        if collect {
            store.put_raw(&key, &ns, &name, Some(obj));
        } else {
            store.put_raw_uncollected(&key, &ns, &name, Some(obj));
        }
    }

    /// Removes the object at an API path directly (ignoring finalizers); dependents are
    /// garbage-collected. Returns whether it existed.
    pub fn remove(&self, path: &str) -> bool {
        let Some((key, ns, name)) = self.locate(path) else {
            return false;
        };
        let mut store = lock(&self.shared.store);
        let existed = store.get(&key, &ns, &name).is_some();
        store.put_raw(&key, &ns, &name, None);
        existed
    }

    fn resource_at(&self, path: &str) -> Option<discovery::Resource> {
        let known = discovery::resources(&lock(&self.shared.store).crds());
        match route::parse(path, &known) {
            Ok(Route::Objects(t)) => Some(t.resource),
            _ => None,
        }
    }

    fn locate(&self, path: &str) -> Option<(String, String, String)> {
        let known = discovery::resources(&lock(&self.shared.store).crds());
        match route::parse(path, &known) {
            Ok(Route::Objects(t)) => Some((
                t.resource.store_key(),
                t.namespace.unwrap_or_default(),
                t.name?,
            )),
            _ => None,
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(t) = self
            .accept_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            t.abort();
        }
        for t in self
            .shared
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn serve_connection(tcp: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let service = hyper::service::service_fn(move |req| http::handle(shared.clone(), req));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// A fresh CA and a serving certificate for 127.0.0.1 and localhost signed by it; returns the
/// CA's PEM (for the kubeconfig) and the rustls config (ring, like kube; ALPN http/1.1).
fn tls_config(ip: std::net::IpAddr) -> (String, rustls::ServerConfig) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ferrolb test cluster CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let leaf_key = KeyPair::generate().expect("serving key");
    let mut leaf_params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        ip.to_string(),
    ])
    .expect("serving params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .expect("serving certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .expect("serving certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), config)
}
