#!/usr/bin/env bash
# ECMP lab: one BIRD and two ferrolb nodes announcing the same service address. BIRD merges the
# two equal paths into one multipath kernel route (`merge paths`); the script prints it, stops
# node b with SIGTERM (graceful shutdown, then withdraw) and prints the route again. Removes
# everything it made on exit, Ctrl-C or failure. Run as root. Needs bird2 (installed if missing).
#
#   [flab-ecmp-r] br0 192.0.2.1/24 2001:db8::1/64 (BIRD AS 64500)
#        |-- veth --> [flab-ecmp-a] 192.0.2.2 2001:db8::2 (ferrolb node-a, AS 64512)
#        `-- veth --> [flab-ecmp-b] 192.0.2.3 2001:db8::3 (ferrolb node-b, AS 64512)
set -euo pipefail
cd "$(dirname "$0")/.."
conf=bird-lab/ecmp
work=$(mktemp -d /tmp/ferrolb-ecmp.XXXXXX)
pids=()
namespaces=(flab-ecmp-r flab-ecmp-a flab-ecmp-b)

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "run as root: the lab creates network namespaces" >&2; exit 1; }
if ! command -v bird >/dev/null 2>&1; then
  echo "==> installing bird2"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq bird2 >/dev/null
fi
echo "==> building ferrolb"
cargo build --release --quiet
bin=$PWD/target/release/ferrolb

for ns in "${namespaces[@]}"; do
  if ip netns list | grep -qw "$ns"; then
    echo "namespace $ns already exists; remove it with: ip netns del $ns" >&2
    namespaces=()
    exit 1
  fi
done
for ns in "${namespaces[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n flab-ecmp-r link add br0 type bridge
ip -n flab-ecmp-r addr add 192.0.2.1/24 dev br0
ip -n flab-ecmp-r addr add 2001:db8::1/64 dev br0 nodad
ip -n flab-ecmp-r link set br0 up
i=2
for n in a b; do
  ip link add "vecmp-$n" netns flab-ecmp-r type veth peer name eth0 netns "flab-ecmp-$n"
  ip -n flab-ecmp-r link set "vecmp-$n" master br0 up
  ip -n "flab-ecmp-$n" addr add "192.0.2.$i/24" dev eth0
  ip -n "flab-ecmp-$n" addr add "2001:db8::$i/64" dev eth0 nodad
  ip -n "flab-ecmp-$n" link set eth0 up
  i=$((i + 1))
done

echo "==> starting BIRD and two ferrolb nodes"
ip netns exec flab-ecmp-r bird -f -c "$conf/bird.conf" -s "$work/bird.ctl" -P "$work/bird.pid" >"$work/bird.log" 2>&1 &
pids+=($!)
for n in a b; do
  ip netns exec "flab-ecmp-$n" env RUST_LOG=info "$bin" run --config "$conf/node-$n.toml" >"$work/node-$n.log" 2>&1 &
  pids+=($!)
done

route() { ip -n flab-ecmp-r "$1" route show "$2" 2>/dev/null; }
multipath() { [ "$(route "$1" "$2" | grep -c 'nexthop via')" = 2 ]; }
echo "==> waiting for the multipath routes"
for _ in $(seq 1 120); do
  if multipath -4 198.51.100.10 && multipath -6 2001:db8:100::10; then break; fi
  sleep 0.5
done
if ! multipath -4 198.51.100.10; then
  echo "no multipath route; logs:" >&2
  cat "$work"/*.log >&2
  exit 1
fi
echo
echo "==> the router's FIB: one route, two next hops"
ip -n flab-ecmp-r -4 route show 198.51.100.10
ip -n flab-ecmp-r -6 route show 2001:db8:100::10
echo
echo "==> BIRD's paths for 198.51.100.10/32"
birdc -s "$work/bird.ctl" show route 198.51.100.10/32 all
echo
echo "==> stopping node-b with SIGTERM (2 s graceful shutdown, then withdraw)"
kill -TERM "${pids[2]}"
wait "${pids[2]}" || true
sleep 1
ip -n flab-ecmp-r -4 route show 198.51.100.10
echo
echo "==> done; removing the lab"
