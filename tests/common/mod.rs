//! Integration-test harness: network namespaces joined by veth pairs, real routers (BIRD, FRR
//! bgpd, GoBGP) and ferrolb started inside them, and parsers for what the routers learned.
//! Everything a `Lab` makes is removed in `Drop`, also when a test fails. Processes are stopped by
//! pid; only processes the lab started are touched.

#![allow(dead_code)]

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
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two namespaces joined by one veth pair: `router` (192.0.2.1, 2001:db8::1) and `node`
/// (192.0.2.2, 2001:db8::2).
pub struct Lab {
    pub router_ns: String,
    pub node_ns: String,
    pub dir: tempfile::TempDir,
}

pub const ROUTER_V4: &str = "192.0.2.1";
pub const NODE_V4: &str = "192.0.2.2";
pub const ROUTER_V6: &str = "2001:db8::1";
pub const NODE_V6: &str = "2001:db8::2";

impl Lab {
    pub fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}x{n}", std::process::id() % 100_000);
        let lab = Lab {
            router_ns: format!("flbt{tag}r"),
            node_ns: format!("flbt{tag}n"),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for ns in [&lab.router_ns, &lab.node_ns] {
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let (vr, vn) = (format!("vr{tag}"), format!("vn{tag}"));
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
            &lab.node_ns,
        ]);
        for (ns, dev, v4, v6) in [
            (&lab.router_ns, &vr, ROUTER_V4, ROUTER_V6),
            (&lab.node_ns, &vn, NODE_V4, NODE_V6),
        ] {
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
        lab
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `args` inside namespace `ns`, output to a log file in the lab dir.
    pub fn spawn(&self, ns: &str, name: &str, args: &[&str]) -> Proc {
        let log = self.path(&format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .env("RUST_LOG", "info")
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

    /// Runs a command inside a namespace and returns its stdout (None when it fails).
    pub fn exec(&self, ns: &str, args: &[&str]) -> Option<String> {
        stdout_if_ok(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.router_ns, &self.node_ns] {
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
pub struct NodeToml {
    pub asn: u32,
    pub peer_asn: u32,
    pub passive: bool,
    pub hold_time: u16,
    pub services: Vec<(&'static str, Vec<&'static str>)>,
}

impl NodeToml {
    pub fn render(&self) -> String {
        let mut s = format!(
            "[node]\nname = \"node\"\nrouter_id = \"{NODE_V4}\"\nasn = {}\naddresses = [\"{NODE_V4}\", \"{NODE_V6}\"]\n\n[bgp]\nlisten = \"0.0.0.0:179\"\n\n[[bgp.peers]]\nname = \"router\"\naddress = \"{ROUTER_V4}\"\nasn = {}\nhold_time = {}\nkeepalive_time = 1\nconnect_retry = 1\npassive = {}\n\n[http]\nlisten = \"\"\n",
            self.asn, self.peer_asn, self.hold_time, self.passive
        );
        for (name, addrs) in &self.services {
            let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
            s.push_str(&format!(
                "\n[[services]]\nname = \"{name}\"\naddresses = [{}]\n",
                list.join(", ")
            ));
        }
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
        let config = lab.path("node.toml");
        std::fs::write(&config, toml.render()).expect("write node.toml");
        let bin = env!("CARGO_BIN_EXE_ferrolb");
        let cfg = config.to_str().expect("utf8 path").to_string();
        let proc = lab.spawn(&lab.node_ns, "ferrolb", &[bin, "run", "--config", &cfg]);
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
