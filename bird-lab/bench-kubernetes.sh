#!/usr/bin/env bash
# Kubernetes-mode scale benchmark (issue 18). Not a test: numbers, written into BENCHMARKS.md
# between the bench-kubernetes.sh markers, and printed.
#
#   bird-lab/bench-kubernetes.sh [N...]   (default: 1000 10000)
#
# For each N: the in-process API server of the test suite with N LoadBalancer Services (each
# with an EndpointSlice of one endpoint), two Nodes, a pool of 198.18.0.0/15 and a
# BGPAdvertisement, objects shaped like a real cluster's; one ferrolb (release build) in
# Kubernetes mode as node-a. Measured: time from start until all N have status, then one more
# Service at a time until it has status (median and max of RUNS, default 7), ferrolb's peak RSS
# (VmHWM) and RSS after settling, its CPU time, and the API writes it made per Service.
# The harness is the ignored `bench_kubernetes_scale` in tests/kubernetes_scale.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
for n in "${sizes[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "usage: $0 [N...]" >&2; exit 2; }
done
RUNS=${RUNS:-7}
work=$(mktemp -d /tmp/ferrolb-bench-kubernetes.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

section_prefix=bench-kubernetes.sh
# shellcheck source=bird-lab/lib.sh
. bird-lab/lib.sh

# field NAME LINE: the value after NAME in a BENCH line.
field() { echo "$2" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i+1) }'; }

echo "==> building the harness and ferrolb (release)" >&2
cargo test --release --quiet --no-run --test kubernetes_scale 2>/dev/null

rows=()
for n in "${sizes[@]}"; do
  echo "==> $n Services" >&2
  line=$(K8S_SERVICES=$n K8S_RUNS=$RUNS cargo test --release --quiet --test kubernetes_scale \
      bench_kubernetes_scale -- --ignored --exact --nocapture 2>&1 \
    | tee "$work/$n.log" | grep '^BENCH') || { echo "N=$n failed:" >&2; cat "$work/$n.log" >&2; exit 1; }
  echo "$line" >&2
  mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
  rows+=("| $n | $(field all_assigned_s "$line") | $(field more_median_ms "$line") | $(field more_max_ms "$line") | $(mb "$(field peak_rss_kb "$line")") | $(mb "$(field rss_kb "$line")") | $(field cpu_s "$line") | $(field writes_per_service "$line") |")
  # The last field, "requests VERB resource=count,...", has spaces inside its entries.
  echo "$line" | sed 's/.* requests //' | tr ',' '\n' | grep -v '^GET \|^WATCH ' \
    | sed "s/^/N=$n: /" >"$work/writes.$n" || true
done

{
  echo
  echo "\`bird-lab/bench-kubernetes.sh ${sizes[*]}\`, $(date -u +%Y-%m-%d), $(machine). One ferrolb (release) in Kubernetes mode against the in-process API server; N LoadBalancer Services with one EndpointSlice each, two Nodes, one pool, one BGPAdvertisement, no BGPPeer. \"one more\": a Service created after all have status, until it has its own (median and max of $RUNS). Writes: every non-GET request ferrolb made, divided by the Services:"
  echo
  echo "| Services | all assigned s | one more median ms | one more max ms | peak RSS MB | RSS settled MB | CPU s | API writes per Service |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Writes by verb and resource:"
  echo
  echo '```'
  cat "$work"/writes.*
  echo '```'
  echo
} >"$work/scale.md"
cat "$work/scale.md"
write_section scale "$work/scale.md"
