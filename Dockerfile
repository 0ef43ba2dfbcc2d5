# ferrolb's image for users with a Docker engine (or `podman build`). scripts/image.sh builds the
# same image without Docker: a statically linked binary in an image FROM scratch.
#
#   docker build -t ghcr.io/ferrolb/ferrolb:0.1.0 .
#
# The tag the DaemonSet runs lives in deploy/ferrolb.yaml; tests/image.rs keeps it equal to the
# version in Cargo.toml.

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
# glibc, linked statically (crt-static works on the gnu target); no libc in the final image.
RUN RUSTFLAGS="-C target-feature=+crt-static" \
      cargo build --release --locked --target x86_64-unknown-linux-gnu --bin ferrolb \
 && ! readelf -l target/x86_64-unknown-linux-gnu/release/ferrolb | grep -q INTERP \
 && install -D -m 0755 --strip target/x86_64-unknown-linux-gnu/release/ferrolb /out/ferrolb \
 && install -d -m 1777 /out/tmp

FROM scratch
COPY --from=build /out/ /
EXPOSE 179/tcp 7473/tcp
ENTRYPOINT ["/ferrolb"]
CMD ["run", "--config", "/etc/ferrolb/node.toml"]
LABEL org.opencontainers.image.title="ferrolb" \
      org.opencontainers.image.source="https://github.com/ferrolb/ferrolb" \
      org.opencontainers.image.licenses="Apache-2.0"
