#!/usr/bin/env bash
# Builds the `bascule` image without a registry or a toolchain download: the host's cargo
# builds a stripped release binary (--locked), the base comes from scripts/docker-base.sh,
# and deploy/image/Dockerfile copies the binary in.
#   scripts/image.sh [tag]        (default bascule:latest)
# BASCULE_BIN=path uses an already built binary instead (CI uses its test build: a
# release build would not fit in its time budget next to the test build).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-bascule:latest}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bascule-target}"
docker image inspect bascule-base:bookworm >/dev/null 2>&1 || scripts/docker-base.sh bascule-base:bookworm
bin="${BASCULE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --locked --bin bascule
  bin="$CARGO_TARGET_DIR/release/bascule"
fi
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
strip -o "$context/bascule" "$bin"
docker build -q -t "$tag" -f deploy/image/Dockerfile "$context"
docker image inspect "$tag" --format '{{.Size}}' | awk -v t="$tag" '{printf "built %s: %.0f MB\n", t, $1/1e6}'
