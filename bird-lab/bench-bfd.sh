#!/usr/bin/env bash
# BFD: how fast a router forgets a dead ferrolb node, and what BFD costs ferrolb.
#
#   bird-lab/bench-bfd.sh            both parts; RUNS (default 20) failovers per configuration
#   bird-lab/bench-bfd.sh --failover | --cpu
#
# Failover: a receiving BIRD (AS 64500) and ferrolb (AS 64512, 10 services) in two namespaces
# joined by a veth pair. ferrolb's side is lost by dropping every packet on its veth (nftables
# in its namespace: the node is gone, as after a power or link failure; nothing is sent, not
# even a TCP FIN). Measured: from the drop to BIRD having none of ferrolb's routes
# (examples/bird_probe.rs on BIRD's control socket, a poll every ~0.1 ms), RUNS times each for
#   BFD 300 ms x 3 and BFD 100 ms x 3 (BIRD `protocol bfd` with the same interval and
#   multiplier, `bfd on`; hold time 90 s, so only BFD can be that fast), and
#   no BFD, hold time 3 s (keepalive 1 s): the fastest the BGP hold timer allows.
# The drop is lifted after each run and the next starts once BIRD has all routes again.
#
# CPU: 50 BFD sessions at 100 ms x 3 between one ferrolb and one BIRD (50 address pairs, static
# BIRD BFD neighbors; ferrolb's peers are passive with no BGP listener, so only BFD
# runs), both processes' user+system time over 60 s once all 50 are Up.
#
# Writes the tables into BENCHMARKS.md (between the bench-bfd.sh markers) and prints them. Run
# as root; makes namespaces fbfd-r and fbfd-n and removes them, and every process it started, by
# pid, on exit, Ctrl-C or failure. Documentation addresses only (192.0.2.0/24, 198.51.100.0/24).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/ferrolb-bfd.XXXXXX)
pids=()
RUNS=${RUNS:-20}

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  ip netns del fbfd-r 2>/dev/null
  ip netns del fbfd-n 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench-bfd.sh: $*" >&2; exit 1; }

mode=all
case "${1:-}" in
  --failover) mode=failover ;;
  --cpu) mode=cpu ;;
  "") ;;
  *) die "usage: bench-bfd.sh [--failover | --cpu]" ;;
esac

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces)"
command -v bird >/dev/null || { apt-get install -y -qq bird2 >/dev/null || die "cannot install bird2"; }
command -v nft >/dev/null || { apt-get install -y -qq nftables >/dev/null || die "cannot install nftables"; }
cargo build --release --quiet --bin ferrolb --example bird_probe
ferrolb=$root/target/release/ferrolb
probe=$root/target/release/examples/bird_probe
tck=$(getconf CLK_TCK)

ip netns add fbfd-r
ip netns add fbfd-n
ip link add vbfd-r netns fbfd-r type veth peer name vbfd-n netns fbfd-n
ip -n fbfd-r addr add 192.0.2.1/24 dev vbfd-r
ip -n fbfd-n addr add 192.0.2.2/24 dev vbfd-n
for ns in fbfd-r fbfd-n; do
  ip -n "$ns" link set lo up
done
ip -n fbfd-r link set vbfd-r up
ip -n fbfd-n link set vbfd-n up

bird_pid=
ferrolb_pid=
stop_all() {
  for p in $ferrolb_pid $bird_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  ferrolb_pid= bird_pid=
}

# $1 = BFD interval in ms ("" = no BFD), $2 = hold time
start_bird() {
  local interval=$1 hold=$2 bfd=""
  {
    echo "router id 192.0.2.1;"
    echo "protocol device { scan time 1; }"
    if [ -n "$interval" ]; then
      echo "protocol bfd { interface \"*\" { interval $interval ms; multiplier 3; }; }"
      bfd="bfd on;"
    fi
    echo "protocol bgp ferrolb { local 192.0.2.1 as 64500; neighbor 192.0.2.2 as 64512; passive on;"
    echo "  hold time $hold; keepalive time 1; connect retry time 1; error wait time 1, 2; $bfd"
    echo "  ipv4 { import all; export none; }; }"
  } >"$work/bird.conf"
  ip netns exec fbfd-r bird -f -c "$work/bird.conf" -s "$work/bird.ctl" -P "$work/bird.pid" 2>"$work/bird.log" &
  bird_pid=$!
  pids+=("$bird_pid")
}

# $1 = BFD interval in ms ("" = no BFD), $2 = hold time
start_ferrolb() {
  local interval=$1 hold=$2
  {
    printf '[node]\nname = "bench"\nrouter_id = "192.0.2.2"\nasn = 64512\naddresses = ["192.0.2.2"]\n'
    printf '[bgp]\nlisten = ""\ngraceful_restart_time = 0\ngraceful_shutdown_time = 0\n'
    printf '[[bgp.peers]]\nname = "bird"\naddress = "192.0.2.1"\nasn = 64500\nhold_time = %s\nkeepalive_time = 1\nconnect_retry = 1\n' "$hold"
    if [ -n "$interval" ]; then
      printf 'bfd_profile = "bench"\n[[bfd_profiles]]\nname = "bench"\nreceive_interval = %s\ntransmit_interval = %s\ndetect_multiplier = 3\n' "$interval" "$interval"
    fi
    printf '[[pools]]\nname = "bench"\naddresses = ["198.51.100.0/28"]\n[http]\nlisten = ""\n'
    for i in $(seq 1 10); do printf '[[services]]\nname = "svc-%s"\npool = "bench"\n' "$i"; done
  } >"$work/node.toml"
  RUST_LOG=warn ip netns exec fbfd-n "$ferrolb" run --config "$work/node.toml" 2>"$work/ferrolb.log" &
  ferrolb_pid=$!
  pids+=("$ferrolb_pid")
}

lose() { # drop everything on ferrolb's veth, both ways
  ip netns exec fbfd-n nft -f - <<'EOF'
table inet fbfd {
  chain in { type filter hook input priority 0; iifname "vbfd-n" drop; }
  chain out { type filter hook output priority 0; oifname "vbfd-n" drop; }
}
EOF
}
restore() { ip netns exec fbfd-n nft delete table inet fbfd; }
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
worst() { sort -g | tail -1; }

# $1 = label, $2 = interval ("" = none), $3 = hold; prints a table row
failover() {
  local label=$1 interval=$2 hold=$3 r t0 t1
  start_bird "$interval" "$hold"
  start_ferrolb "$interval" "$hold"
  : >"$work/runs"
  for r in $(seq 1 "$RUNS"); do
    timeout 120 "$probe" "$work/bird.ctl" ferrolb full 10 >/dev/null || die "$label: routes did not arrive (run $r); $(tail -3 "$work/ferrolb.log")"
    sleep 1 # BFD settles to its configured interval after the poll that follows Up
    t0=$EPOCHREALTIME
    lose
    t1=$(timeout 60 "$probe" "$work/bird.ctl" ferrolb gone) || die "$label: routes stayed (run $r)"
    elapsed_ms "$t0" "$t1" >>"$work/runs"
    echo "    $label run $r/$RUNS: $(tail -1 "$work/runs") ms" >&2
    restore
  done
  stop_all
  printf '| %s | %s | %s | %s |\n' "$label" "$(median <"$work/runs")" "$(worst <"$work/runs")" "$(sort -g "$work/runs" | head -1)"
}

cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

cpu() {
  local n=50 i a0 b0 a1 b1
  # One address pair per session (BIRD matches a new session by the peer's address).
  for i in $(seq 1 $n); do
    ip -n fbfd-r addr add "192.0.2.$((100 + i))/24" dev vbfd-r
    ip -n fbfd-n addr add "192.0.2.$((200 + i))/24" dev vbfd-n
  done
  {
    echo "router id 192.0.2.1;"
    echo "protocol device { scan time 1; }"
    echo "protocol bfd {"
    echo "  interface \"*\" { interval 100 ms; multiplier 3; };"
    for i in $(seq 1 $n); do echo "  neighbor 192.0.2.$((200 + i)) local 192.0.2.$((100 + i));"; done
    echo "}"
  } >"$work/bird.conf"
  ip netns exec fbfd-r bird -f -c "$work/bird.conf" -s "$work/bird.ctl" -P "$work/bird.pid" 2>"$work/bird.log" &
  bird_pid=$!
  pids+=("$bird_pid")
  {
    printf '[node]\nname = "bench"\nrouter_id = "192.0.2.2"\nasn = 64512\naddresses = ["192.0.2.2"]\n[bgp]\nlisten = ""\n'
    printf '[[bfd_profiles]]\nname = "fast"\nreceive_interval = 100\ntransmit_interval = 100\ndetect_multiplier = 3\n'
    for i in $(seq 1 $n); do
      printf '[[bgp.peers]]\nname = "r%s"\naddress = "192.0.2.%s"\nsource_address = "192.0.2.%s"\nasn = 64500\npassive = true\nbfd_profile = "fast"\n' "$i" "$((100 + i))" "$((200 + i))"
    done
    printf '[http]\nlisten = ""\n'
  } >"$work/node.toml"
  RUST_LOG=warn ip netns exec fbfd-n "$ferrolb" run --config "$work/node.toml" 2>"$work/ferrolb.log" &
  ferrolb_pid=$!
  pids+=("$ferrolb_pid")
  local up=0
  for _ in $(seq 1 300); do
    up=$(birdc -s "$work/bird.ctl" show bfd sessions 2>/dev/null | grep -c ' Up ' || true)
    [ "$up" -ge $n ] && break
    sleep 0.1
  done
  [ "$up" -ge $n ] || die "only $up of $n BFD sessions came up; $(tail -3 "$work/ferrolb.log")"
  sleep 2
  a0=$(cpu_of "$ferrolb_pid") b0=$(cpu_of "$bird_pid")
  sleep 60
  a1=$(cpu_of "$ferrolb_pid") b1=$(cpu_of "$bird_pid")
  up=$(birdc -s "$work/bird.ctl" show bfd sessions 2>/dev/null | grep -c ' Up ' || true)
  local rss
  rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$ferrolb_pid/status")
  stop_all
  printf '| ferrolb | %s | %s | %s |\n' "$(awk -v d=$((a1 - a0)) -v t="$tck" 'BEGIN { printf "%.2f", d / t / 60 * 100 }')" "$up" "$rss"
  printf '| BIRD %s (the other end) | %s | %s | – |\n' "$(bird --version 2>&1 | awk '{ print $NF }')" "$(awk -v d=$((b1 - b0)) -v t="$tck" 'BEGIN { printf "%.2f", d / t / 60 * 100 }')" "$up"
}

section_prefix=bench-bfd.sh
# shellcheck source=bird-lab/lib.sh
. bird-lab/lib.sh

if [ "$mode" != cpu ]; then
  echo "==> failover, $RUNS runs per configuration" >&2
  {
    echo
    echo "\`bird-lab/bench-bfd.sh\`, $(date -u +%Y-%m-%d), $(machine "BIRD $(bird --version 2>&1 | awk '{ print $NF }')"). Routes gone at BIRD after ferrolb's side is lost (every packet on its link dropped), $RUNS runs each:"
    echo
    echo "| detection | median ms | worst ms | best ms |"
    echo "|---|---:|---:|---:|"
    failover "BFD 300 ms x 3" 300 90
    failover "BFD 100 ms x 3" 100 90
    failover "no BFD, hold time 3 s" "" 3
    echo
  } >"$work/failover.md"
  cat "$work/failover.md"
  write_section failover "$work/failover.md"
fi
if [ "$mode" != failover ]; then
  echo "==> CPU of 50 BFD sessions at 100 ms x 3 (60 s)" >&2
  {
    echo
    echo "\`bird-lab/bench-bfd.sh --cpu\`, $(date -u +%Y-%m-%d), $(machine "BIRD $(bird --version 2>&1 | awk '{ print $NF }')"). 50 BFD sessions at 100 ms x 3 (each side sends 10 packets/s per session), 60 s once all are Up:"
    echo
    echo "| process | CPU % of one core | sessions Up at the end | peak RSS MB |"
    echo "|---|---:|---:|---:|"
    cpu
    echo
  } >"$work/cpu.md"
  cat "$work/cpu.md"
  write_section cpu "$work/cpu.md"
fi
