#!/usr/bin/env bash
# The L2 lab: two ferrolb nodes and a client on one bridge, no router. Both nodes have the same
# services under an L2 advertisement and find each other with [cluster]; for each address one of
# them answers ARP/NDP. Shows which MAC the client learns, kills the owner (SIGKILL), and shows
# the client's neighbor entry move to the other node. Removes everything it made on exit, also
# on Ctrl-C or failure. Run as root. Needs: iputils-arping, ndisc6, iputils-ping (installed if missing), cargo.
#
# Topology (documentation addresses only):
#   [fl2-client] br0 192.0.2.1/24 2001:db8::1/64 ──┬── veth ── [fl2-a] 192.0.2.2  node-a
#                                                  └── veth ── [fl2-b] 192.0.2.3  node-b
#   services: 192.0.2.100-192.0.2.103 and 2001:db8::100 (mode = "l2"), UDP 7946 between the nodes
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/ferrolb-l2.XXXXXX)
pids=()
made=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "run as root: the lab creates network namespaces" >&2
  exit 1
fi
need=()
command -v arping >/dev/null 2>&1 || need+=(iputils-arping)
command -v ndisc6 >/dev/null 2>&1 || need+=(ndisc6)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo is needed to build ferrolb" >&2; exit 1; }

echo "==> building ferrolb"
cargo build --release --quiet
bin=$PWD/target/release/ferrolb

for ns in fl2-client fl2-a fl2-b; do
  if ip netns list | grep -qw "$ns"; then
    echo "namespace $ns already exists (another lab running?); remove it with: ip netns del $ns" >&2
    exit 1
  fi
done
echo "==> creating namespaces fl2-client (bridge), fl2-a, fl2-b"
for ns in fl2-client fl2-a fl2-b; do
  ip netns add "$ns"
  made+=("$ns")
  ip -n "$ns" link set lo up
done
ip -n fl2-client link add br0 type bridge
ip -n fl2-client addr add 192.0.2.1/24 dev br0
ip -n fl2-client addr add 2001:db8::1/64 dev br0 nodad
ip -n fl2-client link set br0 up
i=2
for n in a b; do
  ip link add "vl2-$n" netns fl2-client type veth peer name eth0 netns "fl2-$n"
  ip -n fl2-client link set "vl2-$n" master br0 up
  ip -n "fl2-$n" addr add "192.0.2.$i/24" dev eth0
  ip -n "fl2-$n" addr add "2001:db8::$i/64" dev eth0 nodad
  ip -n "fl2-$n" link set eth0 up
  i=$((i + 1))
done

node_toml() { # name, own address, the other's address
  cat <<EOF
[node]
name = "$1"

[bgp]
listen = ""                 # no BGP in this lab

[http]
listen = "127.0.0.1:7473"   # each namespace has its own loopback

[cluster]
listen = "$2:7946"
members = ["$3:7946"]

[[pools]]
name = "lan"
addresses = ["192.0.2.100-192.0.2.103", "2001:db8::100/126"]

[[advertisements]]
pools = ["lan"]
mode = "l2"
interfaces = ["eth0"]

[[services]]
name = "web"
addresses = ["192.0.2.100", "2001:db8::100"]

[[services]]
name = "api"
addresses = ["192.0.2.101"]

[[services]]
name = "dns"
addresses = ["192.0.2.102"]

[[services]]
name = "mail"
addresses = ["192.0.2.103"]
EOF
}
node_toml node-a 192.0.2.2 192.0.2.3 >"$work/a.toml"
node_toml node-b 192.0.2.3 192.0.2.2 >"$work/b.toml"
"$bin" check --config "$work/a.toml" >/dev/null

echo "==> starting ferrolb node-a and node-b"
declare -A pid_of
for n in a b; do
  ip netns exec "fl2-$n" env RUST_LOG=info "$bin" run --config "$work/$n.toml" >"$work/$n.log" 2>&1 &
  pid_of[$n]=$!
  pids+=($!)
done
declare -A mac
for n in a b; do mac[$n]=$(ip -n "fl2-$n" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2); done
echo "    node-a eth0 ${mac[a]}    node-b eth0 ${mac[b]}"

owner_of() { # address → the node the status of node $2 names
  ip netns exec "fl2-$2" "$bin" status --json 2>/dev/null | python3 -c '
import json, sys
ip = sys.argv[1]
for s in json.load(sys.stdin)["services"]:
    if ip in s["addresses"] and s["announced_by"]:
        print(s["announced_by"][0])' "$1"
}
echo "==> waiting for the nodes to agree on the owners"
for _ in $(seq 1 60); do
  a=$(owner_of 192.0.2.100 a || true)
  b=$(owner_of 192.0.2.100 b || true)
  [ -n "$a" ] && [ "$a" = "$b" ] && break
  sleep 0.5
done
[ -n "$a" ] && [ "$a" = "$b" ] || { echo "the nodes did not agree; logs:" >&2; cat "$work"/*.log >&2; exit 1; }

echo "==> ferrolb status on node-a"
ip netns exec fl2-a "$bin" status || true

echo "==> the client asks (arping / ndisc6 on br0)"
for ip in 192.0.2.100 192.0.2.101 192.0.2.102 192.0.2.103; do
  got=$(ip netns exec fl2-client arping -c 1 -w 2 -I br0 "$ip" | grep -io 'reply from.*\[[0-9a-f:]*\]' | grep -io '[0-9a-f:]\{17\}' | tr A-F a-f || true)
  who=unknown; [ "$got" = "${mac[a]}" ] && who=node-a; [ "$got" = "${mac[b]}" ] && who=node-b
  echo "    $ip is at $got ($who; status says $(owner_of "$ip" a))"
done
got=$(ip netns exec fl2-client ndisc6 -n -r 2 -w 1000 2001:db8::100 br0 | grep -i 'link-layer' | awk '{print tolower($NF)}' || true)
echo "    2001:db8::100 is at $got"

victim=$(owner_of 192.0.2.100 a)
v=${victim#node-}
other=$([ "$v" = a ] && echo b || echo a)
ip netns exec fl2-client ping -c 1 -W 1 192.0.2.100 >/dev/null 2>&1 || true   # resolves the neighbor entry
echo "==> the client's neighbor entry for 192.0.2.100 (owner $victim):"
echo "    $(ip -n fl2-client neigh show 192.0.2.100 dev br0)"

echo "==> SIGKILL of $victim (pid ${pid_of[$v]})"
start=$(date +%s%N)
kill -9 "${pid_of[$v]}"
wait "${pid_of[$v]}" 2>/dev/null || true
moved=""
for _ in $(seq 1 100); do
  if ip -n fl2-client neigh show 192.0.2.100 dev br0 | grep -qi "${mac[$other]}"; then moved=yes; break; fi
  sleep 0.05
done
ms=$((($(date +%s%N) - start) / 1000000))
echo "==> the client's neighbor entry for 192.0.2.100 after ${ms} ms:"
echo "    $(ip -n fl2-client neigh show 192.0.2.100 dev br0)"
[ -n "$moved" ] || { echo "the entry did not move to node-$other; logs:" >&2; cat "$work"/*.log >&2; exit 1; }
echo "    moved to node-$other (${mac[$other]}) by its gratuitous ARP"
echo "==> ferrolb status on node-$other"
ip netns exec "fl2-$other" "$bin" status || true
echo "==> done; removing the lab"
