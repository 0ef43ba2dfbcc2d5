//! Integration-test harness: network namespaces joined by veth pairs, real routers (BIRD, FRR
//! bgpd, GoBGP) and ferrolb started inside them, and parsers for what the routers learned.
//! Everything a `Lab` makes is removed in `Drop`, also when a test fails. Processes are stopped by
//! pid; only processes the lab started are touched.

#![allow(dead_code)]

pub mod apiserver;
pub mod bfd;
pub mod cluster;
pub mod l2;
pub mod routed;
pub mod routers;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs a command, failing the test with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails the test when a router binary is missing (never skips).
pub fn require(binary: &str) {
    let found = Path::new(binary).exists()
        || Command::new("sh")
            .args(["-c", &format!("command -v {binary}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    assert!(
        found,
        "{binary} is not installed: run scripts/test.sh, which installs bird2 frr gobgpd"
    );
}

/// The kubectl the tests use: `$KUBECTL` (scripts/test.sh sets it to Debian's kubectl 1.20),
/// else `kubectl` on the PATH; fails the test when there is none.
pub fn kubectl() -> String {
    let k = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    require(&k);
    k
}

/// Runs a command and returns its stdout when it succeeds.
pub fn stdout_if_ok(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits up to 20 s for a freshly started daemon to answer, failing with its log.
pub fn wait_ready(what: &str, proc: &Proc, mut answers: impl FnMut() -> bool) {
    wait_for(what, Duration::from_secs(20), &mut answers)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.log_text()));
}

/// Polls `cond` every 200 ms until it holds or `timeout` passes.
pub fn wait_for(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts `cmd` with stdout and stderr going to `log`.
pub fn spawn_logged(mut cmd: Command, name: &str, log: PathBuf) -> Proc {
    let file = std::fs::File::create(&log).expect("log file");
    let err = file.try_clone().expect("log file");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Proc {
        child,
        name: name.to_string(),
        log,
    }
}

/// A process started inside a namespace, killed by pid on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        sh(&["kill", &format!("-{sig}"), &self.pid().to_string()]);
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A router namespace and one or more node namespaces. With one node: one veth pair, `router`
/// (192.0.2.1, 2001:db8::1) and `node` (192.0.2.2, 2001:db8::2). With several: a bridge in the
/// router namespace holding the router's addresses, and node i at 192.0.2.(2+i), 2001:db8::(2+i).
pub struct Lab {
    pub router_ns: String,
    pub node_ns: String,
    pub node_nss: Vec<String>,
    pub dir: tempfile::TempDir,
}

pub const ROUTER_V4: &str = "192.0.2.1";
pub const NODE_V4: &str = "192.0.2.2";
pub const ROUTER_V6: &str = "2001:db8::1";
pub const NODE_V6: &str = "2001:db8::2";

/// The addresses of node `i` in a lab.
pub fn node_addrs(i: usize) -> (String, String) {
    (
        format!("192.0.2.{}", 2 + i),
        format!("2001:db8::{:x}", 2 + i),
    )
}

fn add_addrs(ns: &str, dev: &str, v4: &str, v6: &str) {
    sh(&[
        "ip",
        "-n",
        ns,
        "addr",
        "add",
        &format!("{v4}/24"),
        "dev",
        dev,
    ]);
    sh(&[
        "ip",
        "-n",
        ns,
        "addr",
        "add",
        &format!("{v6}/64"),
        "dev",
        dev,
        "nodad",
    ]);
    sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
}

impl Lab {
    pub fn new() -> Lab {
        Lab::with_nodes(1)
    }

    pub fn with_nodes(nodes: usize) -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}x{n}", std::process::id() % 100_000);
        let node_nss: Vec<String> = (0..nodes)
            .map(|i| {
                if i == 0 {
                    format!("flbt{tag}n")
                } else {
                    format!("flbt{tag}n{i}")
                }
            })
            .collect();
        let lab = Lab {
            router_ns: format!("flbt{tag}r"),
            node_ns: node_nss[0].clone(),
            node_nss,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for ns in std::iter::once(&lab.router_ns).chain(&lab.node_nss) {
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let router_dev = if nodes > 1 {
            sh(&[
                "ip",
                "-n",
                &lab.router_ns,
                "link",
                "add",
                "br0",
                "type",
                "bridge",
            ]);
            "br0".to_string()
        } else {
            format!("vr{tag}")
        };
        for (i, ns) in lab.node_nss.iter().enumerate() {
            let (vr, vn) = if nodes > 1 {
                (format!("vr{tag}i{i}"), format!("vn{tag}i{i}"))
            } else {
                (router_dev.clone(), format!("vn{tag}"))
            };
            sh(&[
                "ip",
                "link",
                "add",
                &vr,
                "netns",
                &lab.router_ns,
                "type",
                "veth",
                "peer",
                "name",
                &vn,
                "netns",
                ns,
            ]);
            if nodes > 1 {
                sh(&[
                    "ip",
                    "-n",
                    &lab.router_ns,
                    "link",
                    "set",
                    &vr,
                    "master",
                    "br0",
                ]);
                sh(&["ip", "-n", &lab.router_ns, "link", "set", &vr, "up"]);
            }
            let (v4, v6) = node_addrs(i);
            add_addrs(ns, &vn, &v4, &v6);
        }
        add_addrs(&lab.router_ns, &router_dev, ROUTER_V4, ROUTER_V6);
        lab
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `args` inside namespace `ns`, output to a log file in the lab dir.
    pub fn spawn(&self, ns: &str, name: &str, args: &[&str]) -> Proc {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .args(args)
            .env("RUST_LOG", "info");
        spawn_logged(cmd, name, self.path(&format!("{name}.log")))
    }

    /// Runs a command inside a namespace and returns its stdout (None when it fails).
    pub fn exec(&self, ns: &str, args: &[&str]) -> Option<String> {
        stdout_if_ok(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// Runs `ferrolb status ARGS` in `ns`: its stdout and exit code, when the daemon answered
    /// (0: every session Established, 3: one is not).
    pub fn status(&self, ns: &str, args: &[&str]) -> Option<(String, i32)> {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_ferrolb"), "status"])
            .args(args)
            .output()
            .ok()?;
        let code = out.status.code()?;
        matches!(code, 0 | 3).then(|| (String::from_utf8_lossy(&out.stdout).into_owned(), code))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in std::iter::once(&self.router_ns).chain(&self.node_nss) {
            // Any process still inside is ours: ip netns pids lists them.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The ferrolb node config used by the interop tests.
#[derive(Debug, Clone, Default)]
pub struct NodeToml {
    pub asn: u32,
    pub peer_asn: u32,
    pub passive: bool,
    pub hold_time: u16,
    pub services: Vec<(&'static str, Vec<&'static str>)>,
    /// Which lab node this is (its addresses; see `node_addrs`).
    pub node: usize,
    /// `[bgp] graceful_shutdown_time`; tests that do not look at the drain use 0.
    pub drain: u16,
    /// Services taken from a pool: (name, pool, ip_families).
    pub pooled: Vec<(&'static str, &'static str, &'static str)>,
    /// Raw TOML appended at the end (pools, advertisements).
    pub extra: String,
    /// `[bgp] graceful_restart_time` when set (the default is 120).
    pub graceful_restart_time: Option<u16>,
    /// Peer the router at its IPv6 address instead of 192.0.2.1.
    pub ipv6_transport: bool,
    /// Extra lines for the `[[bgp.peers]]` entry.
    pub peer_extra: String,
    /// `[http] listen` (default "": no HTTP endpoint).
    pub http: Option<&'static str>,
    /// `[bgp] listen` (default "0.0.0.0:179").
    pub listen: Option<&'static str>,
}

impl NodeToml {
    pub fn render(&self) -> String {
        let (v4, v6) = node_addrs(self.node);
        let mut s = format!(
            "[node]\nname = \"node{}\"\nrouter_id = \"{v4}\"\nasn = {}\naddresses = [\"{v4}\", \"{v6}\"]\n\n[bgp]\nlisten = \"0.0.0.0:179\"\ngraceful_shutdown_time = {}\n\n[[bgp.peers]]\nname = \"router\"\naddress = \"{ROUTER_V4}\"\nasn = {}\nhold_time = {}\nkeepalive_time = 1\nconnect_retry = 1\npassive = {}\n\n[http]\nlisten = \"\"\n",
            self.node, self.asn, self.drain, self.peer_asn, self.hold_time, self.passive
        );
        if let Some(listen) = self.listen {
            s = s.replace(
                "listen = \"0.0.0.0:179\"",
                &format!("listen = \"{listen}\""),
            );
        }
        if let Some(listen) = self.http {
            s = s.replace(
                "[http]\nlisten = \"\"",
                &format!("[http]\nlisten = \"{listen}\""),
            );
        }
        if !self.peer_extra.is_empty() {
            s = s.replace(
                "\n\n[http]",
                &format!("\n{}\n\n[http]", self.peer_extra.trim_end()),
            );
        }
        if self.ipv6_transport {
            s = s.replace(
                &format!("address = \"{ROUTER_V4}\""),
                &format!("address = \"{ROUTER_V6}\""),
            );
        }
        if let Some(t) = self.graceful_restart_time {
            s = s.replace(
                "graceful_shutdown_time",
                &format!("graceful_restart_time = {t}\ngraceful_shutdown_time"),
            );
        }
        for (name, addrs) in &self.services {
            let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
            s.push_str(&format!(
                "\n[[services]]\nname = \"{name}\"\naddresses = [{}]\n",
                list.join(", ")
            ));
        }
        for (name, pool, families) in &self.pooled {
            s.push_str(&format!(
                "\n[[services]]\nname = \"{name}\"\npool = \"{pool}\"\nip_families = \"{families}\"\n"
            ));
        }
        s.push('\n');
        s.push_str(&self.extra);
        s
    }
}

/// ferrolb running inside the lab's node namespace.
pub struct Ferrolb {
    pub proc: Proc,
    pub config: PathBuf,
}

impl Ferrolb {
    pub fn start(lab: &Lab, toml: &NodeToml) -> Ferrolb {
        let suffix = if toml.node == 0 {
            String::new()
        } else {
            toml.node.to_string()
        };
        let config = lab.path(&format!("node{suffix}.toml"));
        std::fs::write(&config, toml.render()).expect("write node.toml");
        let bin = env!("CARGO_BIN_EXE_ferrolb");
        let cfg = config.to_str().expect("utf8 path").to_string();
        let ns = &lab.node_nss[toml.node];
        let proc = lab.spawn(
            ns,
            &format!("ferrolb{suffix}"),
            &[bin, "run", "--config", &cfg],
        );
        Ferrolb { proc, config }
    }

    /// Rewrites the config and sends SIGHUP.
    pub fn reload(&self, toml: &NodeToml) {
        std::fs::write(&self.config, toml.render()).expect("rewrite node.toml");
        self.proc.signal("HUP");
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.proc.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.proc.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}
