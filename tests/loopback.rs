//! Two ferrolb daemons peering with each other over loopback (127.0.0.0/8 only): a fast end-to-end
//! check of the runtime, FSM and codec together, read back through `/status`. The interop tests
//! in `interop.rs` do the same against real BIRD, FRR and GoBGP.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
    config: PathBuf,
    http: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every daemon's log, for the failure dump (a failure on one side is often explained by the
/// other's log).
static LOGS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn config(
    me: &str,
    asn: u32,
    bgp_port: u16,
    http_port: u16,
    peer: (&str, u32, u16),
    services: &str,
) -> String {
    format!(
        r#"
[node]
name = "node-{me}"
router_id = "{me}"
asn = {asn}
addresses = ["{me}"]

[bgp]
listen = "{me}:{bgp_port}"

[[bgp.peers]]
name = "other"
address = "{}"
asn = {}
port = {}
hold_time = 9
keepalive_time = 3
connect_retry = 1
source_address = "{me}"

{services}

[http]
listen = "127.0.0.1:{http_port}"
"#,
        peer.0, peer.1, peer.2
    )
}

fn start(text: &str, http_port: u16) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node.toml");
    std::fs::write(&path, text).expect("write config");
    let log = std::fs::File::create(dir.path().join("log")).expect("log file");
    if let Ok(mut l) = LOGS.lock() {
        l.push(dir.path().join("log"));
    }
    let child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start ferrolb");
    Daemon {
        child,
        _dir: dir,
        config: path,
        http: format!("http://127.0.0.1:{http_port}"),
    }
}

fn status(d: &Daemon) -> Option<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["status", "--json", "--url", &d.http])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

fn session_field(d: &Daemon, field: &str) -> Option<serde_json::Value> {
    status(d)?.get("sessions")?.get(0)?.get(field).cloned()
}

fn wait_for(what: &str, d: &Daemon, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(d.config.with_file_name("log")).unwrap_or_default();
    let others: String = LOGS
        .lock()
        .map(|l| {
            l.iter()
                .filter(|p| **p != d.config.with_file_name("log"))
                .map(|p| {
                    format!(
                        "\n--- {} ---\n{}",
                        p.display(),
                        std::fs::read_to_string(p).unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    panic!("timed out waiting for {what}; log:\n{log}\nthe other daemons:{others}");
}

#[test]
fn two_daemons_peer_over_loopback_and_routes_follow_reloads_and_shutdown() {
    let (a_bgp, b_bgp, a_http, b_http) = (free_port(), free_port(), free_port(), free_port());
    let services = "[[services]]\nname = \"web\"\naddresses = [\"198.51.100.10\"]\n\n[[services]]\nname = \"api\"\naddresses = [\"198.51.100.11\"]";
    let a_text = config(
        "127.0.0.1",
        64512,
        a_bgp,
        a_http,
        ("127.0.0.2", 64513, b_bgp),
        services,
    );
    let a = start(&a_text, a_http);
    let b = start(
        &config(
            "127.0.0.2",
            64513,
            b_bgp,
            b_http,
            ("127.0.0.1", 64512, a_bgp),
            "",
        ),
        b_http,
    );
    let received = |d: &Daemon| session_field(d, "prefixes_received").and_then(|v| v.as_u64());
    wait_for("B to receive A's two routes", &b, || {
        received(&b) == Some(2)
    });
    assert_eq!(
        session_field(&a, "state").and_then(|v| v.as_str().map(String::from)),
        Some("Established".to_string())
    );
    assert_eq!(
        status_code(&b.http),
        Some(0),
        "every session Established: exit 0"
    );

    // SIGHUP with one service removed: B loses exactly that route, the session stays up.
    let uptime_before = session_field(&b, "uptime_seconds").and_then(|v| v.as_u64());
    let fewer = a_text.replace(
        "[[services]]\nname = \"api\"\naddresses = [\"198.51.100.11\"]",
        "",
    );
    std::fs::write(&a.config, fewer).expect("rewrite config");
    let pid = a.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    wait_for("B to see the withdrawal", &b, || received(&b) == Some(1));
    let uptime_after = session_field(&b, "uptime_seconds").and_then(|v| v.as_u64());
    assert!(
        uptime_after >= uptime_before,
        "session was reset by the reload"
    );

    // A broken config on reload changes nothing.
    std::fs::write(&a.config, "this is not toml").expect("rewrite config");
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(received(&b), Some(1));

    // SIGTERM: A withdraws and exits 0; B ends with nothing from A.
    let mut a = a;
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let code = a.child.wait().expect("wait for A");
    assert_eq!(code.code(), Some(0));
    wait_for("B to drop A's routes", &b, || {
        received(&b).unwrap_or(0) == 0
    });
    // B's only session is down now: `ferrolb status` says so in its exit code; A is gone: 2.
    wait_for("B's status to exit 3", &b, || {
        status_code(&b.http) == Some(3)
    });
    assert_eq!(status_code(&a.http), Some(2), "no daemon answering: exit 2");
}

/// The exit code of `ferrolb status` against `url`.
fn status_code(url: &str) -> Option<i32> {
    Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["status", "--url", url])
        .output()
        .ok()?
        .status
        .code()
}
