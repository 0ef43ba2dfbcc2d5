//! The alerts of `deploy/monitoring/prometheusrule.yaml`, checked by Prometheus' own tool:
//! `promtool check rules` on the PrometheusRule's `spec` (a Prometheus rule file), and
//! `promtool test rules` with `tests/fixtures/prometheus/alerts_test.yaml`, which feeds series
//! shaped as `/metrics` exports them and asserts which alerts fire. (That every metric named in
//! `deploy/monitoring/` exists is a unit test in `src/metrics.rs`.)
//!
//! promtool comes from Debian's `prometheus` package; `scripts/test.sh` unpacks it under
//! `target/tools/` and sets `PROMTOOL`. Without it the test fails; it never skips.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The rule file inside the PrometheusRule: everything under `spec:`, one indent level less.
fn rule_file(prometheus_rule: &str) -> String {
    let (_, spec) = prometheus_rule
        .split_once("\nspec:\n")
        .expect("a top-level spec: in the PrometheusRule");
    spec.lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn promtool(dir: &Path, args: &[&str]) -> String {
    let tool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_string());
    let out = Command::new(&tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} (Debian's prometheus package; scripts/test.sh unpacks it): {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {args:?}: {}\n{text}",
        out.status
    );
    text
}

#[test]
fn prometheus_rules_pass_promtool_and_fire_as_documented() {
    let rules =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/monitoring/prometheusrule.yaml"))
            .expect("deploy/monitoring/prometheusrule.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), rule_file(&rules)).expect("rules.yaml");
    std::fs::copy(
        Path::new(ROOT).join("tests/fixtures/prometheus/alerts_test.yaml"),
        dir.path().join("alerts_test.yaml"),
    )
    .expect("alerts_test.yaml");

    let checked = promtool(dir.path(), &["check", "rules", "rules.yaml"]);
    let alerts = rules.matches("- alert: ").count();
    assert!(alerts >= 7, "the documented alerts: {alerts}");
    assert!(
        checked.contains(&format!("SUCCESS: {alerts} rules found")),
        "{checked}"
    );

    let tested = promtool(dir.path(), &["test", "rules", "alerts_test.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}
