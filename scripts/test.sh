#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the real routers the interop tests talk to
# (BIRD 2, FRR, GoBGP, ExaBGP 5 from PyPI), the L2 tools (iputils arping, ndisc6), the image tools (umoci, skopeo,
# podman with runc), the manifest validator (kubernetes-validate), kubectl 1.20 and promtool,
# then runs fmt, clippy -D warnings, the purity check, builds the OCI image (scripts/image.sh)
# and runs cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bird >/dev/null 2>&1 || need+=(bird2)
[ -x /usr/lib/frr/bgpd ] || need+=(frr)
command -v gobgpd >/dev/null 2>&1 || need+=(gobgpd)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v nft >/dev/null 2>&1 || need+=(nftables)
# The L2 tests ask with the real tools (iputils arping, ndisc6) and let the client's kernel
# resolve a neighbor with ping (iputils-ping).
command -v arping >/dev/null 2>&1 || need+=(iputils-arping)
command -v ndisc6 >/dev/null 2>&1 || need+=(ndisc6)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
for tool in umoci skopeo podman runc; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if ! command -v cargo >/dev/null 2>&1; then
  need+=(cargo rustc)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# An independent validator for the Kubernetes manifests (the official JSON schemas, strict).
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "==> installing kubernetes-validate (PyPI)"
  pip install -q kubernetes-validate
fi
# ExaBGP 5 (PyPI) is the independent injector of malformed UPDATEs in tests/malformed.rs.
if ! command -v exabgp >/dev/null 2>&1 || ! exabgp version 2>/dev/null | grep 'ExaBGP : 5\.' >/dev/null; then
  echo "==> installing ExaBGP 5 (PyPI)"
  pip install -q "exabgp>=5,<6"
fi
# kubectl 1.20 from Debian's kubernetes-client package, unpacked under target/ (the package
# conflicts with other kubectl packages, so it is not installed system-wide).
kubectl120=target/tools/kubectl-1.20/usr/bin/kubectl
if [ ! -x "$kubectl120" ]; then
  echo "==> fetching kubectl 1.20 (Debian kubernetes-client)"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1)
  fi
  mkdir -p target/tools/kubectl-1.20
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb target/tools/kubectl-1.20
  rm -rf "$tmp"
fi
export KUBECTL="$PWD/$kubectl120"
# promtool from Debian's prometheus package, unpacked under target/ the same way (the package
# would install and start a Prometheus server; the tests need only its rule checker).
promtool=target/tools/prometheus/usr/bin/promtool
if [ ! -x "$promtool" ]; then
  echo "==> fetching promtool (Debian prometheus)"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1)
  fi
  mkdir -p target/tools/prometheus
  dpkg-deb -x "$tmp"/prometheus_*.deb target/tools/prometheus
  rm -rf "$tmp"
fi
export PROMTOOL="$PWD/$promtool"
if ! rustup component list --installed 2>/dev/null | grep -q clippy; then
  rustup component add clippy rustfmt 2>/dev/null || true
fi

echo "==> cargo fmt --check"
cargo fmt --check

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

echo "==> arrows point down: no cycle between modules or files; pure cores import no runtime"
python3 scripts/layers.py

echo "==> the pure core stays pure (src/fsm, src/bfd but its socket task, src/allocator, src/announce, src/model, src/l2 but its responder and sink)"
impure=$(grep -rlE 'tokio::|kube::|zettabgp|Instant::now|SystemTime::now' src/fsm src/bfd src/allocator src/announce src/model src/l2 2>/dev/null \
  | grep -vxE 'src/bfd/socket.rs|src/l2/responder.rs|src/l2/sink.rs' || true)
if [ -n "$impure" ]; then
  echo "these files must not use tokio, kube, zettabgp or clock reads: $impure" >&2
  exit 1
fi
echo "==> zettabgp is used only in src/packet/codec.rs (and its test modules)"
zb=$(grep -rlE 'zettabgp::' src | grep -vE '^src/packet/codec(\.rs|/[a-z_]*tests\.rs)$' || true)
if [ -n "$zb" ]; then
  echo "zettabgp used outside src/packet/codec.rs: $zb" >&2
  exit 1
fi

echo "==> the OCI image (scripts/image.sh; tests/image.rs inspects and runs it)"
scripts/image.sh

echo "==> cargo test"
cargo test
