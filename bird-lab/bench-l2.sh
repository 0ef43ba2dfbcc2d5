#!/usr/bin/env bash
# L2 failover benchmark (issue 14). Not a test: numbers, written into BENCHMARKS.md between the
# bench-l2.sh markers, and printed.
#
#   bird-lab/bench-l2.sh [--failover|--idle]   (default: both)
#
# - failover: two ferrolb nodes and a client on a bridge (the lab of tests/l2.rs and
#   tests/kubernetes_l2.rs); SIGKILL of the node answering for an address, time until the
#   client hears the first gratuitous ARP for it from the other node. RUNS (default 20) runs,
#   standalone and Kubernetes mode (the in-process API server of the test suite).
# - idle: the two nodes idle for IDLE_SECS (default 600) while stress-ng keeps both cores busy
#   (and a parallel cargo build when BUILD_LOAD=1); every gratuitous ARP heard is a takeover, so
#   with nobody stopping each one is a false failover.
#
# The harnesses are the ignored `bench_*` functions in tests/l2.rs and tests/kubernetes_l2.rs
# (they reuse the tests' lab and prober); the tests create and remove their own namespaces.
# Run as root. Installs iputils-arping, ndisc6, iputils-ping and stress-ng when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=both
case "${1:-}" in
  --failover) mode=failover ;;
  --idle) mode=idle ;;
  "") ;;
  *) echo "usage: $0 [--failover|--idle]" >&2; exit 2 ;;
esac
RUNS=${RUNS:-20}
IDLE_SECS=${IDLE_SECS:-600}
work=$(mktemp -d /tmp/ferrolb-bench-l2.XXXXXX)
stress_pid=""
cleanup() {
  set +e
  [ -n "$stress_pid" ] && kill "$stress_pid" 2>/dev/null && wait "$stress_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "run as root: the benchmark creates network namespaces" >&2
  exit 1
fi
need=()
command -v arping >/dev/null 2>&1 || need+=(iputils-arping)
command -v ndisc6 >/dev/null 2>&1 || need+=(ndisc6)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v stress-ng >/dev/null 2>&1 || need+=(stress-ng)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

section_prefix=bench-l2.sh
# shellcheck source=bird-lab/lib.sh
. bird-lab/lib.sh

# bench TEST-FILE FUNCTION: runs one ignored harness (release build) and prints its BENCH line.
bench() {
  cargo test --release --quiet --test "$1" "$2" -- --ignored --exact --nocapture 2>&1 \
    | tee "$work/$2.log" | grep '^BENCH' || { echo "$2 failed:" >&2; cat "$work/$2.log" >&2; exit 1; }
}

# row LABEL BENCH-LINE: a table row from "... runs N median X ms max Y ms min Z ms ...".
row() {
  echo "$2" | awk -v l="$1" '{ for (i = 1; i <= NF; i++) { if ($i == "runs") r = $(i+1); if ($i == "median") m = $(i+1); if ($i == "max") x = $(i+1); if ($i == "min") n = $(i+1) } printf "| %s | %s | %s | %s | %s |\n", l, r, m, x, n }'
}

echo "==> building the harnesses (release)" >&2
cargo test --release --quiet --no-run --test l2 --test kubernetes_l2 2>/dev/null

if [ "$mode" != idle ]; then
  echo "==> failover, $RUNS runs each (standalone, Kubernetes)" >&2
  s=$(L2_RUNS=$RUNS bench l2 bench_failover_after_sigkill_standalone)
  k=$(L2_RUNS=$RUNS bench kubernetes_l2 bench_failover_after_sigkill_kubernetes)
  {
    echo
    echo "\`bird-lab/bench-l2.sh --failover\`, $(date -u +%Y-%m-%d), $(machine). SIGKILL of the node answering for an address → the first gratuitous ARP for it from the other node, heard by the client on the bridge; the killed node restarted between runs:"
    echo
    echo "| mode | runs | median ms | max ms | min ms |"
    echo "|---|---:|---:|---:|---:|"
    row standalone "$s"
    row "Kubernetes (in-process API server)" "$k"
    echo
  } >"$work/failover.md"
  cat "$work/failover.md"
  write_section failover "$work/failover.md"
fi

if [ "$mode" != failover ]; then
  echo "==> idle for $IDLE_SECS s with stress-ng --cpu $(nproc)" >&2
  stress-ng --cpu "$(nproc)" --timeout "$((IDLE_SECS + 120))s" >/dev/null 2>&1 &
  stress_pid=$!
  i=$(L2_IDLE_SECS=$IDLE_SECS bench l2 bench_false_failovers_idle)
  kill "$stress_pid" 2>/dev/null; wait "$stress_pid" 2>/dev/null || true
  stress_pid=""
  n=$(echo "$i" | awk '{ for (f = 1; f <= NF; f++) if ($f == "failovers:") print $(f+1) }')
  {
    echo
    echo "\`bird-lab/bench-l2.sh --idle\`, $(date -u +%Y-%m-%d), $(machine). Two nodes, 21 addresses, idle for $IDLE_SECS s while \`stress-ng --cpu $(nproc)\` keeps every core busy: $n gratuitous ARPs heard (each takeover sends 8; with nobody stopping, any is a false failover)."
    echo
  } >"$work/idle.md"
  cat "$work/idle.md"
  write_section idle "$work/idle.md"
fi
