//! The deployable image: `scripts/image.sh` builds an OCI image FROM scratch holding one statically
//! linked binary, tagged as `deploy/ferrolb.yaml` references it. This test reads the OCI layout
//! with nothing but serde_json and tar (not the tools that wrote it), checks its manifest and
//! config, extracts the binary from the layer and runs it (`ferrolb version`, `ferrolb check`),
//! and runs the image itself with podman.
//!
//! `scripts/test.sh` runs `scripts/image.sh` before `cargo test`; when the image is missing or
//! was built from another commit, this test runs the script itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The image reference of the DaemonSet: the one place the tag lives.
fn deployed_image() -> String {
    let text = std::fs::read_to_string(Path::new(ROOT).join("deploy/ferrolb.yaml"))
        .expect("deploy/ferrolb.yaml");
    let images: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        images.len(),
        1,
        "one image line in deploy/ferrolb.yaml: {images:?}"
    );
    images[0].to_string()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("sha256 digest: {digest}"));
    layout.join("blobs/sha256").join(hex)
}

fn head_commit() -> String {
    run(Command::new("git").args(["-C", ROOT, "rev-parse", "--short=12", "HEAD"]))
        .trim()
        .to_string()
}

/// The binary in the image's only layer, extracted into `dir`.
fn extract_binary(layout: &Path, manifest: &Value, dir: &Path) -> PathBuf {
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "FROM scratch plus one layer: {layers:?}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer = blob(layout, layers[0]["digest"].as_str().expect("layer digest"));
    let listing = run(Command::new("tar").arg("-tzf").arg(&layer));
    let mut files: Vec<&str> = listing
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/'))
        .filter(|l| !l.is_empty() && *l != ".")
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["ferrolb", "tmp"],
        "the image holds only the binary and /tmp"
    );
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&layer)
        .arg("-C")
        .arg(dir)
        .arg("ferrolb"));
    dir.join("ferrolb")
}

/// Whether an ELF64 little-endian executable has a PT_INTERP program header, i.e. needs a dynamic
/// loader (and with it a libc) in the image. A static-pie has none.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    assert_eq!(elf.get(..4), Some(&b"\x7fELF"[..]), "an ELF file");
    assert_eq!(elf.get(4..6), Some(&[2u8, 1][..]), "ELF64, little-endian");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == PT_INTERP
    })
}

#[test]
fn image_holds_a_static_binary_that_runs() {
    let image = deployed_image();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        image,
        format!("ghcr.io/ferrolb/ferrolb:{version}"),
        "deploy/ferrolb.yaml names the image of this version"
    );
    let tag = version;
    let layout = Path::new(ROOT).join("target/image/oci");
    let commit = head_commit();
    let built_from = |layout: &Path| -> Option<String> {
        let index = json(&layout.join("index.json"));
        let m = index["manifests"].as_array()?.iter().find(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag)
        })?;
        let manifest = json(&blob(layout, m["digest"].as_str()?));
        let config = json(&blob(layout, manifest["config"]["digest"].as_str()?));
        config["config"]["Labels"]["org.opencontainers.image.revision"]
            .as_str()
            .map(str::to_string)
    };
    if !layout.join("index.json").exists()
        || built_from(&layout).as_deref() != Some(commit.as_str())
    {
        run(Command::new("bash")
            .arg(Path::new(ROOT).join("scripts/image.sh"))
            .current_dir(ROOT));
    }

    // index.json → the manifest tagged `tag` → its config.
    let index = json(&layout.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag))
        .unwrap_or_else(|| panic!("no manifest tagged {tag} in {index}"));
    let manifest = json(&blob(&layout, entry["digest"].as_str().expect("digest")));
    let config = json(&blob(
        &layout,
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    ));
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/ferrolb"])
    );
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["run", "--config", "/etc/ferrolb/node.toml"]),
        "the DaemonSet's args, as the default command"
    );
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.revision"],
        commit.as_str()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bin = extract_binary(&layout, &manifest, dir.path());
    assert!(
        !has_interpreter(&std::fs::read(&bin).expect("binary")),
        "the binary in the image is dynamically linked (it names a program interpreter)"
    );
    let printed = run(Command::new(&bin).arg("version"));
    assert!(
        printed.starts_with(&format!("ferrolb {version} (commit {commit})")),
        "ferrolb version from the image: {printed}"
    );
    let checked = run(Command::new(&bin)
        .args(["check", "--config"])
        .arg(Path::new(ROOT).join("examples/standalone.toml")));
    assert_eq!(checked.trim(), "ok");

    // The docker-archive carries the DaemonSet's reference as its tag (`docker load`, `ctr import`).
    let archive = Path::new(ROOT).join(format!("target/image/ferrolb-{tag}.docker.tar"));
    let tags: Value = serde_json::from_str(&run(Command::new("tar")
        .arg("-xOf")
        .arg(&archive)
        .arg("manifest.json")))
    .expect("docker-archive manifest.json");
    assert_eq!(tags[0]["RepoTags"], serde_json::json!([image]));

    podman_runs_the_image(&layout, tag);
}

/// `podman run` of the OCI layout, with its own storage under a temporary directory (nothing is
/// left in the host's image store) and no network: `ferrolb check` on a mounted node.toml.
///
/// Two settings of this sandbox's, not of the image's: the runtime is runc (crun's setrlimit
/// calls are refused here), and podman's default ulimits are off (`default_ulimits = []`), since
/// the sandbox refuses setting RLIMIT_NOFILE/NPROC even to their current values.
fn podman_runs_the_image(layout: &Path, tag: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = []\n").expect("containers.conf");
    let config = Path::new(ROOT).join("examples/standalone.toml");
    let out = run(Command::new("podman")
        .env("CONTAINERS_CONF", &conf)
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--runroot")
        .arg(dir.path().join("run"))
        .args([
            "--runtime",
            "runc",
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
        ])
        .arg(format!("{}:/etc/ferrolb/node.toml:ro", config.display()))
        .arg(format!("oci:{}:{tag}", layout.display()))
        .args(["check", "--config", "/etc/ferrolb/node.toml"]));
    assert_eq!(out.trim(), "ok", "ferrolb check inside the container");
}
