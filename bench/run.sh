#!/usr/bin/env bash
# Side-by-side benchmark of ctm and ccusage on a generated Claude Code data
# set (DESIGN.md section 7). Builds ctm, ctm-gen and ctm-bench into a temp
# dir, generates the data set once (cached under $BENCH_DIR keyed by size
# and seed), then runs ctm-bench, which prints the ratios and PASS/MISS.
#
#   bench/run.sh [ctm-bench flags...]        e.g. bench/run.sh -runs 5 -json /tmp/bench.json
#   SHAPE=long bash bench/run.sh             long sessions in few, large files
#
# Environment: SIZE (600MB), SEED (1), SHAPE (default; or long), BILLING
# (set to 1 for ctm-gen -billing), BENCH_DIR (/tmp/ctm-bench-data),
# CCUSAGE (../shared/tools/ccusage.sh beside the repository).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
size=${SIZE:-600MB}
seed=${SEED:-1}
shape=${SHAPE:-default}
billing=${BILLING:-}
cache=${BENCH_DIR:-/tmp/ctm-bench-data}
ccusage=${CCUSAGE:-$root/../shared/tools/ccusage.sh}

bin=$(mktemp -d "${TMPDIR:-/tmp}/ctm-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT

echo "building into $bin" >&2
(cd "$root" && go build -o "$bin/ctm-gen" ./cmd/ctm-gen && go build -o "$bin/ctm-bench" ./cmd/ctm-bench)
ctm_flag=()
# ctm is built as `make build` builds the release: static (no cgo) and
# stripped. A default build links dynamically when cgo is on, and the
# dynamic loader alone adds about 0.6 ms to every process, a tenth of a
# warm report.
if (cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$bin/ctm" ./cmd/ctm); then
  ctm_flag=(-ctm "$bin/ctm")
else
  echo "warning: cmd/ctm does not build; measuring ccusage only" >&2
fi

# The default data set keeps its old cache name, so existing caches and
# results stay comparable; other shapes get their own.
data="$cache/claude-$size-seed$seed"
gen_flags=(-shape "$shape")
if [ "$shape" != default ]; then
  data="$data-$shape"
fi
if [ -n "$billing" ] && [ "$billing" != 0 ]; then
  data="$data-billing"
  gen_flags+=(-billing)
fi
if [ ! -f "$data/.ctm-gen.json" ]; then
  # Generate next to the final place and rename, so an interrupted run
  # never leaves a half-written data set that looks cached.
  mkdir -p "$cache"
  rm -rf "$data.tmp"
  "$bin/ctm-gen" -out "$data.tmp" -size "$size" -seed "$seed" "${gen_flags[@]}" >&2
  mv "$data.tmp" "$data"
else
  echo "using cached data set $data" >&2
fi

"$bin/ctm-bench" -data "$data" "${ctm_flag[@]}" -ccusage "$ccusage" "$@"
