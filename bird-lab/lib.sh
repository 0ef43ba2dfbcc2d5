# Shared by the bench scripts (sourced, not run). The caller sets `work` (a scratch directory)
# and `section_prefix` (its script name, e.g. bench.sh) before calling.

# write_section NAME FILE: replaces the section between <!-- $section_prefix:NAME begin --> and
# <!-- $section_prefix:NAME end --> in BENCHMARKS.md with FILE (appends it when missing).
write_section() {
  local begin="<!-- $section_prefix:$1 begin -->" end="<!-- $section_prefix:$1 end -->" out=BENCHMARKS.md
  if grep -qF "$begin" "$out"; then
    awk -v b="$begin" -v e="$end" -v f="$2" '
      $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
      $0 == e { skip = 0 }
      !skip { print }' "$out" >"$work/bm.md"
    cp "$work/bm.md" "$out"
  else
    { echo; echo "$begin"; cat "$2"; echo "$end"; } >>"$out"
  fi
}

# machine [WHAT]: the machine line of a table header, `2 vCPU <cpu>, kernel <release>; [WHAT, ]ferrolb
# <commit>`.
machine() {
  local cpu
  cpu=$(awk -F: '/model name/ { print $2; exit }' /proc/cpuinfo | sed 's/^ *//')
  echo "$(nproc) vCPU ${cpu:-unknown CPU}, kernel $(uname -r); ${1:+$1, }ferrolb $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

# The checks the one-lab scripts (flap-storm.sh, bench-limits.sh) share: root, BIRD installed,
# their namespaces free, and the ferrolb binary of $PROFILE (built first when it is release).
# Needs $root, $PROFILE and die(); sets $ferrolb.
prepare_lab() {
  [ "$(id -u)" -eq 0 ] || die "run as root (network namespaces)"
  command -v bird >/dev/null || { apt-get install -y -qq bird2 >/dev/null || die "cannot install bird2"; }
  local ns
  for ns in "$@"; do
    ! ip netns list | grep -qw "$ns" || die "namespace $ns exists (another run?); remove it with: ip netns del $ns"
  done
  if [ "$PROFILE" = release ]; then
    cargo build --release --quiet --bin ferrolb
  fi
  ferrolb=$root/target/$PROFILE/ferrolb
  [ -x "$ferrolb" ] || die "no $ferrolb (cargo build${PROFILE/release/ --release})"
}

# lab_link R N VR VN [ipv6]: namespaces R (the router side, 192.0.2.1) and N (ferrolb's side,
# 192.0.2.2) joined by the veth pair VR/VN, up; with ipv6 also 2001:db8::1 and ::2.
lab_link() {
  ip netns add "$1"
  ip netns add "$2"
  ip link add "$3" netns "$1" type veth peer name "$4" netns "$2"
  ip -n "$1" addr add 192.0.2.1/24 dev "$3"
  ip -n "$2" addr add 192.0.2.2/24 dev "$4"
  if [ "${5:-}" = ipv6 ]; then
    ip -n "$1" addr add 2001:db8::1/64 dev "$3" nodad
    ip -n "$2" addr add 2001:db8::2/64 dev "$4" nodad
  fi
  ip -n "$1" link set lo up
  ip -n "$2" link set lo up
  ip -n "$1" link set "$3" up
  ip -n "$2" link set "$4" up
}
