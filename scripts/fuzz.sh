#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one at a time: each func FuzzXxx
# in a *_test.go (bench/ and deps/ left out), found anew on every run, for
# $FUZZTIME with one worker. The first target that fails stops the run and
# is named; go keeps its failing input in the package's
# testdata/fuzz/FuzzXxx/, where plain `go test` runs it from then on.
#
#   FUZZTIME=60s scripts/fuzz.sh          what `make fuzz` runs
#   FUZZTIME=4s scripts/fuzz.sh ./plc     only the targets of these packages
#
# FUZZMINIMIZETIME bounds how long go shrinks an input that found new
# code (or a failure): at go's default, 60 s, one such input can take a
# whole short run.
#
# Go 1.26 may report the end of -fuzztime itself as a failure, "context
# deadline exceeded" with no failing input (golang/go#75804, fixed in Go
# 1.27); it always does when the time ends before go has replayed the
# inputs it keeps from earlier runs. That is reported and passed over: a
# failing input is always written to testdata/fuzz/, a hang included
# (internal/fuzztest's watchdog).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-60s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
GO=${GO:-go}
export PKG_CONFIG_PATH=${PKG_CONFIG_PATH:-$PWD/deps/pkgconfig}
export CGO_ENABLED=${CGO_ENABLED:-1}

# "./pkg FuzzName" lines, sorted.
targets=$(find . \( -path ./deps -o -path ./bench -o -name testdata -o -name '.?*' \) -prune \
	-o -name '*_test.go' -type f -print |
	xargs grep -HoE '^func Fuzz[A-Za-z0-9_]*\(' |
	sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u)
if [ $# -gt 0 ]; then
	targets=$(for pkg in "$@"; do grep -E "^\./${pkg#./} " <<<"$targets" || true; done)
fi
if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
inputs() { ls "$1" 2>/dev/null || true; }

start=$SECONDS
n=0
while read -r pkg name; do
	t0=$SECONDS
	corpus=$pkg/testdata/fuzz/$name
	before=$(inputs "$corpus")
	echo "fuzz: $pkg $name for $FUZZTIME"
	if ! "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" \
		-parallel 1 "$pkg" 2>&1 | tee "$log"; then
		if grep -qx '    context deadline exceeded' "$log" && [ "$(inputs "$corpus")" = "$before" ]; then
			echo "fuzz: $pkg $name: go reported the end of its time as a failure (golang/go#75804); no input failed"
		else
			echo "fuzz: FAILED: $name in $pkg (above; an input the fuzzer found failing is kept in $corpus/)" >&2
			exit 1
		fi
	fi
	n=$((n + 1))
	echo "fuzz: $pkg $name passed in $((SECONDS - t0))s"
done <<<"$targets"
echo "fuzz: $n targets passed in $((SECONDS - start))s"
