//! Measures `src/cluster` failure detection with real processes on loopback: how long after a
//! member is killed with SIGKILL (no goodbye, like a crashed node) it vanishes from each other
//! member's view, and whether members vanish falsely while the machine is loaded.
//!
//! ```text
//! cargo build --release --example cluster_probe
//! cluster_probe kill [N=3] [ROUNDS=20] [BASE_PORT=17946]
//!     # starts N member processes (127.0.0.1:BASE_PORT..), then ROUNDS times: waits until
//!     # every view has N members and 3 s more, SIGKILLs the victim (member 1, then 2, ...,
//!     # rotating), prints the time from the kill to its disappearance from every other view,
//!     # restarts it under the same name (new generation); at the end median and max.
//! cluster_probe watch [N=3] [SECONDS=300] [BASE_PORT=17946]
//!     # starts N members, waits for full views, then counts every member vanishing from any
//!     # view (false deaths) for SECONDS; load the machine meanwhile (stress-ng --cpu 2).
//! cluster_probe member NAME PORT SEED_PORT...
//!     # one member (what the two modes above spawn): prints "gone NAME T", "join NAME T"
//!     # (T: Unix time in ns) on view changes and "timeouts NAME=MS ..." every 5 s.
//! ```
//!
//! Times come from `SystemTime` in each process (one clock on one machine).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrolb::cluster::{Cluster, ClusterConfig, Tuning};

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn arg(args: &[String], i: usize, default: u64) -> u64 {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("member") => member(&args[2..]),
        Some("kill") => kill(
            arg(&args, 2, 3) as usize,
            arg(&args, 3, 20) as usize,
            arg(&args, 4, 17946) as u16,
        ),
        Some("watch") => watch(
            arg(&args, 2, 3) as usize,
            arg(&args, 3, 300),
            arg(&args, 4, 17946) as u16,
        ),
        _ => {
            eprintln!("usage: cluster_probe kill [N] [ROUNDS] [BASE_PORT] | watch [N] [SECONDS] [BASE_PORT] | member NAME PORT SEED_PORT...");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn member(args: &[String]) {
    let name = args.first().cloned().unwrap_or_else(|| "m".into());
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(17946);
    let seeds: Vec<SocketAddr> = args[2.min(args.len())..]
        .iter()
        .filter_map(|p| p.parse::<u16>().ok())
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect();
    let config = ClusterConfig {
        node: name.clone(),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        advertise: None,
        seeds,
        tuning: Tuning::default(),
    };
    let cluster = match Cluster::start(config).await {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("{name}: {err}");
            std::process::exit(1);
        }
    };
    let mut view = cluster.subscribe();
    let mut seen: BTreeSet<String> = view.borrow().keys().cloned().collect();
    let mut report = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            changed = view.changed() => {
                if changed.is_err() {
                    return;
                }
                let now: BTreeSet<String> = view.borrow_and_update().keys().cloned().collect();
                let t = now_ns();
                for gone in seen.difference(&now) {
                    println!("gone {gone} {t}");
                }
                for join in now.difference(&seen) {
                    println!("join {join} {t}");
                }
                seen = now;
            }
            _ = report.tick() => {
                let timeouts = cluster.detection_timeouts().await;
                let line: Vec<String> = timeouts
                    .iter()
                    .map(|(n, t)| format!("{n}={}", t.as_millis()))
                    .collect();
                println!("timeouts {}", line.join(" "));
            }
        }
    }
}

/// The member processes and one channel of (member index, line) from their stdout.
struct Members {
    base_port: u16,
    n: usize,
    children: Vec<Option<Child>>,
    tx: mpsc::Sender<(usize, String)>,
    rx: mpsc::Receiver<(usize, String)>,
    /// Who each member sees.
    views: Vec<BTreeSet<String>>,
}

impl Members {
    fn new(n: usize, base_port: u16) -> Members {
        let (tx, rx) = mpsc::channel();
        let mut members = Members {
            base_port,
            n,
            children: (0..n).map(|_| None).collect(),
            tx,
            rx,
            views: vec![BTreeSet::new(); n],
        };
        for i in 0..n {
            members.spawn(i);
        }
        members
    }

    fn spawn(&mut self, i: usize) {
        let exe = std::env::current_exe().expect("own path");
        let mut cmd = Command::new(exe);
        cmd.arg("member")
            .arg(format!("m{i}"))
            .arg((self.base_port + i as u16).to_string());
        for j in 0..self.n {
            if j != i {
                cmd.arg((self.base_port + j as u16).to_string());
            }
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn member");
        let stdout = child.stdout.take().expect("piped stdout");
        let tx = self.tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((i, line)).is_err() {
                    return;
                }
            }
        });
        self.views[i] = BTreeSet::from([format!("m{i}")]);
        self.children[i] = Some(child);
    }

    fn kill(&mut self, i: usize) -> u128 {
        let t = now_ns();
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
        t
    }

    /// The next line, with the views updated; None after `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<(usize, String, String, u128)> {
        let (i, line) = self.rx.recv_timeout(timeout).ok()?;
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap_or("").to_string();
        let name = words.next().unwrap_or("").to_string();
        let t: u128 = words.next().and_then(|t| t.parse().ok()).unwrap_or(0);
        match kind.as_str() {
            "gone" => {
                self.views[i].remove(&name);
            }
            "join" => {
                self.views[i].insert(name.clone());
            }
            "timeouts" if self.n <= 5 => {
                eprintln!("m{i} {line}");
            }
            _ => {}
        }
        Some((i, kind, name, t))
    }

    fn full(&self) -> bool {
        (0..self.n).all(|i| self.children[i].is_none() || self.views[i].len() == self.n)
    }

    fn wait_full(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while !self.full() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() || self.next(left).is_none() && Instant::now() >= end {
                return false;
            }
        }
        true
    }

    /// Drains lines for `d`.
    fn settle(&mut self, d: Duration) {
        let end = Instant::now() + d;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let _ = self.next(left);
        }
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        for i in 0..self.n {
            self.kill(i);
        }
    }
}

fn kill(n: usize, rounds: usize, base_port: u16) {
    let mut members = Members::new(n, base_port);
    if !members.wait_full(Duration::from_secs(30)) {
        eprintln!("members did not see each other within 30 s");
        std::process::exit(1);
    }
    let mut times: Vec<f64> = Vec::new();
    for round in 0..rounds {
        members.settle(Duration::from_secs(3));
        let victim = 1 + round % (n - 1).max(1);
        let victim_name = format!("m{victim}");
        let t_kill = members.kill(victim);
        let mut waiting: BTreeSet<usize> = (0..n).filter(|i| *i != victim).collect();
        let mut line = Vec::new();
        while !waiting.is_empty() {
            let Some((i, kind, name, t)) = members.next(Duration::from_secs(30)) else {
                eprintln!("round {round}: {victim_name} not gone from {waiting:?} after 30 s");
                std::process::exit(1);
            };
            if kind == "gone" && name == victim_name && waiting.remove(&i) {
                let ms = (t.saturating_sub(t_kill)) as f64 / 1e6;
                times.push(ms);
                line.push(format!("m{i} {ms:.0} ms"));
            } else if kind == "gone" {
                eprintln!("round {round}: m{i} lost {name} too (false death)");
            }
        }
        println!("round {round:2}: killed {victim_name}: {}", line.join(", "));
        members.spawn(victim);
        if !members.wait_full(Duration::from_secs(30)) {
            eprintln!("round {round}: {victim_name} did not come back within 30 s");
            std::process::exit(1);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    let min = times[0];
    println!(
        "kill -> gone from a view, {} observations over {rounds} kills of {n} members: min {min:.0} ms, median {median:.0} ms, max {max:.0} ms",
        times.len()
    );
}

fn watch(n: usize, seconds: u64, base_port: u16) {
    let mut members = Members::new(n, base_port);
    if !members.wait_full(Duration::from_secs(30)) {
        eprintln!("members did not see each other within 30 s");
        std::process::exit(1);
    }
    println!("{n} members see each other; watching {seconds} s");
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut deaths = 0;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if let Some((i, kind, name, _)) = members.next(left) {
            if kind == "gone" {
                deaths += 1;
                println!("false death: m{i} lost {name}");
            } else if kind == "join" {
                println!("m{i} sees {name} again");
            }
        }
    }
    println!("false deaths in {seconds} s with {n} members: {deaths}");
}
