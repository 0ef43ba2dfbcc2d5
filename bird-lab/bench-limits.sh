#!/usr/bin/env bash
# What a peer can make ferrolb hold: its RSS while a BIRD floods it.
#
#   bird-lab/bench-limits.sh [N]    N routes from the flooding BIRD (default 1100000)
#
# ferrolb (AS 64512, 10 services) peers with one BIRD (AS 64500) across a veth pair between
# the namespaces flim-r and flim-n. Two runs:
#   ceiling:      no max_prefixes; BIRD exports N IPv6 /128 static routes (2001:db8:100::/64).
#                 ferrolb counts up to its 1,000,000-prefix ceiling and no further; measured:
#                 RSS before the session, RSS with the received set full, bytes per prefix.
#   max_prefixes: max_prefixes = 1000 and BIRD exports 2,000; measured: RSS before the session
#                 and after the third trip (Cease 6/1, back-off 5 s, 10 s, 20 s).
# Writes the table into BENCHMARKS.md (between the bench-limits.sh markers) and prints it.
# PROFILE=debug uses target/debug/ferrolb instead of building a release binary. Run as root;
# the namespaces and every process started are removed (by pid) on exit, Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/ferrolb-limits.XXXXXX)
N=${1:-1100000}
PROFILE=${PROFILE:-release}
bird_pid=
ferrolb_pid=

stop() {
  for p in $ferrolb_pid $bird_pid; do
    kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  ferrolb_pid= bird_pid=
}
cleanup() {
  set +e
  stop
  ip netns del flim-r 2>/dev/null
  ip netns del flim-n 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench-limits.sh: $*" >&2; exit 1; }

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, got '$N'"
. bird-lab/lib.sh
prepare_lab flim-r flim-n

lab_link flim-r flim-n vlim-r vlim-n ipv6

# $1 = routes to export, $2 = ipv4 | ipv6
bird_conf() {
  echo "router id 192.0.2.1;"
  echo "protocol device { scan time 10; }"
  echo "protocol static flood { $2;"
  if [ "$2" = ipv6 ]; then
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  route 2001:db8:100::%x:%x/128 blackhole;\n", int(i / 65536), i % 65536 }'
  else
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  route 198.18.%d.%d/32 blackhole;\n", int(i / 256), i % 256 }'
  fi
  echo "}"
  cat <<BIRD
protocol bgp ferrolb {
  local 192.0.2.1 as 64500;
  neighbor 192.0.2.2 as 64512;
  hold time 240;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 2;
  ipv4 { import none; export where proto = "flood"; };
  ipv6 { import none; export where proto = "flood"; };
}
BIRD
}

# $1 = max_prefixes
node_toml() {
  cat <<TOML
[node]
name = "limits"
router_id = "192.0.2.2"
asn = 64512
addresses = ["192.0.2.2", "2001:db8::2"]

[bgp]
listen = "0.0.0.0:179"
graceful_shutdown_time = 0

[[bgp.peers]]
name = "bird"
address = "192.0.2.1"
asn = 64500
hold_time = 240
connect_retry = 1
max_prefixes = $1

[http]
listen = "127.0.0.1:7473"
TOML
  for i in $(seq 1 10); do
    printf '\n[[services]]\nname = "s%d"\naddresses = ["198.51.100.%d"]\n' "$i" "$i"
  done
}

rss() { awk '/VmRSS/ { print $2 }' "/proc/$ferrolb_pid/status"; }
received() {
  ip netns exec flim-n curl -sf http://127.0.0.1:7473/status 2>/dev/null \
    | grep -o '"prefixes_received": *[0-9]*' | grep -o '[0-9]*$' | head -1 || true
}
start_ferrolb() { # $1 = max_prefixes
  node_toml "$1" >"$work/node.toml"
  RUST_LOG=info ip netns exec flim-n "$ferrolb" run --config "$work/node.toml" --log-format text \
    >"$work/ferrolb.log" 2>&1 &
  ferrolb_pid=$!
  sleep 2
}
start_bird() { # $1 = routes, $2 = family
  bird_conf "$1" "$2" >"$work/bird.conf"
  ip netns exec flim-r bird -f -c "$work/bird.conf" -s "$work/bird.ctl" -P "$work/bird.pid" \
    >"$work/bird.log" 2>&1 &
  bird_pid=$!
}

echo "==> ceiling: BIRD sends $N IPv6 /128, no max_prefixes"
start_ferrolb 0
rss_idle=$(rss)
start_bird "$N" ipv6
t0=$(date +%s)
until grep -q "counting stops" "$work/ferrolb.log" && [ "$(received)" = 1000000 ]; do
  [ $(( $(date +%s) - t0 )) -lt 600 ] || die "the received set did not reach the ceiling; $(tail -5 "$work/ferrolb.log")"
  sleep 1
done
sleep 5
rss_full=$(rss)
held=$(received)
per_prefix=$(( (rss_full - rss_idle) * 1024 / held ))
stop

echo "==> max_prefixes = 1000: BIRD sends 2000 IPv4 /32"
start_ferrolb 1000
rss_before=$(rss)
start_bird 2000 ipv4
t0=$(date +%s)
until [ "$(grep -c 'WARN.*prefix limit 1000 exceeded' "$work/ferrolb.log")" -ge 3 ]; do
  [ $(( $(date +%s) - t0 )) -lt 120 ] || die "no third trip; $(tail -5 "$work/ferrolb.log")"
  sleep 1
done
sleep 1
rss_after=$(rss)
trips=$(grep 'WARN.*prefix limit 1000 exceeded' "$work/ferrolb.log" | grep -o 'prefix limit.* s' | head -3)
stop

section_prefix=bench-limits.sh
cat >"$work/limits.md" <<MD

## What a flooding peer makes ferrolb hold

\`sudo bird-lab/bench-limits.sh $N\` (PROFILE=$PROFILE), $(date -u +%Y-%m-%d), $(nproc) cores
($(uname -m)), BIRD $(bird --version 2>&1 | awk '{ print $3 }'). One BIRD session; ferrolb with
10 services.

| run | ferrolb RSS before the session | RSS after | |
|---|---|---|---|
| no max_prefixes, BIRD sends $N IPv6 /128 | ${rss_idle} kB | ${rss_full} kB with ${held} prefixes held (the ceiling) | ≈ ${per_prefix} bytes per received prefix |
| max_prefixes = 1000, BIRD sends 2,000 IPv4 /32 | ${rss_before} kB | ${rss_after} kB after 3 trips | |

The three trips as ferrolb logged them:

\`\`\`
${trips}
\`\`\`
MD
write_section limits "$work/limits.md"
cat "$work/limits.md"
