#!/bin/sh
# Runs the external load benchmark: builds sluice and sluice-loadbench,
# then measures sluice (request log on and off), a bare Go reverse proxy
# and nginx (when installed), each as its own process pinned to one core,
# with the load generator and mock provider on another, and prints the
# table. About four minutes with the defaults; any sluice-loadbench flag
# may follow, e.g.
#
#	bench/run.sh -rounds 5 -fixed 10s
#	bench/run.sh -mode stream -sluice-flags "--access-log=false"
set -eu
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
go build -o "$dir/sluice" ./cmd/sluice
go build -o "$dir/sluice-loadbench" ./cmd/sluice-loadbench
"$dir/sluice-loadbench" -external -sluice "$dir/sluice" "$@"
