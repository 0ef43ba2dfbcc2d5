#!/usr/bin/env bash
# The ferrolb lab: BIRD in one network namespace, ferrolb (examples/standalone.toml) in another,
# joined by a veth pair. Prints the routes BIRD learned from ferrolb, then removes everything it
# made — also on Ctrl-C or failure. Run as root. Needs: bird2 (installed if missing), cargo.
#
# Topology (documentation addresses only):
#   [flab-bird] vflab-b 192.0.2.1/24 2001:db8::1/64  <—veth—>  vflab-n 192.0.2.2/24 2001:db8::2/64 [flab-node]
#   BIRD AS 64500                                               ferrolb AS 64512
set -euo pipefail
cd "$(dirname "$0")/.."
here=bird-lab
work=$(mktemp -d /tmp/ferrolb-lab.XXXXXX)
bird_pid=""
ferrolb_pid=""

cleanup() {
  set +e
  [ -n "$ferrolb_pid" ] && kill "$ferrolb_pid" 2>/dev/null && wait "$ferrolb_pid" 2>/dev/null
  [ -n "$bird_pid" ] && kill "$bird_pid" 2>/dev/null && wait "$bird_pid" 2>/dev/null
  ip netns del flab-bird 2>/dev/null
  ip netns del flab-node 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "run as root: the lab creates network namespaces" >&2
  exit 1
fi
need=()
command -v bird >/dev/null 2>&1 || need+=(bird2)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo is needed to build ferrolb" >&2; exit 1; }

echo "==> building ferrolb"
cargo build --release --quiet
bin=$PWD/target/release/ferrolb
"$bin" check --config examples/standalone.toml

echo "==> creating namespaces flab-bird and flab-node"
for ns in flab-bird flab-node; do
  if ip netns list | grep -qw "$ns"; then
    echo "namespace $ns already exists (another lab running?); remove it with: ip netns del $ns" >&2
    exit 1
  fi
done
ip netns add flab-bird
ip netns add flab-node
ip link add vflab-b netns flab-bird type veth peer name vflab-n netns flab-node
ip -n flab-bird addr add 192.0.2.1/24 dev vflab-b
ip -n flab-bird addr add 2001:db8::1/64 dev vflab-b nodad
ip -n flab-node addr add 192.0.2.2/24 dev vflab-n
ip -n flab-node addr add 2001:db8::2/64 dev vflab-n nodad
for ns in flab-bird flab-node; do ip -n "$ns" link set lo up; done
ip -n flab-bird link set vflab-b up
ip -n flab-node link set vflab-n up

echo "==> starting BIRD (AS 64500) and ferrolb (AS 64512)"
ip netns exec flab-bird bird -f -c "$here/bird.conf" -s "$work/bird.ctl" -P "$work/bird.pid" >"$work/bird.log" 2>&1 &
bird_pid=$!
ip netns exec flab-node env RUST_LOG=info "$bin" run --config examples/standalone.toml >"$work/ferrolb.log" 2>&1 &
ferrolb_pid=$!

birdc_() { birdc -s "$work/bird.ctl" "$@"; }
echo "==> waiting for the session to reach Established"
for _ in $(seq 1 120); do
  if birdc_ show protocols ferrolb 2>/dev/null | grep -q Established; then break; fi
  sleep 0.5
done
if ! birdc_ show protocols ferrolb | grep -q Established; then
  echo "the session did not come up; logs:" >&2
  cat "$work/bird.log" "$work/ferrolb.log" >&2
  exit 1
fi
for _ in $(seq 1 40); do
  routes=$(birdc_ show route protocol ferrolb)
  if grep -q 198.51.100.10/32 <<<"$routes" && grep -q 198.51.100.11/32 <<<"$routes" \
     && grep -q 2001:db8:100::10/128 <<<"$routes"; then
    break
  fi
  sleep 0.25
done
echo
echo "==> BIRD's routes learned from ferrolb:"
birdc_ show route protocol ferrolb all
echo
echo "==> ferrolb status:"
ip netns exec flab-node "$bin" status --url http://127.0.0.1:7473 || true
echo
echo "==> ferrolb /metrics (BGP families):"
ip netns exec flab-node curl -sf http://127.0.0.1:7473/metrics | grep -E '^ferrolb_bgp_(session_up|announced_prefixes|updates_sent)' || true
echo
echo "==> done; removing the lab"
