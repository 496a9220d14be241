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
#	bench/run.sh -mode stream -warm 15s     # steady state: each target warmed before its measure
#	bench/run.sh -instructions 300          # instructions per request under callgrind (valgrind)
#	bench/run.sh -instructions 300 -cache-sim  # and the first-level cache misses per request
#
# -baseline-rev REV also builds sluice as of git revision REV and runs it
# in the same rounds, then prints each sluice target against it, round by
# round: the before/after measure of a change.
#
#	bench/run.sh -baseline-rev main -mode stream -rounds 6
set -eu
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM

# Take -baseline-rev out of the arguments; pass the rest on.
rev=
want_rev=
for arg do
	shift
	if [ -n "$want_rev" ]; then
		rev=$arg
		want_rev=
		continue
	fi
	case $arg in
	-baseline-rev | --baseline-rev) want_rev=1 ;;
	-baseline-rev=* | --baseline-rev=*) rev=${arg#*=} ;;
	*) set -- "$@" "$arg" ;;
	esac
done
if [ -n "$want_rev" ]; then
	echo "bench/run.sh: -baseline-rev needs a git revision" >&2
	exit 2
fi

go build -o "$dir/sluice" ./cmd/sluice
go build -o "$dir/sluice-loadbench" ./cmd/sluice-loadbench
if [ -n "$rev" ]; then
	# Named by its commit, which the comparison's heading shows.
	base="$dir/sluice-$(git rev-parse --short "$rev^{commit}")"
	mkdir "$dir/baseline-src"
	git archive "$rev" | tar -x -C "$dir/baseline-src"
	(cd "$dir/baseline-src" && go build -o "$base" ./cmd/sluice)
	set -- -baseline "$base" "$@"
fi
"$dir/sluice-loadbench" -external -sluice "$dir/sluice" "$@"
