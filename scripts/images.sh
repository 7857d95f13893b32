#!/usr/bin/env bash
# Builds every image deploy/compose.yaml uses, without a registry: bascule:latest (see
# scripts/image.sh) and bascule-tools:bookworm (HAProxy and Prometheus from Debian).
#   scripts/images.sh                 release binary (cargo build --release --locked)
#   BASCULE_BIN=path scripts/images.sh   an already built binary instead
set -euo pipefail
cd "$(dirname "$0")/.."
docker image inspect bascule-tools-base:bookworm >/dev/null 2>&1 \
  || scripts/docker-base.sh bascule-tools-base:bookworm haproxy,prometheus
docker build -q -t bascule-tools:bookworm deploy/tools
scripts/image.sh bascule:latest
