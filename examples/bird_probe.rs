//! Watches one BGP protocol of a running BIRD through its control socket, for
//! `bird-lab/bench.sh`: a tight loop of `show protocols all NAME` on one connection (a poll
//! costs about a tenth of a millisecond, against several for a `birdc` process per poll).
//!
//! ```text
//! bird_probe SOCKET NAME full N   # waits for Established, then for N imported routes;
//!                                 # prints "T_ESTABLISHED T_FULL"
//! bird_probe SOCKET NAME empty    # waits for 0 imported routes (the session must stay
//!                                 # Established); prints "T_EMPTY"
//! bird_probe SOCKET NAME gone     # waits for 0 imported routes, the session going down
//!                                 # included (a failover); prints "T_GONE"
//! ```
//!
//! Times are Unix epoch seconds with microseconds, comparable with bash's `$EPOCHREALTIME`.
//! Gives up after ten minutes (exit 1).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Bird {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Bird {
    fn connect(path: &str) -> std::io::Result<Bird> {
        let writer = UnixStream::connect(path)?;
        let mut bird = Bird {
            reader: BufReader::new(writer.try_clone()?),
            writer,
        };
        bird.reply()?; // the greeting
        Ok(bird)
    }

    /// Reads one reply: lines until one whose 4-digit code is followed by a space.
    fn reply(&mut self) -> std::io::Result<String> {
        let mut out = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("BIRD closed the control socket"));
            }
            let b = line.as_bytes();
            let last = b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b' ';
            out.push_str(&line);
            if last {
                return Ok(out);
            }
        }
    }

    fn protocol(&mut self, name: &str) -> std::io::Result<(bool, u64)> {
        writeln!(self.writer, "show protocols all {name}")?;
        let text = self.reply()?;
        let established = text.contains("Established");
        let imported = text
            .lines()
            .find_map(|l| {
                let rest = l.split("Routes:").nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0);
        Ok((established, imported))
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn fail(msg: &str) -> ! {
    eprintln!("bird_probe: {msg}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(socket), Some(name), Some(mode)) = (args.first(), args.get(1), args.get(2)) else {
        fail("usage: bird_probe SOCKET NAME full N | empty | gone");
    };
    let gone = mode == "gone";
    let want: Option<u64> = match mode.as_str() {
        "full" => Some(
            args.get(3)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| fail("full needs N")),
        ),
        "empty" | "gone" => None,
        other => fail(&format!("unknown mode `{other}`")),
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut bird = loop {
        match Bird::connect(socket) {
            Ok(b) => break b,
            Err(e) if Instant::now() > deadline => fail(&format!("cannot connect: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let mut t_est = None;
    let mut last = 0;
    while Instant::now() < deadline {
        let (established, imported) = bird.protocol(name).unwrap_or_else(|e| fail(&e.to_string()));
        let t = now();
        last = imported;
        match want {
            Some(n) => {
                if established && t_est.is_none() {
                    t_est = Some(t);
                }
                if let (Some(te), true) = (t_est, imported >= n) {
                    println!("{te:.6} {t:.6}");
                    return;
                }
            }
            None => {
                if !established && !gone {
                    fail("the session went down while waiting for the withdrawal");
                }
                if imported == 0 {
                    println!("{t:.6}");
                    return;
                }
            }
        }
    }
    fail(&format!(
        "gave up after ten minutes with {last} routes imported"
    ));
}
