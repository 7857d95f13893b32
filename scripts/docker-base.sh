#!/usr/bin/env bash
# Builds a Debian bookworm base image without a registry: debootstrap into a folder, then
# `docker import`. Used where no image can be pulled.
#   scripts/docker-base.sh [tag] [package,package...]   (extra Debian packages to include)
set -euo pipefail
tag="${1:-bascule-base:bookworm}"
include="${2:+--include=$2}"
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase $include bookworm "$root" http://deb.debian.org/debian
# A server image needs no package caches, lists, translations or manuals (~130 MB).
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/locale/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
tar -C "$root" -c . | docker import - "$tag"
echo "built $tag"
