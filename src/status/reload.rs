//! The result of SIGHUP reloads for `/status` and `ferrolb status`: how many by result, and
//! the last one with when it happened and every error (`file:line:col: message`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// `/status` `reloads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// Reloads applied since start.
    pub ok: u64,
    /// Reloads refused since start (the running config stayed as it was).
    pub error: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastReload>,
}

/// One reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReload {
    /// `ok` (applied) or `error` (refused as a whole: nothing changed).
    pub result: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// When, seconds since the Unix epoch.
    pub unix_time: u64,
    /// Why it was refused: `file:line:col: message` for config errors.
    #[serde(default)]
    pub errors: Vec<String>,
    /// What an applied reload could not change (e.g. listen addresses: restart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl LastReload {
    /// A reload at `when`: applied when `errors` is empty.
    pub fn new(errors: Vec<String>, warnings: Vec<String>, when: SystemTime) -> LastReload {
        let unix_time = when
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        LastReload {
            result: if errors.is_empty() { "ok" } else { "error" }.into(),
            at: rfc3339(unix_time),
            unix_time,
            errors,
            warnings,
        }
    }

    /// True when the reload was applied.
    pub fn ok(&self) -> bool {
        self.result == "ok"
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| k8s_openapi::chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default()
        .to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_130_000), "2026-12-01T13:00:00Z");
    }

    #[test]
    fn a_reload_with_errors_is_an_error_and_keeps_them() {
        let when = UNIX_EPOCH + Duration::from_secs(60);
        let bad = LastReload::new(vec!["node.toml:3:1: oops".into()], Vec::new(), when);
        assert!(!bad.ok());
        assert_eq!(
            (bad.result.as_str(), bad.at.as_str()),
            ("error", "1970-01-01T00:01:00Z")
        );
        assert!(LastReload::new(Vec::new(), vec!["w".into()], when).ok());
    }
}
