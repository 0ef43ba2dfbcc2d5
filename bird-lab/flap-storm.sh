#!/usr/bin/env bash
# Flap storm: a peer that restarts N times must leak nothing in ferrolb.
#
#   bird-lab/flap-storm.sh [N]     N restarts (default 100)
#
# ferrolb (AS 64512, 20 services) peers with BIRD (AS 64500) across a veth pair between the
# namespaces fflap-r and fflap-n. BIRD is killed (SIGKILL: no NOTIFICATION, the kernel closes
# the socket) and started again N times; each time the script waits until BIRD has every route
# again, then keeps the session up STABLE_WAIT seconds (default 11: past the FSM's 10 s STABLE,
# so the idle-hold back-off starts afresh and the storm does not back off to 60 s) before the
# next kill. Recorded: ferrolb's RSS (VmRSS), open file descriptors and threads before the first
# kill and after the last session is back (after the same wait), whether the session came back
# every time, how long each took, and the back-off ferrolb logged. Written into BENCHMARKS.md
# (between the flap-storm.sh markers) and printed.
#
# PROFILE=debug uses target/debug/ferrolb instead of building a release binary. Run as root;
# the namespaces and every process started are removed (by pid) on exit, Ctrl-C or failure.
# Documentation addresses only (192.0.2.0/24, 198.51.100.0/24).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/ferrolb-flap.XXXXXX)
N=${1:-100}
STABLE_WAIT=${STABLE_WAIT:-11}
PROFILE=${PROFILE:-release}
bird_pid=
ferrolb_pid=

cleanup() {
  set +e
  for p in $ferrolb_pid $bird_pid; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  ip netns del fflap-r 2>/dev/null
  ip netns del fflap-n 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "flap-storm.sh: $*" >&2; exit 1; }

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, got '$N'"
. bird-lab/lib.sh
prepare_lab fflap-r fflap-n

lab_link fflap-r fflap-n vflap-r vflap-n

cat >"$work/bird.conf" <<BIRD
router id 192.0.2.1;
protocol device { scan time 10; }
protocol bgp ferrolb {
  local 192.0.2.1 as 64500;
  neighbor 192.0.2.2 as 64512;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 2;
  ipv4 { import all; export none; };
}
BIRD

services=20
{
  cat <<TOML
[node]
name = "flap"
router_id = "192.0.2.2"
asn = 64512
addresses = ["192.0.2.2"]

[bgp]
listen = "0.0.0.0:179"
graceful_shutdown_time = 0

[[bgp.peers]]
name = "bird"
address = "192.0.2.1"
asn = 64500
hold_time = 9
keepalive_time = 1
connect_retry = 1

[http]
listen = ""
TOML
  for i in $(seq 1 $services); do
    printf '\n[[services]]\nname = "s%d"\naddresses = ["198.51.100.%d"]\n' "$i" "$i"
  done
} >"$work/node.toml"

start_bird() {
  ip netns exec fflap-r bird -f -c "$work/bird.conf" -s "$work/bird.ctl" -P "$work/bird.pid" \
    >>"$work/bird.log" 2>&1 &
  bird_pid=$!
}
routes() { ip netns exec fflap-r birdc -s "$work/bird.ctl" show route count 2>/dev/null \
  | awk '/routes/ { print $1; exit }'; }
# Waits up to 120 s for BIRD to have every route; prints the seconds it took.
wait_routes() {
  local t0 n
  t0=$(date +%s.%N)
  for _ in $(seq 1 1200); do
    n=$(routes || true)
    if [ "${n:-0}" = "$services" ]; then
      echo "$(date +%s.%N) - $t0" | bc
      return 0
    fi
    sleep 0.1
  done
  return 1
}
sample() { # VmRSS kB, fds, threads
  local pid=$1
  echo "$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status") $(ls "/proc/$pid/fd" | wc -l) $(awk '/Threads/ { print $2 }' "/proc/$pid/status")"
}

start_bird
RUST_LOG=info ip netns exec fflap-n "$ferrolb" run --config "$work/node.toml" --log-format text \
  >"$work/ferrolb.log" 2>&1 &
ferrolb_pid=$!
wait_routes >/dev/null || die "the first session did not come up; ferrolb log: $(tail -20 "$work/ferrolb.log")"
sleep "$STABLE_WAIT"
read -r rss0 fds0 thr0 <<<"$(sample $ferrolb_pid)"
echo "==> before: RSS ${rss0} kB, ${fds0} fds, ${thr0} threads; $N restarts"

back=0
times=()
started=$(date +%s)
for i in $(seq 1 "$N"); do
  kill -9 "$bird_pid"; wait "$bird_pid" 2>/dev/null || true
  start_bird
  if t=$(wait_routes); then
    back=$((back + 1)); times+=("$t")
  else
    echo "restart $i: the session did not come back within 120 s" >&2
  fi
  sleep "$STABLE_WAIT"
  [ $((i % 10)) -eq 0 ] && echo "    $i restarts, $back back, RSS $(sample $ferrolb_pid)"
done
elapsed=$(( $(date +%s) - started ))
read -r rss1 fds1 thr1 <<<"$(sample $ferrolb_pid)"
echo "==> after: RSS ${rss1} kB, ${fds1} fds, ${thr1} threads"

sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] }')
worst=$(echo "$sorted" | tail -1 | awk '{ printf "%.2f", $1 }')
# The back-off as ferrolb logged it: the retry_in_s of every "session down".
backoffs=$(grep -o 'retry_in_s=[0-9.]*' "$work/ferrolb.log" | sort | uniq -c | awk '{ printf "%s× %s s, ", $1, substr($2, 12) }' | sed 's/, $//')
rss_pct=$(awk -v a="$rss0" -v b="$rss1" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')

section_prefix=flap-storm.sh
cat >"$work/flap.md" <<MD

## Flap storm: BIRD restarted $N times

\`sudo bird-lab/flap-storm.sh $N\` (PROFILE=$PROFILE), $(date -u +%Y-%m-%d), $(nproc) cores
($(uname -m)), BIRD $(bird --version 2>&1 | awk '{ print $3 }'). ferrolb with $services services
peers with BIRD; BIRD is SIGKILLed and started again $N times, each session kept up
${STABLE_WAIT} s (past the 10 s after which the idle-hold back-off starts afresh).

| | before | after $N restarts |
|---|---|---|
| ferrolb RSS (VmRSS) | ${rss0} kB | ${rss1} kB (${rss_pct} %) |
| open file descriptors | ${fds0} | ${fds1} |
| threads | ${thr0} | ${thr1} |

- session back after every restart: $back of $N (kill → BIRD has all $services routes: median
  ${median} s, worst ${worst} s); the whole storm took ${elapsed} s.
- back-off in ferrolb's log (\`session down ... retry_in_s\`): ${backoffs:-none logged}.
MD
write_section flap "$work/flap.md"
cat "$work/flap.md"
[ "$back" = "$N" ] || die "the session came back $back times out of $N"
