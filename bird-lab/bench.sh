#!/usr/bin/env bash
# ferrolb against BIRD, GoBGP and a replay of pre-encoded UPDATEs, side by side in one run.
#
#   bird-lab/bench.sh [N]              everything: the bulk measurement with IPv4 routes and again
#                                      with IPv6 routes (N each, default 100000, at most 131072),
#                                      RUNS times per sender (default 3, median reported); then the
#                                      memory run (10k routes x 8 sessions, ferrolb and BIRD) and
#                                      the change -> UPDATE latency benchmark
#   bird-lab/bench.sh --bulk [--ipv6] [N]   only the bulk table of one family (default IPv4)
#   bird-lab/bench.sh --scaling [--ipv4] [N...]   the bulk measurement once per sender at each N
#                                      (default 10000 100000 1000000; IPv6 unless --ipv4, as
#                                      IPv4 has 131072 benchmark addresses)
#   bird-lab/bench.sh --memory [--ipv6] | --latency   only that part
#
# Writes the tables into BENCHMARKS.md (between the bench.sh markers: bulk, bulk-ipv6, scaling,
# memory, latency; with the command, the date and the machine) and prints them. Run as root: it
# makes network namespaces fbench-rx and fbench-tx joined by a veth pair and removes them — and
# every process it started, by pid — on exit, Ctrl-C or failure. Installs bird2 and gobgpd when
# missing; needs cargo and python3.
#
# Topology (documentation addresses on the link; routes from benchmark/documentation ranges):
#   [fbench-rx] vfb-rx 192.0.2.1/24 2001:db8::1/64  <—veth—>  vfb-tx 192.0.2.2/24 2001:db8::2/64 [fbench-tx]
#   receiving BIRD, AS 64500, active                      sender, AS 64512, passive
# IPv4 runs: sessions over 192.0.2.x, N /32 routes from 198.18.0.0/15 (RFC 2544, 131072
# addresses). IPv6 runs: sessions over 2001:db8::x, N /128 routes from 2001:db8:100::/64.
#
# The senders, each announcing the same N routes:
#   ferrolb   standalone, N [[services]] allocated from one pool (config -> allocator ->
#             announcement table -> FSM);
#   BIRD      N static blackhole routes exported over BGP;
#   GoBGP     gobgpd with the N routes injected from an MRT TABLE_DUMP_V2 file (bird-lab/mrt.py,
#             `gobgp mrt inject global`, repeated until `gobgp global rib summary` holds all N);
#   replay    the floor: examples/replay.rs writes the N routes pre-encoded by the crate's
#             encoder (4096-byte UPDATEs) over one session after a minimal OPEN/KEEPALIVE, as
#             fast as the socket takes them; what the receiver can take, nothing less is
#             possible for any sender.
#
# What is measured, per sender:
#   established->all  from the first poll that sees the session Established to the first poll
#                     that sees all N routes imported by the receiver (examples/bird_probe.rs
#                     on BIRD's control socket, ~0.1 ms apart);
#   withdraw all      from the trigger (ferrolb: SIGHUP with no services; BIRD: disable the
#                     static protocol; GoBGP: `gobgp global rib del all`; replay: write the
#                     pre-encoded withdrawals) to zero routes at the receiver, the session up;
#   CPU               the sender process's user+system time from its start to the end of the
#                     withdrawal (loading the routes included: ferrolb parses and allocates N
#                     services, BIRD parses N static routes, gobgpd takes N injected paths,
#                     replay encodes N routes);
#   peak RSS          the sender's VmHWM at the end.
# Memory: ferrolb with 10k services and BIRD with 10k static routes, each exporting to the same
# eight sessions of one receiving BIRD; RSS once every session holds all routes, and VmHWM.
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
fam=""
sizes=()
args="$*"
while [ $# -gt 0 ]; do
  case $1 in
    --ipv4) fam=4 ;;
    --ipv6) fam=6 ;;
    --bulk | --scaling | --memory | --latency) mode=${1#--} ;;
    -*) die "unknown option $1 (see the header of bird-lab/bench.sh)" ;;
    *) sizes+=("$1") ;;
  esac
  shift
done
case $mode in
  scaling)
    [ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
    fam=${fam:-6}
    RUNS=${RUNS_SCALING:-1}
    ;;
  bulk | all)
    [ ${#sizes[@]} -gt 0 ] || sizes=(100000)
    [ ${#sizes[@]} -eq 1 ] || die "one N, please (--scaling takes several)"
    fam=${fam:-4}
    ;;
  memory | latency) sizes=(1) fam=${fam:-4} ;;
esac
for n in "${sizes[@]}"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, got '$n'"
  [ "$fam" = 6 ] || [ "$n" -le 131072 ] || [ "$mode" = memory ] || [ "$mode" = latency ] \
    || die "IPv4 routes come from 198.18.0.0/15, 131072 addresses: N=$n needs --ipv6"
done

[ "$(id -u)" = 0 ] || die "run as root: the benchmark creates network namespaces"
if ! command -v bird >/dev/null || ! command -v gobgpd >/dev/null; then
  echo "==> installing bird2 and gobgpd"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq bird2 gobgpd >/dev/null
fi
command -v cargo >/dev/null || die "cargo is needed to build ferrolb"
command -v python3 >/dev/null || die "python3 is needed to write GoBGP's MRT file"
for ns in fbench-rx fbench-tx; do
  ! ip netns list | grep -qw "$ns" || die "namespace $ns exists (another bench running?); remove it with: ip netns del $ns"
done

echo "==> building ferrolb (release)"
cargo build --release --quiet --bin ferrolb --example bird_probe --example replay
bin=$root/target/release/ferrolb
probe=$root/target/release/examples/bird_probe
replay=$root/target/release/examples/replay
tck=$(getconf CLK_TCK)

ip netns add fbench-rx
ip netns add fbench-tx
ip link add vfb-rx netns fbench-rx type veth peer name vfb-tx netns fbench-tx
ip -n fbench-rx addr add 192.0.2.1/24 dev vfb-rx
ip -n fbench-tx addr add 192.0.2.2/24 dev vfb-tx
ip -n fbench-rx addr add 2001:db8::1/64 dev vfb-rx nodad
ip -n fbench-tx addr add 2001:db8::2/64 dev vfb-tx nodad
for ns in fbench-rx fbench-tx; do ip -n "$ns" link set lo up; done
ip -n fbench-rx link set vfb-rx up
ip -n fbench-tx link set vfb-tx up

# The address family of what follows: sets afi (ipv4 | ipv6), plen (the link's prefix length)
# and pool (where the N routes come from).
set_family() {
  fam=$1
  if [ "$fam" = 4 ]; then
    afi=ipv4 plen=24 pool=198.18.0.0/15
  else
    afi=ipv6 plen=64 pool=2001:db8:100::/64
  fi
}

# addr rx|tx I: the address of side rx (…1) or tx (…2) for session I. Session 1 is the main
# pair; sessions 2..8 (memory run) get 192.0.2.1I / 192.0.2.2I or 2001:db8::1:I / 2001:db8::2:I.
addr() {
  local side=1
  [ "$1" = tx ] && side=2
  if [ "$fam" = 4 ]; then
    if [ "$2" -eq 1 ]; then echo "192.0.2.$side"; else echo "192.0.2.$side$2"; fi
  else
    if [ "$2" -eq 1 ]; then echo "2001:db8::$side"; else echo "2001:db8::$side:$2"; fi
  fi
}

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
    cat <<EOF
protocol bgp tx$i {
  local $(addr rx "$i") as 64500;
  neighbor $(addr tx "$i") as 64512;
  hold time 240;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 5;
  $afi { import all; export none; };
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

# Waits until all $2 sessions of the receiver hold $1 routes each.
wait_sessions_full() {
  local deadline=$((SECONDS + 300)) full=0
  while [ $SECONDS -lt $deadline ]; do
    full=$({ rxc show protocols all 2>/dev/null || true; } | sed -n 's/.*Routes: *\([0-9]*\) imported.*/\1/p' | awk -v n="$1" '$1 >= n' | wc -l)
    [ "$full" -ge "$2" ] && return 0
    sleep 0.2
  done
  die "only $full of $2 sessions received $1 routes"
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
  local listen="0.0.0.0:179"
  [ "$fam" = 6 ] && listen="[::]:179"
  cat <<EOF
[node]
name = "bench"
router_id = "192.0.2.2"
asn = 64512
addresses = ["$(addr tx 1)"]

[bgp]
listen = "$listen"
graceful_shutdown_time = 0

[http]
listen = ""

[[pools]]
name = "bench"
addresses = ["$pool"]
EOF
  for i in $(seq 1 "$2"); do
    printf '\n[[bgp.peers]]\nname = "rx%s"\naddress = "%s"\nsource_address = "%s"\nasn = 64500\npassive = true\nhold_time = 240\nfamilies = ["%s"]\n' \
      "$i" "$(addr rx "$i")" "$(addr tx "$i")" "$afi"
  done
  awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "\n[[services]]\nname = \"svc-%07d\"\npool = \"bench\"\n", i }'
}

sender_pid=""
start_ferrolb() { # $1 = N, $2 = sessions (default 1)
  ferrolb_conf "$1" "${2:-1}" >"$work/ferrolb.toml"
  # shellcheck disable=SC2086 # FERROLB_ENV: extra NAME=value words for ferrolb (experiments)
  ip netns exec fbench-tx env RUST_LOG=warn ${FERROLB_ENV:-} "$bin" run --config "$work/ferrolb.toml" \
    >"$work/ferrolb.log" 2>&1 &
  sender_pid=$!
  pids+=("$sender_pid")
  wait_listen 179
}
withdraw_ferrolb() {
  ferrolb_conf 0 1 >"$work/ferrolb.toml"
  kill -HUP "$sender_pid"
}

# A sending BIRD: N static blackhole routes in protocol "services" (IPv4: 198.18.0.0 + i /32,
# IPv6: 2001:db8:100::i /128) exported to $2 sessions (default 1).
start_bird() { # $1 = N, $2 = sessions
  local i
  {
    cat <<EOF
router id 192.0.2.2;
log "$work/tx-bird.log" { warning, error, fatal };
protocol device { scan time 10; }
protocol static services {
  $afi;
EOF
    if [ "$fam" = 4 ]; then
      awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  route 198.%d.%d.%d/32 blackhole;\n", 18 + int(i / 65536), int(i / 256) % 256, i % 256 }'
    else
      awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  route 2001:db8:100::%x:%x/128 blackhole;\n", int(i / 65536), i % 65536 }'
    fi
    echo '}'
    for i in $(seq 1 "${2:-1}"); do
      cat <<EOF
protocol bgp rx$i {
  local $(addr tx "$i") as 64512;
  neighbor $(addr rx "$i") as 64500;
  passive on;
  hold time 240;
  $afi { import none; export all; };
}
EOF
    done
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

# GoBGP: gobgpd with one neighbor (the receiver) and the N routes injected from an MRT file
# (bird-lab/mrt.py, written once per family and N, outside the measured process). The Debian
# GoBGP 3.10 CLI returns before the tail of its queue reaches gobgpd; mrt.py pads the file with
# repeats so the lost tail is repeats, and the injection is repeated until the RIB holds all N.
gobgp_cli() { ip netns exec fbench-tx gobgp "$@"; }
start_gobgp() { # $1 = N
  cat >"$work/gobgpd.toml" <<EOF
[global.config]
  as = 64512
  router-id = "192.0.2.2"
  port = 179
  local-address-list = ["$(addr tx 1)"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$(addr rx 1)"
    peer-as = 64500
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 240
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "$afi-unicast"
EOF
  local mrt="$work/routes-$afi-$1.mrt"
  [ -s "$mrt" ] || python3 bird-lab/mrt.py "$afi" "$1" "$(addr tx 1)" "$mrt"
  ip netns exec fbench-tx gobgpd -f "$work/gobgpd.toml" --api-hosts 127.0.0.1:50051 \
    --log-level warn >"$work/gobgpd.log" 2>&1 &
  sender_pid=$!
  pids+=("$sender_pid")
  wait_listen 50051
  local skip=--no-ipv6 have="" try
  [ "$fam" = 6 ] && skip=--no-ipv4
  for try in 1 2 3 4 5; do
    gobgp_cli mrt inject global "$skip" "$mrt" >>"$work/gobgp-inject.log" 2>&1 \
      || die "gobgp mrt inject failed; see $work/gobgp-inject.log"
    have=$(gobgp_cli global rib summary -a "$afi" 2>/dev/null \
      | sed -n 's/.*[Dd]estination[s]*: *\([0-9]*\).*/\1/p' | head -1)
    [ "${have:-0}" -ge "$1" ] && { wait_listen 179; return 0; }
    echo "      gobgpd holds ${have:-no} of $1 routes after injection $try, injecting again" >&2
  done
  die "gobgpd holds ${have:-no} routes after five injections, wanted $1"
}
withdraw_gobgp() { gobgp_cli global rib del all -a "$afi" >/dev/null; }

# The replay floor: examples/replay.rs, commands on stdin through a FIFO held open in fd
# replay_fd.
replay_fd=""
start_replay() { # $1 = N
  rm -f "$work/replay.in"
  mkfifo "$work/replay.in"
  ip netns exec fbench-tx "$replay" "$(addr tx 1 | sed 's/.*:.*/[&]/'):179" "$afi" "$1" \
    "$(addr tx 1)" <"$work/replay.in" >"$work/replay.out" 2>"$work/replay.log" &
  sender_pid=$!
  pids+=("$sender_pid")
  exec {replay_fd}>"$work/replay.in"
  wait_listen 179
}
withdraw_replay() { echo withdraw >&"$replay_fd"; }
stop_replay() {
  [ -n "$replay_fd" ] || return 0
  exec {replay_fd}>&-
  replay_fd=""
}

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
  stop_replay
  stop_pid "$rx_pid"
  stop_pid "$sender_pid"
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

senders=(ferrolb bird gobgp replay)
sender_name() {
  case $1 in
    ferrolb) echo ferrolb ;;
    bird) echo "BIRD $(bird --version 2>&1 | awk '{ print $NF }')" ;;
    gobgp) echo "GoBGP $(gobgpd --version 2>&1 | awk '{ print $NF }') (MRT-injected)" ;;
    replay) echo "replay floor (pre-encoded UPDATEs)" ;;
  esac
}

short_name() { sender_name "$1" | awk '{ print $1 }'; }

bulk_table() { # $1 = N; appends rows to $work/table and $work/ratios
  local n=$1 s r col
  for s in "${senders[@]}"; do
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
  for s in "${senders[@]}"; do
    printf '| %s | %s | %s s | %s s | %s s | %s MB |\n' "$(sender_name $s)" "$n" \
      "$(cat "$work/$s.m1")" "$(cat "$work/$s.m2")" "$(cat "$work/$s.m3")" "$(cat "$work/$s.m4")" >>"$work/table"
  done
  ratio() { # $1 = column, $2 = numerator sender, $3 = denominator sender
    awk -v a="$(cat "$work/$2.m$1")" -v b="$(cat "$work/$3.m$1")" 'BEGIN { if (b <= 0) print "n/a"; else printf (a / b < 0.1 ? "%.3f×" : "%.2f×"), a / b }'
  }
  local d
  for d in bird gobgp; do
    printf '| ferrolb / %s | %s | %s | %s | %s | %s |\n' "$(short_name $d)" "$n" \
      "$(ratio 1 ferrolb $d)" "$(ratio 2 ferrolb $d)" "$(ratio 3 ferrolb $d)" "$(ratio 4 ferrolb $d)" >>"$work/ratios"
  done
  # CPU and RSS of the replay are not a floor for anything (it holds the encoded bytes).
  for s in ferrolb bird gobgp; do
    printf '| %s / replay floor | %s | %s | %s | — | — |\n' "$(short_name $s)" "$n" \
      "$(ratio 1 $s replay)" "$(ratio 2 $s replay)" >>"$work/ratios"
  done
}

header='| sender | N | established → all installed | withdraw all | sender CPU | sender peak RSS |
|---|---|---|---|---|---|'

run_bulk() { # $1 = family; writes $work/section
  set_family "$1"
  : >"$work/table"
  : >"$work/ratios"
  local n what="IPv4 /32 routes from 198.18.0.0/15, sessions over 192.0.2.0/24"
  [ "$fam" = 6 ] && what="IPv6 /128 routes from 2001:db8:100::/64, sessions over 2001:db8::/64"
  for n in "${sizes[@]}"; do
    echo "==> bulk: $n $what; $RUNS run(s) per sender"
    bulk_table "$n"
  done
  {
    echo "Command: \`bird-lab/bench.sh $args\` — $(date -u +%Y-%m-%d), median of $RUNS run(s) per sender; $what."
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

# Memory: 10k routes and eight sessions to one receiving BIRD (eight address pairs: BIRD locks
# a session on its neighbor address), ferrolb (10k services) and then BIRD (10k static routes).
# memory_of SENDER N SESSIONS: sets mem_rss, mem_anon, mem_file and mem_hwm (MB).
memory_of() {
  "start_$1" "$2" "$3"
  start_rx "$3"
  wait_sessions_full "$2" "$3"
  sleep 1
  mem_rss=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$sender_pid/status")
  # The split: heap and stacks (RssAnon) against the program's own mapped pages (RssFile:
  # the binary's text and data as far as they were touched, shared with the page cache).
  mem_anon=$(awk '/RssAnon/ { printf "%.1f", $2 / 1024 }' "/proc/$sender_pid/status")
  mem_file=$(awk '/RssFile/ { printf "%.1f", $2 / 1024 }' "/proc/$sender_pid/status")
  mem_hwm=$(rss_of "$sender_pid")
  stop_pid "$rx_pid"
  stop_pid "$sender_pid"
}

run_memory() {
  set_family "$fam"
  local n=10000 peers=8 i
  echo "==> memory: $n routes x $peers sessions ($afi), ferrolb and BIRD"
  local nodad=()
  [ "$fam" = 6 ] && nodad=(nodad)
  for i in $(seq 2 $peers); do
    ip -n fbench-rx addr add "$(addr rx "$i")/$plen" dev vfb-rx "${nodad[@]}"
    ip -n fbench-tx addr add "$(addr tx "$i")/$plen" dev vfb-tx "${nodad[@]}"
  done
  local f b
  memory_of ferrolb $n $peers
  f=("$mem_rss" "$mem_hwm" "$mem_anon" "$mem_file")
  memory_of bird $n $peers
  b=("$mem_rss" "$mem_hwm" "$mem_anon" "$mem_file")
  for i in $(seq 2 $peers); do
    ip -n fbench-rx addr del "$(addr rx "$i")/$plen" dev vfb-rx
    ip -n fbench-tx addr del "$(addr tx "$i")/$plen" dev vfb-tx
  done
  local r0 r1
  r0=$(awk -v a="${f[0]}" -v b="${b[0]}" 'BEGIN { printf "%.2f", a / b }')
  r1=$(awk -v a="${f[1]}" -v b="${b[1]}" 'BEGIN { printf "%.2f", a / b }')
  {
    echo "Command: \`bird-lab/bench.sh $args\` (memory part) — $(date -u +%Y-%m-%d); $n $afi routes, $peers sessions to one receiving BIRD."
    echo "Machine: $(machine)."
    echo
    echo "| sender | routes | sessions | RSS with every session full | of it: anonymous (heap, stacks) / file-backed (binary) | peak RSS (VmHWM) |"
    echo "|---|---|---|---|---|---|"
    echo "| ferrolb standalone, $n services in one pool | $n | $peers (Established, $n routes each) | ${f[0]} MB | ${f[2]} / ${f[3]} MB | ${f[1]} MB |"
    echo "| $(sender_name bird), $n static routes | $n | $peers (Established, $n routes each) | ${b[0]} MB | ${b[2]} / ${b[3]} MB | ${b[1]} MB |"
    echo "| ferrolb / BIRD (goal ≤ 1.5×) | | | ${r0}× | | ${r1}× |"
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

bulk_marker() { if [ "$fam" = 6 ]; then echo bulk-ipv6; else echo bulk; fi; }

case $mode in
  scaling)
    run_bulk "$fam"
    write_section scaling "$work/section"
    cat "$work/section"
    ;;
  bulk)
    run_bulk "$fam"
    write_section "$(bulk_marker)" "$work/section"
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
    run_bulk 4
    write_section bulk "$work/section"
    cat "$work/section"
    echo
    run_bulk 6
    write_section bulk-ipv6 "$work/section"
    cat "$work/section"
    echo
    fam=4
    run_memory
    write_section memory "$work/memory"
    cat "$work/memory"
    echo
    run_latency
    write_section latency "$work/latency"
    cat "$work/latency"
    ;;
esac
