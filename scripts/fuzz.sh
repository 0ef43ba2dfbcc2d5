#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one after another, one
# libFuzzer worker each, and prints per target the executions, the time and the coverage
# (libFuzzer's final stat::number_of_executed_units, cov: and ft:).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]       (default: every target in fuzz/fuzz_targets)
#
# Installs what it needs: the nightly toolchain (rustup) and cargo-fuzz, when missing.
# Each target runs on a working copy of its corpus, fuzz/work/<target>/ (the checked-in
# fuzz/corpus/<target>/ copied in, and what earlier runs found kept), so runs add up; the
# checked-in corpus is not touched (minimise into it by hand: see README.md, Fuzzing).
# Build: release with debug assertions and overflow checks (-a), no sanitizer (-s none): the
# parsers are safe Rust, so AddressSanitizer would halve the speed and find nothing a panic
# does not. Logs go to fuzz/work/<target>.log.
#
# Exit status: 0 when no target crashed; 1 on a crash (or a timeout, or a leak), naming the
# reproducer under fuzz/artifacts/<target>/; 2 when the build fails.
set -euo pipefail
cd "$(dirname "$0")/.."

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

printf '%-10s %14s %9s %8s %8s %7s  %s\n' target executions seconds exec/s cov ft result
status=0
for t in "${targets[@]}"; do
  work=work/$t
  mkdir -p "$work" "artifacts/$t"
  if [ -d "corpus/$t" ]; then
    cp -n corpus/"$t"/* "$work"/ 2>/dev/null || true
  fi
  log=work/$t.log
  start=$(date +%s)
  rc=0
  cargo +nightly fuzz run "${flags[@]}" "$t" "$work" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 >"$log" 2>&1 || rc=$?
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
  if [ $rc -ne 0 ]; then
    grep -m1 -A12 -E "panicked at|ERROR: libFuzzer|==ERROR" "$log" | sed 's/^/    /' >&2 || true
    echo "    reproduce: cd fuzz && cargo +nightly fuzz run ${flags[*]} $t ${artifact:-fuzz/artifacts/$t/<file>}" >&2
    echo "    then copy it to fuzz/regressions/$t/ (tests/fuzz_corpus.rs replays it) once fixed" >&2
  fi
done
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(uname -m), $(nproc) cores, $(rustc +nightly --version | cut -d' ' -f1-2), $seconds s per target"
exit $status
