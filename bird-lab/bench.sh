#!/usr/bin/env bash
# ferrolb against BIRD and GoBGP, side by side in one run on this machine.
#
#   bird-lab/bench.sh [N]              bulk: each sender announces N IPv6 /128 routes (default
#                                      100000) to one receiving BIRD, RUNS times (default 3),
#                                      median reported; then the memory run (10k services x 8
#                                      peers) and the change -> UPDATE latency benchmark
#   bird-lab/bench.sh --scaling [N...] the bulk measurement once per sender at each N
#                                      (default 10000 100000 1000000)
#   bird-lab/bench.sh --memory | --latency   only that part
#
# Writes the tables into BENCHMARKS.md (between the bench.sh markers, with the command, the date
# and the machine) and prints them. Run as root: it makes network namespaces fbench-rx and
# fbench-tx joined by a veth pair and removes them — and every process it started, by pid — on
# exit, Ctrl-C or failure. Installs bird2 and gobgpd when missing; needs cargo.
#
# Topology (documentation addresses only; routes come from 2001:db8:100::/64):
#   [fbench-rx] vfb-rx 2001:db8::1/64  <—veth—>  vfb-tx 2001:db8::2/64 [fbench-tx]
#   receiving BIRD, AS 64500, active            sender (ferrolb | BIRD | GoBGP), AS 64512, passive
#
# What is measured, per sender:
#   established->all  from the first poll that sees the session Established to the first poll
#                     that sees all N routes imported by the receiver (examples/bird_probe.rs
#                     on BIRD's control socket, ~0.1 ms apart);
#   withdraw all      from the trigger (ferrolb: SIGHUP with no services; BIRD: disable the
#                     static protocol; GoBGP: `gobgp global rib del all`) to zero routes at the
#                     receiver, the session staying up;
#   CPU               the sender process's user+system time from its start to the end of the
#                     withdrawal (loading the routes included: ferrolb parses and allocates N
#                     services, BIRD parses N static routes, gobgpd takes N injected paths);
#   peak RSS          the sender's VmHWM at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/ferrolb-bench.XXXXXX)
pids=()
RUNS=${RUNS:-3}

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  ip netns del fbench-rx 2>/dev/null
  ip netns del fbench-tx 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench.sh: $*" >&2; exit 1; }

mode=all
case "${1:-}" in
  --scaling)
    mode=scaling
    shift
    sizes=("$@")
    [ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
    RUNS=${RUNS_SCALING:-1}
    ;;
  --memory | --latency)
    mode=${1#--}
    sizes=(1)
    ;;
  *) sizes=("${1:-100000}") ;;
esac
for n in "${sizes[@]}"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, got '$n'"
done

[ "$(id -u)" = 0 ] || die "run as root: the benchmark creates network namespaces"
if ! command -v bird >/dev/null || ! command -v gobgpd >/dev/null; then
  echo "==> installing bird2 and gobgpd"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq bird2 gobgpd >/dev/null
fi
command -v cargo >/dev/null || die "cargo is needed to build ferrolb"
for ns in fbench-rx fbench-tx; do
  ! ip netns list | grep -qw "$ns" || die "namespace $ns exists (another bench running?); remove it with: ip netns del $ns"
done

echo "==> building ferrolb (release)"
cargo build --release --quiet --bin ferrolb --example bird_probe
bin=$root/target/release/ferrolb
probe=$root/target/release/examples/bird_probe
tck=$(getconf CLK_TCK)

ip netns add fbench-rx
ip netns add fbench-tx
ip link add vfb-rx netns fbench-rx type veth peer name vfb-tx netns fbench-tx
ip -n fbench-rx addr add 2001:db8::1/64 dev vfb-rx nodad
ip -n fbench-tx addr add 2001:db8::2/64 dev vfb-tx nodad
for ns in fbench-rx fbench-tx; do ip -n "$ns" link set lo up; done
ip -n fbench-rx link set vfb-rx up
ip -n fbench-tx link set vfb-tx up

# ---------------------------------------------------------------------------------------------
# The receiver: BIRD with one session per sender address, importing everything, exporting
# nothing, no kernel protocol (the FIB is not what we measure).

rx_conf() { # $1 = number of sessions
  cat <<EOF
router id 192.0.2.1;
log "$work/rx.log" { warning, error, fatal };
protocol device { scan time 10; }
EOF
  for i in $(seq 1 "$1"); do
    local local_addr=2001:db8::1 peer_addr=2001:db8::2
    [ "$i" -gt 1 ] && local_addr=2001:db8::1:$i peer_addr=2001:db8::2:$i
    cat <<EOF
protocol bgp tx$i {
  local $local_addr as 64500;
  neighbor $peer_addr as 64512;
  hold time 240;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 5;
  ipv6 { import all; export none; };
}
EOF
  done
}

rx_pid=""
start_rx() { # $1 = sessions
  rx_conf "$1" >"$work/rx.conf"
  ip netns exec fbench-rx bird -f -c "$work/rx.conf" -s "$work/rx.ctl" -P "$work/rx.pid" \
    >>"$work/rx.out" 2>&1 &
  rx_pid=$!
  pids+=("$rx_pid")
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
rxc() { birdc -s "$work/rx.ctl" "$@"; }

# Waits (bird_probe, one control connection, ~0.1 ms per poll) until the receiver's session
# tx1 is Established and has all $1 routes; sets t_est and t_full (epoch seconds).
wait_full() {
  local out
  out=$("$probe" "$work/rx.ctl" tx1 full "$1") || die "receiver did not get $1 routes; see $work"
  read -r t_est t_full <<<"$out"
}

# Waits until the receiver's session tx1 has zero routes, still Established; sets t_empty.
wait_empty() {
  t_empty=$("$probe" "$work/rx.ctl" tx1 empty) || die "the withdrawal did not complete; see $work"
}

cpu_of() { awk -v t="$tck" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
rss_of() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
wait_listen() { # $1 = port in fbench-tx
  local deadline=$((SECONDS + 120))
  while [ $SECONDS -lt $deadline ]; do
    ip netns exec fbench-tx ss -Hltn "sport = :$1" | grep -q . && return 0
    sleep 0.05
  done
  die "sender did not listen on port $1"
}

# ---------------------------------------------------------------------------------------------
# The senders. Each: start, wait until it holds its N routes and listens, start the receiver,
# measure, withdraw, measure, read CPU and RSS, stop everything.

ferrolb_conf() { # $1 = N services, $2 = number of peers
  cat <<EOF
[node]
name = "bench"
router_id = "192.0.2.2"
asn = 64512
addresses = ["2001:db8::2"]

[bgp]
listen = "[::]:179"
graceful_shutdown_time = 0

[http]
listen = ""

[[pools]]
name = "bench"
addresses = ["2001:db8:100::/64"]
EOF
  for i in $(seq 1 "$2"); do
    local addr=2001:db8::1 src=2001:db8::2
    [ "$i" -gt 1 ] && addr=2001:db8::1:$i src=2001:db8::2:$i
    printf '\n[[bgp.peers]]\nname = "rx%s"\naddress = "%s"\nsource_address = "%s"\nasn = 64500\npassive = true\nhold_time = 240\nfamilies = ["ipv6"]\n' "$i" "$addr" "$src"
  done
  awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "\n[[services]]\nname = \"svc-%07d\"\npool = \"bench\"\n", i }'
}

sender_pid=""
start_ferrolb() { # $1 = N
  ferrolb_conf "$1" 1 >"$work/ferrolb.toml"
  ip netns exec fbench-tx env RUST_LOG=warn "$bin" run --config "$work/ferrolb.toml" \
    >"$work/ferrolb.log" 2>&1 &
  sender_pid=$!
  pids+=("$sender_pid")
  wait_listen 179
}
withdraw_ferrolb() {
  ferrolb_conf 0 1 >"$work/ferrolb.toml"
  kill -HUP "$sender_pid"
}

# A sending BIRD's config head: router id, log file, device protocol, and N static IPv6 /128
# blackhole routes in protocol "services".
bird_static() { # $1 = N, $2 = router id, $3 = log file
  cat <<EOF
router id $2;
log "$3" { warning, error, fatal };
protocol device { scan time 10; }
EOF
  echo 'protocol static services {'
  echo '  ipv6;'
  awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  route 2001:db8:100::%x:%x/128 blackhole;\n", int(i / 65536), i % 65536 }'
  echo '}'
}

start_bird() { # $1 = N
  {
    bird_static "$1" 192.0.2.2 "$work/tx-bird.log"
    cat <<EOF
protocol bgp rx1 {
  local 2001:db8::2 as 64512;
  neighbor 2001:db8::1 as 64500;
  passive on;
  hold time 240;
  ipv6 { import none; export all; };
}
EOF
  } >"$work/tx-bird.conf"
  ip netns exec fbench-tx bird -f -c "$work/tx-bird.conf" -s "$work/tx-bird.ctl" \
    -P "$work/tx-bird.pid" >"$work/tx-bird.out" 2>&1 &
  sender_pid=$!
  pids+=("$sender_pid")
  wait_listen 179
  local deadline=$((SECONDS + 120))
  while [ $SECONDS -lt $deadline ]; do
    birdc -s "$work/tx-bird.ctl" show protocols services 2>/dev/null | grep -q ' up ' && return 0
    sleep 0.05
  done
  die "the sending BIRD's static protocol did not come up"
}
withdraw_bird() { birdc -s "$work/tx-bird.ctl" disable services >/dev/null; }

# GoBGP gets its N routes over BGP from a feeding BIRD in the same namespace (AS 64496, over
# addresses on lo), then re-announces them to the receiver. `gobgp mrt inject` would be the
# direct way, but the Debian GoBGP 3.10 accepts the injection stream and adds nothing (tried
# with IPv6 and IPv4 TABLE_DUMP_V2 records); `gobgp global rib add` per route is far too slow
# for N = 100k.
feeder_pid=""
start_gobgp() { # $1 = N
  ip -n fbench-tx addr replace 2001:db8:ff::1/128 dev lo nodad
  ip -n fbench-tx addr replace 2001:db8:ff::2/128 dev lo nodad
  cat >"$work/gobgpd.toml" <<EOF
[global.config]
  as = 64512
  router-id = "192.0.2.2"
  port = 179
  local-address-list = ["2001:db8::2", "2001:db8:ff::2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8::1"
    peer-as = 64500
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 240
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8:ff::1"
    peer-as = 64496
  [neighbors.transport.config]
    local-address = "2001:db8:ff::2"
  [neighbors.ebgp-multihop.config]
    enabled = true
    multihop-ttl = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
  {
    bird_static "$1" 192.0.2.3 "$work/feeder.log"
    cat <<EOF
protocol bgp gobgp {
  local 2001:db8:ff::1 as 64496;
  neighbor 2001:db8:ff::2 as 64512;
  multihop 2;
  strict bind on;
  connect delay time 1;
  connect retry time 1;
  ipv6 { import none; export all; next hop self; };
}
EOF
  } >"$work/feeder.conf"
  ip netns exec fbench-tx gobgpd -f "$work/gobgpd.toml" --api-hosts 127.0.0.1:50051 \
    --log-level warn >"$work/gobgpd.log" 2>&1 &
  sender_pid=$!
  pids+=("$sender_pid")
  wait_listen 50051
  ip netns exec fbench-tx bird -f -c "$work/feeder.conf" -s "$work/feeder.ctl" \
    -P "$work/feeder.pid" >"$work/feeder.out" 2>&1 &
  feeder_pid=$!
  pids+=("$feeder_pid")
  local have="" deadline=$((SECONDS + 600))
  while [ $SECONDS -lt $deadline ]; do
    have=$(ip netns exec fbench-tx gobgp global rib summary -a ipv6 2>/dev/null \
      | sed -n 's/.*[Dd]estination[s]*: *\([0-9]*\).*/\1/p' | head -1)
    [ "${have:-0}" -ge "$1" ] && return 0
    sleep 0.1
  done
  die "gobgpd holds ${have:-no} routes from the feeder, wanted $1"
}
# The feeder withdraws; gobgpd propagates the withdrawals to the receiver.
withdraw_gobgp() { birdc -s "$work/feeder.ctl" disable services >/dev/null; }

# One measurement: prints "est_to_all withdraw cpu rss".
measure() { # $1 = sender, $2 = N
  "start_$1" "$2"
  start_rx 1
  wait_full "$2"
  local t0=$EPOCHREALTIME
  "withdraw_$1"
  wait_empty
  local cpu rss
  cpu=$(cpu_of "$sender_pid")
  rss=$(rss_of "$sender_pid")
  echo "$(elapsed "$t_est" "$t_full") $(elapsed "$t0" "$t_empty") $cpu $rss"
  stop_pid "$rx_pid"
  stop_pid "$sender_pid"
  if [ -n "$feeder_pid" ]; then stop_pid "$feeder_pid"; feeder_pid=""; fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ---------------------------------------------------------------------------------------------

machine() {
  local cpu
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  echo "$(nproc) vCPU ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r); BIRD $(bird --version 2>&1 | awk '{ print $NF }'), GoBGP $(gobgpd --version 2>&1 | awk '{ print $NF }'), ferrolb $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

section_prefix=bench.sh
# shellcheck source=bird-lab/lib.sh
. bird-lab/lib.sh

bulk_table() { # $1 = N; appends rows to $work/table, sets ratio variables
  local n=$1 s r
  for s in ferrolb bird gobgp; do
    : >"$work/$s.runs"
    for r in $(seq 1 "$RUNS"); do
      echo "    $s, N=$n, run $r/$RUNS" >&2
      measure "$s" "$n" >>"$work/$s.runs"
      echo "      established->all, withdraw, CPU s, peak RSS MB: $(tail -1 "$work/$s.runs")" >&2
    done
    for col in 1 2 3 4; do
      awk -v c=$col '{ print $c }' "$work/$s.runs" | median >"$work/$s.m$col"
    done
  done
  local name
  for s in ferrolb bird gobgp; do
    case $s in ferrolb) name=ferrolb ;; bird) name="BIRD $(bird --version 2>&1 | awk '{ print $NF }')" ;; gobgp) name="GoBGP $(gobgpd --version 2>&1 | awk '{ print $NF }')" ;; esac
    printf '| %s | %s | %s s | %s s | %s s | %s MB |\n' "$name" "$n" \
      "$(cat "$work/$s.m1")" "$(cat "$work/$s.m2")" "$(cat "$work/$s.m3")" "$(cat "$work/$s.m4")" >>"$work/table"
  done
  ratio() { awk -v a="$(cat "$work/ferrolb.m$1")" -v b="$(cat "$work/$2.m$1")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
  printf '| ferrolb / BIRD | %s | %s× | %s× | %s× | %s× |\n' "$n" "$(ratio 1 bird)" "$(ratio 2 bird)" "$(ratio 3 bird)" "$(ratio 4 bird)" >>"$work/ratios"
  printf '| ferrolb / GoBGP | %s | %s× | %s× | %s× | %s× |\n' "$n" "$(ratio 1 gobgp)" "$(ratio 2 gobgp)" "$(ratio 3 gobgp)" "$(ratio 4 gobgp)" >>"$work/ratios"
}

header='| sender | N | established → all installed | withdraw all | sender CPU | sender peak RSS |
|---|---|---|---|---|---|'

run_bulk() {
  : >"$work/table"
  : >"$work/ratios"
  local n
  for n in "${sizes[@]}"; do
    echo "==> bulk: $n IPv6 /128 routes, $RUNS run(s) per sender"
    bulk_table "$n"
  done
  {
    echo "Command: \`bird-lab/bench.sh $*\` — $(date -u +%Y-%m-%d), median of $RUNS run(s) per sender."
    echo "Machine: $(machine)."
    echo
    echo "$header"
    cat "$work/table"
    echo
    echo "| ratio | N | established → all installed | withdraw all | CPU | peak RSS |"
    echo "|---|---|---|---|---|---|"
    cat "$work/ratios"
  } >"$work/section"
}

# Memory: ferrolb with 10k services and eight sessions (one receiving BIRD, eight addresses).
run_memory() {
  local n=10000 peers=8 i
  echo "==> memory: $n services x $peers peers"
  # BIRD locks a session on its neighbor address: eight sessions need eight address pairs.
  for i in $(seq 2 $peers); do
    ip -n fbench-rx addr add "2001:db8::1:$i/64" dev vfb-rx nodad
    ip -n fbench-tx addr add "2001:db8::2:$i/64" dev vfb-tx nodad
  done
  ferrolb_conf "$n" "$peers" >"$work/ferrolb.toml"
  ip netns exec fbench-tx env RUST_LOG=warn "$bin" run --config "$work/ferrolb.toml" \
    >"$work/ferrolb.log" 2>&1 &
  sender_pid=$!
  pids+=("$sender_pid")
  wait_listen 179
  start_rx "$peers"
  local deadline=$((SECONDS + 300)) full=0
  while [ $SECONDS -lt $deadline ]; do
    full=$({ rxc show protocols all 2>/dev/null || true; } | sed -n 's/.*Routes: *\([0-9]*\) imported.*/\1/p' | awk -v n=$n '$1 >= n' | wc -l)
    [ "$full" -ge $peers ] && break
    sleep 0.2
  done
  [ "$full" -ge $peers ] || die "only $full of $peers sessions received $n routes"
  sleep 1
  local rss hwm
  rss=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$sender_pid/status")
  hwm=$(rss_of "$sender_pid")
  stop_pid "$rx_pid"
  stop_pid "$sender_pid"
  for i in $(seq 2 $peers); do
    ip -n fbench-rx addr del "2001:db8::1:$i/64" dev vfb-rx
    ip -n fbench-tx addr del "2001:db8::2:$i/64" dev vfb-tx
  done
  {
    echo "Command: \`bird-lab/bench.sh\` (memory part) — $(date -u +%Y-%m-%d)."
    echo "Machine: $(machine)."
    echo
    echo "| ferrolb | services | sessions | RSS with every session full | peak RSS (VmHWM) | goal |"
    echo "|---|---|---|---|---|---|"
    echo "| standalone, one pool | $n | $peers (Established, $n routes each) | $rss MB | $hwm MB | < 30 MB |"
  } >"$work/memory"
}

run_latency() {
  echo "==> change -> first UPDATE byte: cargo bench --bench change_latency"
  cargo bench --quiet --bench change_latency >"$work/latency.out" 2>&1 || { cat "$work/latency.out" >&2; die "the latency benchmark failed"; }
  {
    echo "Command: \`cargo bench --bench change_latency\` (run by \`bird-lab/bench.sh\`) — $(date -u +%Y-%m-%d)."
    echo "Machine: $(machine)."
    echo
    sed -n '/^|/p' "$work/latency.out"
  } >"$work/latency"
}

case $mode in
  scaling)
    run_bulk --scaling "${sizes[@]}"
    write_section scaling "$work/section"
    cat "$work/section"
    ;;
  memory)
    run_memory
    write_section memory "$work/memory"
    cat "$work/memory"
    ;;
  latency)
    run_latency
    write_section latency "$work/latency"
    cat "$work/latency"
    ;;
  all)
    run_bulk "${sizes[0]}"
    run_memory
    run_latency
    write_section bulk "$work/section"
    write_section memory "$work/memory"
    write_section latency "$work/latency"
    cat "$work/section"
    echo
    cat "$work/memory"
    echo
    cat "$work/latency"
    ;;
esac
