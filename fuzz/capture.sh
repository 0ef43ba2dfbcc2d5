#!/usr/bin/env bash
# Captures what BIRD and FRR send on a BGP session, for the decode/open/walk seed corpus: each
# router runs in a network namespace, announcing IPv4 and IPv6 routes with communities to
# fuzz/capture.py in a second namespace (veth, 192.0.2.0/24 and 2001:db8::/64), which records
# every byte (OPEN, KEEPALIVE, UPDATEs, End-of-RIB, the answer to a ROUTE-REFRESH, and the
# NOTIFICATION the router sends on a malformed UPDATE). Writes fuzz/corpus/{decode,open,walk}/
# files named after BIRD/FRR; removes the namespaces and stops what it started, also on failure.
#
# Usage (root): fuzz/capture.sh
set -euo pipefail
cd "$(dirname "$0")"
for t in bird /usr/lib/frr/bgpd python3 ip; do
  command -v "$t" >/dev/null || { echo "fuzz/capture.sh: $t is missing" >&2; exit 1; }
done

tmp=$(mktemp -d)
ra=fzcap-r$$
rb=fzcap-c$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$ra" 2>/dev/null || true
  ip netns del "$rb" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$ra"
ip netns add "$rb"
ip link add fzcap0 netns "$ra" type veth peer name fzcap1 netns "$rb"
ip -n "$ra" addr add 192.0.2.1/24 dev fzcap0
ip -n "$rb" addr add 192.0.2.2/24 dev fzcap1
ip -n "$ra" addr add 2001:db8::1/64 dev fzcap0 nodad
ip -n "$rb" addr add 2001:db8::2/64 dev fzcap1 nodad
for n in "$ra" "$rb"; do ip -n "$n" link set lo up; done
ip -n "$ra" link set fzcap0 up
ip -n "$rb" link set fzcap1 up

record() { # name: runs the recorder until the router has had its say
  ip netns exec "$rb" python3 capture.py 192.0.2.2 "$tmp/$1.bin"
}

cat >"$tmp/bird.conf" <<'EOF'
router id 192.0.2.1;
protocol device { scan time 1; }
protocol static s4 {
  ipv4;
  route 198.51.100.0/24 blackhole;
  route 203.0.113.7/32 blackhole;
  route 198.51.100.128/25 blackhole;
}
protocol static s6 {
  ipv6;
  route 2001:db8:100::/64 blackhole;
  route 2001:db8:100::7/128 blackhole;
}
filter fzexport {
  bgp_community.add((64500, 100));
  bgp_large_community.add((64500, 1, 2));
  bgp_med = 10;
  accept;
}
protocol bgp cap {
  local 192.0.2.1 as 64500;
  neighbor 192.0.2.2 as 64512;
  connect delay time 1;
  graceful restart on;
  long lived graceful restart on;
  enable extended messages on;
  ipv4 { import none; export filter fzexport; add paths rx; };
  ipv6 { import none; export filter fzexport; next hop address 2001:db8::1; extended next hop off; };
}
EOF
ip netns exec "$ra" bird -f -c "$tmp/bird.conf" -s "$tmp/bird.ctl" -P "$tmp/bird.pid" &
pids+=($!)
record bird
kill "${pids[-1]}" 2>/dev/null || true

cat >"$tmp/bgpd.conf" <<'EOF'
frr defaults traditional
hostname frr-tor1
!
router bgp 65001
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 neighbor 192.0.2.2 remote-as 64512
 neighbor 192.0.2.2 timers connect 1
 address-family ipv4 unicast
  network 198.51.100.0/24 route-map out
  network 203.0.113.7/32
  neighbor 192.0.2.2 activate
  neighbor 192.0.2.2 addpath-tx-all-paths
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:100::/64 route-map out
  neighbor 192.0.2.2 activate
 exit-address-family
!
route-map out permit 10
 set community 64500:100 no-export
 set large-community 65001:1:2
 set local-preference 200
!
EOF
ip netns exec "$ra" /usr/lib/frr/bgpd -Z -n -S -f "$tmp/bgpd.conf" -i "$tmp/bgpd.pid" \
  --vty_socket "$tmp" -z "$tmp/zserv.api" -P 0 --log "file:$tmp/bgpd.log" &
pids+=($!)
record frr
kill "${pids[-1]}" 2>/dev/null || true

# The decode target's first byte: 1 = 4-octet AS (both offered it), not extended messages.
for r in bird frr; do
  [ -s "$tmp/$r.bin" ] || { echo "fuzz/capture.sh: nothing recorded from $r" >&2; exit 1; }
  mkdir -p corpus/decode corpus/open corpus/walk
  { printf '\001'; cat "$tmp/$r.bin"; } >"corpus/decode/$r-session"
  python3 - "$tmp/$r.bin" "$r" <<'EOF'
import struct, sys
data, name = open(sys.argv[1], "rb").read(), sys.argv[2]
n = 0
while len(data) >= 19:
    length, kind = struct.unpack("!HB", data[16:19])
    body, data = data[19:length], data[length:]
    if kind == 1:
        open(f"corpus/open/{name}-open", "wb").write(body)
    elif kind == 2:
        open(f"corpus/walk/{name}-update-{n}", "wb").write(b"\x01" + body)
        n += 1
print(f"{name}: {n} UPDATEs")
EOF
done
