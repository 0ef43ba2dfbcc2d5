//! The command-line contract: `check` output and exit codes, `run` refusing the same configs,
//! `version`, and exit code 2 for runtime failures.

use std::path::PathBuf;
use std::process::{Command, Output};

fn ferrolb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the ferrolb binary")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

const GOOD: &str = r#"
[node]
name = "node-a"
router_id = "192.0.2.10"
asn = 64512
addresses = ["192.0.2.10"]

[bgp]
listen = ""

[[bgp.peers]]
name = "tor1"
address = "192.0.2.1"
asn = 64500

[[services]]
name = "web"
addresses = ["198.51.100.10"]

[http]
listen = ""
"#;

#[test]
fn check_prints_ok_and_exits_0_for_a_valid_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "node.toml", GOOD);
    let out = ferrolb(&["check", "--config", path.to_str().expect("utf8 path")]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    assert_eq!(out.status.code(), Some(1 - 1));
}

#[test]
fn check_warns_about_a_service_that_can_never_get_an_address_and_still_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "{GOOD}\n[[pools]]\nname = \"v4\"\naddresses = [\"203.0.113.0/24\"]\n\n[[services]]\nname = \"both\"\nip_families = \"RequireDualStack\"\n"
    );
    let path = write(&dir, "node.toml", &text);
    let p = path.to_str().expect("utf8 path");
    let out = ferrolb(&["check", "--config", p]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with(&format!("{p}:")), "{stdout}");
    assert!(
        lines[0].contains(
            "warning: services[1]: service `both` can never get an address: RequireDualStack"
        ),
        "{stdout}"
    );
    assert_eq!(lines[1], "ok");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn check_prints_file_line_col_and_exits_1_for_a_node_address_used_as_a_service_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = GOOD.replace(
        "addresses = [\"198.51.100.10\"]",
        "addresses = [\"192.0.2.10\"]",
    );
    let path = write(&dir, "node.toml", &bad);
    let p = path.to_str().expect("utf8 path");
    let out = ferrolb(&["check", "--config", p]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}");
    let line = stdout.lines().next().expect("one error line");
    assert!(line.starts_with(&format!("{p}:18:")), "got {line}");
    assert!(line.contains("192.0.2.10"), "got {line}");
}

#[test]
fn check_reports_every_semantic_error_not_just_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = GOOD
        .replace("asn = 64500", "asn = 0")
        .replace("asn = 64512", "asn = 0");
    let path = write(&dir, "node.toml", &bad);
    let out = ferrolb(&["check", "--config", path.to_str().expect("utf8 path")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout.lines().count(),
        2,
        "expected two errors, got: {stdout}"
    );
}

#[test]
fn run_refuses_a_bad_config_with_the_same_messages_as_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = GOOD.replace("[[services]]", "[[services]]\nflavour = \"vanilla\"");
    let path = write(&dir, "node.toml", &bad);
    let p = path.to_str().expect("utf8 path");
    let check = ferrolb(&["check", "--config", p]);
    let run = ferrolb(&["run", "--config", p]);
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(run.status.code(), Some(1));
    let check_out = String::from_utf8_lossy(&check.stdout);
    let run_err = String::from_utf8_lossy(&run.stderr);
    let first = check_out.lines().next().expect("an error line");
    assert!(first.contains("flavour"), "got {first}");
    assert!(run_err.contains(first), "run said: {run_err}");
}

#[test]
fn run_exits_2_when_the_bgp_port_cannot_be_bound() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = GOOD.replacen(
        "listen = \"\"",
        &format!("listen = \"127.0.0.1:{port}\""),
        1,
    );
    let path = write(&dir, "node.toml", &cfg);
    let out = ferrolb(&["run", "--config", path.to_str().expect("utf8 path")]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen for BGP"));
}

#[test]
fn version_prints_the_version_and_the_git_commit() {
    let out = ferrolb(&["version"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "got {stdout}");
    assert!(stdout.contains("commit "), "got {stdout}");
}

#[test]
fn run_refuses_to_start_on_a_corrupt_state_file_and_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{ not json").expect("write state");
    let cfg = format!(
        "{GOOD}\n[[pools]]\nname = \"p\"\naddresses = [\"203.0.113.0/28\"]\n\n[state]\npath = \"{}\"\n",
        state.display()
    );
    let path = write(&dir, "node.toml", &cfg);
    let out = ferrolb(&["run", "--config", path.to_str().expect("utf8 path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("state.json") && stderr.contains("corrupt"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&state).expect("kept"), "{ not json");
}

#[test]
fn check_manifests_accepts_the_shipped_examples() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples");
    let out = ferrolb(&["check", "--manifests", dir]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn check_manifests_prints_file_line_col_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "pool.yaml",
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata:\n  name: p\nspec:\n  addresses:\n  - 198.51.100.0/33\n",
    );
    let out = ferrolb(&["check", "--manifests", dir.path().to_str().expect("utf8")]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}:7:5: addresses: `198.51.100.0/33` is not a CIDR (198.51.100.0/24), a range (203.0.113.10-203.0.113.20) or an address\n",
            path.display()
        )
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn check_manifests_locates_syntax_and_type_errors_in_later_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = |name: &str| {
        format!("apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata:\n  name: {name}\nspec:\n  addresses: [198.51.100.0/24]\n")
    };
    // Document 3 (file lines 16-22): autoAssign is a boolean.
    let typed = write(
        &dir,
        "a-typed.yaml",
        &format!(
            "# three pools\n{}---\n{}---\n{}  autoAssign: maybe\n",
            pool("one"),
            pool("two"),
            pool("three")
        ),
    );
    // Document 2 (file lines 8-12): a key indented under a plain value.
    let syntax = write(
        &dir,
        "b-syntax.yaml",
        &format!(
            "{}---\napiVersion: ferrolb.io/v1alpha1\nkind: BGPPeer\nmetadata:\n  name: tor\n    labels: {{}}\n",
            pool("four")
        ),
    );
    let out = ferrolb(&["check", "--manifests", dir.path().to_str().expect("utf8")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        lines[0],
        format!(
            "{}:22:15: invalid boolean (strict mode expects true/false)",
            typed.display()
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "{}:12:11: mapping values are not allowed in this context",
            syntax.display()
        )
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn crds_prints_what_deploy_crds_yaml_holds() {
    let out = ferrolb(&["crds"]);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/crds.yaml"))
            .expect("deploy/crds.yaml");
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "deploy/crds.yaml differs from `ferrolb crds`; regenerate it"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn kubernetes_mode_without_a_usable_kubeconfig_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-kubeconfig");
    let path = write(
        &dir,
        "k8s.toml",
        &format!(
            "{GOOD}\n[kubernetes]\nnamespace = \"ferrolb-system\"\nkubeconfig = \"{}\"\n",
            missing.display()
        ),
    );
    let out = ferrolb(&["run", "--config", path.to_str().expect("utf8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("kubeconfig") && stderr.contains("no-such-kubeconfig"),
        "{stderr}"
    );
}

fn validate_strict(files: &[&std::path::Path]) -> Output {
    Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "--kubernetes-version", "1.30.0"])
        .args(files)
        .output()
        .expect("kubernetes-validate is not installed: run scripts/test.sh, which installs it")
}

#[test]
fn generated_crds_and_the_deployment_pass_strict_kubernetes_schema_validation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ferrolb(&["crds"]);
    let generated = write(&dir, "crds.yaml", &String::from_utf8_lossy(&out.stdout));
    let deploy = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy"));
    let out = validate_strict(&[&generated, &deploy.join("ferrolb.yaml")]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator does fail: a CRD with a field the schema does not have.
    let text = std::fs::read_to_string(&generated).expect("read");
    let broken = write(
        &dir,
        "broken.yaml",
        &text.replacen(
            "  scope: Namespaced",
            "  scope: Namespaced\n  scopes: Cluster",
            1,
        ),
    );
    assert!(!validate_strict(&[&broken]).status.success());
}

#[test]
fn the_daemonset_node_config_passes_check() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/ferrolb.yaml"))
        .expect("deploy/ferrolb.yaml");
    let config_map = text
        .split("\n---\n")
        .filter_map(|doc| ferrolb::yaml::from_str::<serde_json::Value>(doc).ok())
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap in deploy/ferrolb.yaml");
    let toml = config_map["data"]["node.toml"]
        .as_str()
        .expect("data.node.toml");
    assert!(toml.contains("[kubernetes]"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "node.toml", toml);
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["check", "--config", path.to_str().expect("utf8")])
        .env("NODE_NAME", "worker-1")
        .output()
        .expect("run ferrolb");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const METALLB_BGP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metallb/bgp.yaml"
);

#[test]
fn migrate_prints_crds_that_check_accepts_and_warnings_on_stderr() {
    let out = ferrolb(&["migrate", "--from-metallb", METALLB_BGP]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let docs: Vec<serde_json::Value> =
        ferrolb::yaml::from_multiple(&stdout).expect("yaml on stdout");
    assert!(
        docs.iter()
            .all(|d| d["apiVersion"].as_str() == Some("ferrolb.io/v1alpha1")),
        "{stdout}"
    );
    assert_eq!(docs.len(), 8, "{stdout}");
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir, "ferrolb.yaml", &stdout);
    let check = ferrolb(&["check", "--manifests", dir.path().to_str().expect("utf8")]);
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("{METALLB_BGP}:45: BGPPeer/peersample: myASN: ")),
        "{stderr}"
    );

    let out = ferrolb(&["migrate", "--from-metallb", METALLB_BGP, "--to", "toml"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let toml: toml::Value =
        toml::from_str(&String::from_utf8_lossy(&out.stdout)).expect("toml on stdout");
    assert_eq!(toml["node"]["asn"].as_integer(), Some(64500));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{METALLB_BGP}:61: BGPPeer/example: nodeSelectors: "
        )),
        "{stderr}"
    );
}

#[test]
fn migrate_exits_1_naming_the_file_it_cannot_read_or_parse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.yaml");
    let missing = missing.to_str().expect("utf8");
    let out = ferrolb(&["migrate", "--from-metallb", METALLB_BGP, missing]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{missing}: cannot read")),
        "{stderr}"
    );

    let bad = write(
        &dir,
        "bad.yaml",
        "apiVersion: metallb.io/v1beta1\nkind: [\n",
    );
    let bad = bad.to_str().expect("utf8");
    let out = ferrolb(&["migrate", "--from-metallb", bad]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // At the bracket that is never closed.
    assert!(stderr.starts_with(&format!("{bad}:2: ")), "{stderr}");
}
