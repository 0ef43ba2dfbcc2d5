//! `ferrolb status` as tables: sessions, then services with why an address or an announcement
//! is missing.

use std::fmt::Write;

use super::StatusReport;

/// Renders a status report as the human tables of `ferrolb status`.
pub fn render_table(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "node {}", report.node);
    if let Some(r) = &report.reloads {
        render_reloads(&mut out, r);
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:<40} {:<12} {:<10} {:>8} {:>6} {:>6}  LAST ERROR",
        "PEER", "ADDRESS", "STATE", "BFD", "UPTIME", "SENT", "RCVD"
    );
    for s in &report.sessions {
        let uptime = s
            .uptime_seconds
            .map_or_else(|| "-".into(), |u| format!("{u}s"));
        let _ = writeln!(
            out,
            "{:<16} {:<40} {:<12} {:<10} {:>8} {:>6} {:>6}  {}",
            s.peer,
            s.address,
            s.state,
            s.bfd.as_deref().unwrap_or("-"),
            uptime,
            s.prefixes_sent,
            s.prefixes_received,
            s.last_error.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(
        out,
        "\n{:<20} {:<40} {:<10} {:<16} {:<5} WHY NOT",
        "SERVICE", "ADDRESSES", "POOL", "ANNOUNCED BY", "MODE"
    );
    for s in &report.services {
        let addrs: Vec<String> = s.addresses.iter().map(|a| a.to_string()).collect();
        let by = if s.announced_by.is_empty() {
            "-".to_string()
        } else {
            s.announced_by.join(",")
        };
        let _ = writeln!(
            out,
            "{:<20} {:<40} {:<10} {:<16} {:<5} {}",
            s.name,
            if addrs.is_empty() {
                "-".to_string()
            } else {
                addrs.join(",")
            },
            s.pool.as_deref().unwrap_or("-"),
            by,
            s.mode,
            s.reason.as_deref().unwrap_or("-")
        );
    }
    out
}

/// `reloads: N ok, M refused; last: error at T` and the last one's errors, one per line.
fn render_reloads(out: &mut String, r: &super::ReloadReport) {
    let _ = write!(out, "reloads: {} ok, {} refused", r.ok, r.error);
    if let Some(last) = &r.last {
        let what = if last.ok() {
            "applied"
        } else {
            "REFUSED, still running the previous config"
        };
        let _ = write!(out, "; last at {}: {what}", last.at);
        for e in last.errors.iter().chain(&last.warnings) {
            let _ = write!(out, "\n  {e}");
        }
    }
    let _ = writeln!(out);
}
