#!/usr/bin/env bash
# Builds ferrolb's OCI image on this machine, without Docker and without any registry:
#
#   1. a statically linked release binary (glibc with crt-static on the gnu target: a static-pie
#      with no program interpreter, which `readelf -l` must confirm),
#   2. an image FROM scratch holding only /ferrolb (and an empty /tmp), built with umoci into an
#      OCI image layout, entrypoint /ferrolb, command `run --config /etc/ferrolb/node.toml`,
#   3. two archives of it: an OCI archive and a docker-archive (`docker load`, `podman load`,
#      `ctr -n k8s.io images import`), tagged as deploy/ferrolb.yaml references it.
#
# The tag has one home: the `image:` line of deploy/ferrolb.yaml (tests/image.rs checks that it
# is ghcr.io/ferrolb/ferrolb:<the version in Cargo.toml>). The Dockerfile builds the same image for
# users with a Docker engine.
#
# Usage: scripts/image.sh            → target/image/{oci/, ferrolb-VERSION.oci.tar, ferrolb-VERSION.docker.tar}
# Installs umoci and skopeo (Debian) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

image=$(sed -n 's/^ *image: *\(ghcr.io\/ferrolb\/ferrolb:[^ ]*\) *$/\1/p' deploy/ferrolb.yaml)
if [ -z "$image" ] || [ "$(printf '%s\n' "$image" | wc -l)" -ne 1 ]; then
  echo "scripts/image.sh: expected exactly one 'image: ghcr.io/ferrolb/ferrolb:TAG' line in deploy/ferrolb.yaml" >&2
  exit 1
fi
tag=${image##*:}

need=()
command -v umoci >/dev/null 2>&1 || need+=(umoci)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  }
fi

triple=x86_64-unknown-linux-gnu
echo "==> static release binary ($triple, crt-static)"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --target "$triple" --bin ferrolb
bin=target/$triple/release/ferrolb
if readelf -l "$bin" | grep -q INTERP; then
  echo "scripts/image.sh: $bin is dynamically linked (it has a program interpreter):" >&2
  readelf -l "$bin" | grep -A1 INTERP >&2
  exit 1
fi

out=target/image
layout=$out/oci
bundle=$out/bundle
rm -rf "$layout" "$bundle"
mkdir -p "$out"
echo "==> OCI image $image (umoci, FROM scratch)"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci unpack --image "$layout:$tag" "$bundle" >/dev/null
# Stripped: the release profile keeps line tables for profiling (debug = 1); the image needs none.
install -m 0755 --strip "$bin" "$bundle/rootfs/ferrolb"
install -d -m 1777 "$bundle/rootfs/tmp"
umoci repack --image "$layout:$tag" "$bundle" >/dev/null
rm -rf "$bundle"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
umoci config --image "$layout:$tag" \
  --os linux --architecture amd64 \
  --config.entrypoint /ferrolb \
  --config.cmd run --config.cmd --config --config.cmd /etc/ferrolb/node.toml \
  --config.workingdir / \
  --config.exposedports 7473/tcp --config.exposedports 179/tcp \
  --config.label "org.opencontainers.image.title=ferrolb" \
  --config.label "org.opencontainers.image.version=$tag" \
  --config.label "org.opencontainers.image.revision=$commit" \
  --config.label "org.opencontainers.image.source=https://github.com/ferrolb/ferrolb" \
  --config.label "org.opencontainers.image.licenses=Apache-2.0"
umoci gc --layout "$layout"

rm -f "$out"/ferrolb-*.tar
skopeo copy --quiet "oci:$layout:$tag" "oci-archive:$out/ferrolb-$tag.oci.tar:$image"
skopeo copy --quiet "oci:$layout:$tag" "docker-archive:$out/ferrolb-$tag.docker.tar:$image"

echo "==> $image"
skopeo inspect --format 'digest {{.Digest}}  {{.Os}}/{{.Architecture}}  layers {{len .Layers}}' "oci:$layout:$tag"
ls -l "$out"/ferrolb-"$tag".*.tar
