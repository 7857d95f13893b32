#!/usr/bin/env bash
# Builds a Debian bookworm base image without a registry: debootstrap into a folder, then
# `docker import`. Used where no image can be pulled.
set -euo pipefail
tag="${1:-bascule-base:bookworm}"
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
tar -C "$root" -c . | docker import - "$tag"
echo "built $tag"
