#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one after another, one
# libFuzzer worker each, and prints per target the executions, the time and the coverage
# (libFuzzer's final stat::number_of_executed_units, cov: and ft:).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]       (default: every target in fuzz/fuzz_targets)
#        scripts/fuzz.sh --cmin [TARGET...]           minimise fuzz/corpus/<target> ∪ fuzz/work/<target>
#                                                     into fuzz/corpus/<target> (-set_cover_merge=1)
#
# Installs what it needs: the nightly toolchain (rustup) and cargo-fuzz, when missing.
# Each target runs on a working copy of its corpus, fuzz/work/<target>/ (the checked-in
# fuzz/corpus/<target>/ copied in, and what earlier runs found kept), so runs add up; the
# checked-in corpus changes only with --cmin.
# Build: release with debug assertions and overflow checks (-a), no sanitizer (-s none): the
# parsers are safe Rust, so AddressSanitizer would halve the speed and find nothing a panic
# does not. Logs go to fuzz/work/<target>.log.
#
# Figures: each run's row per target goes to fuzz/work/<target>.last and its executions and
# seconds add up in fuzz/work/<target>.total (the working corpus's whole history); at the end
# the table of every target's last run and totals replaces the fuzz.sh:fuzzing section of
# BENCHMARKS.md (bird-lab/lib.sh's write_section), with the command, date and machine.
#
# Exit status: 0 when no target crashed; 1 on a crash (or a timeout, or a leak), naming the
# reproducer under fuzz/artifacts/<target>/; 2 when the build fails.
set -euo pipefail
cd "$(dirname "$0")/.."

cmin=false
if [ "${1:-}" = --cmin ]; then
  cmin=true
  shift
  set -- 0 "$@"
fi
seconds=${1:-60}
shift || true
case $seconds in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
  done
fi

flags=(-s none -a)
cd fuzz
mkdir -p work
if ! cargo +nightly fuzz build "${flags[@]}" >work/build.log 2>&1; then
  cat work/build.log >&2
  exit 2
fi

if $cmin; then
  for t in "${targets[@]}"; do
    rm -rf work/cmin && mkdir -p work/cmin "work/$t"
    # The text targets keep one input per edge (not per hit-count bucket): under 2 MB in all.
    keep=()
    case $t in config | manifest) keep=(-use_counters=0) ;; esac
    cargo +nightly fuzz run "${flags[@]}" "$t" work/cmin "corpus/$t" "work/$t" -- -set_cover_merge=1 "${keep[@]}" \
      >"work/$t.cmin.log" 2>&1 || { cat "work/$t.cmin.log" >&2; exit 1; }
    rm -rf "corpus/$t" && mv work/cmin "corpus/$t"
    echo "$t: $(ls "corpus/$t" | wc -l) files, $(du -sk "corpus/$t" | cut -f1) KB"
  done
  exit 0
fi

printf '%-10s %14s %9s %8s %8s %7s  %s\n' target executions seconds exec/s cov ft result
status=0
for t in "${targets[@]}"; do
  work=work/$t
  mkdir -p "$work" "artifacts/$t"
  if [ -d "corpus/$t" ]; then
    cp -n corpus/"$t"/* "$work"/ 2>/dev/null || true
  fi
  # The text targets' inputs are capped at 2 KB: a YAML or TOML parse dominates their cost,
  # and a longer input mostly repeats what a short one holds (fuzz/seeds.py keeps seeds under).
  extra=()
  case $t in config | manifest) extra=(-max_len=2048) ;; esac
  log=work/$t.log
  start=$(date +%s)
  rc=0
  cargo +nightly fuzz run "${flags[@]}" "$t" "$work" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 "${extra[@]}" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # The last status line (DONE, or the last pulse before a crash): "#N ... cov: C ft: F ...".
  last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  if [ -z "$execs" ]; then
    execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  fi
  result=ok
  if [ $rc -ne 0 ]; then
    status=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    result="CRASH (exit $rc): reproducer ${artifact:-not written, see fuzz/$log}"
  fi
  printf '%-10s %14s %9s %8s %8s %7s  %s\n' "$t" "${execs:-?}" "$took" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
  read -r total_execs total_seconds runs 2>/dev/null <"work/$t.total" || total_execs=0 total_seconds=0 runs=0
  total_execs=$((total_execs + ${execs:-0})) total_seconds=$((total_seconds + took)) runs=$((runs + 1))
  echo "$total_execs $total_seconds $runs" >"work/$t.total"
  [ $rc -eq 0 ] || result="crash: fuzz/artifacts/$t/$(basename "${artifact:-?}")"
  echo "| \`$t\` | $(date -u +%Y-%m-%d) | \`scripts/fuzz.sh $seconds $t\` | ${execs:-?} | $took | ${rate:-?} | ${cov:-?} | ${ft:-?} | $total_execs in $total_seconds s ($runs run(s)) | $result |" >"work/$t.last"
  if [ $rc -ne 0 ]; then
    grep -m1 -A12 -E "panicked at|ERROR: libFuzzer|==ERROR" "$log" | sed 's/^/    /' >&2 || true
    echo "    reproduce: cd fuzz && cargo +nightly fuzz run ${flags[*]} $t ${artifact:-fuzz/artifacts/$t/<file>}" >&2
    echo "    then copy it to fuzz/regressions/$t/ (tests/fuzz_corpus.rs replays it) once fixed" >&2
  fi
done
cd ..
machine() {
  local cpu
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  echo "$(nproc) vCPU ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r); $(rustc +nightly --version | cut -d' ' -f1-2), cargo-fuzz $(cargo +nightly fuzz --version | awk '{ print $NF }'), ferrolb $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
}
echo "Machine: $(machine)."
work=$(mktemp -d)
section_prefix=fuzz.sh
# shellcheck source=bird-lab/lib.sh
. bird-lab/lib.sh
{
  echo "Machine of the last run: $(machine)."
  echo
  echo "One libFuzzer worker, one target at a time; release build with overflow checks, no"
  echo "sanitizer (\`-s none -a\`). Executions, seconds, cov and ft are libFuzzer's final figures of"
  echo "that target's last run (\`stat::number_of_executed_units\`, the \`DONE\` line); the total"
  echo "adds up every run on the same working corpus (\`fuzz/work/\`)."
  echo
  echo "| target | date | command | executions | seconds | exec/s | cov | ft | total | result |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for f in fuzz/fuzz_targets/*.rs; do
    last=fuzz/work/$(basename "$f" .rs).last
    if [ -f "$last" ]; then cat "$last"; fi
  done
} >"$work/section"
write_section fuzzing "$work/section"
rm -rf "$work"
exit $status
