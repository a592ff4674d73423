#!/usr/bin/env bash
# Every figure of DESIGN.md section 7 for both data shapes (the generator's
# default, and long sessions over many hours in few, large files) at
# 100 MB, 512 MB and 2 GB: bench/run.sh for each, then one summary table
# with the cost per MB of 2 GB against 100 MB. `make bench` runs this.
#
#   SIZES="100MB 512MB" SHAPES=long bash bench/all.sh [ctm-bench flags...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/ctm-bench-results.XXXXXX")
files=()
echo "load before: $(uptime)"
for shape in ${SHAPES:-default long}; do
  for size in ${SIZES:-100MB 512MB 2GB}; do
    echo "== $shape $size"
    f="$out/$shape-$size.json"
    SHAPE=$shape SIZE=$size bash "$root/bench/run.sh" -json "$f" "$@"
    files+=("$f")
    echo "load: $(uptime)"
  done
done
echo "== summary (results in $out)"
(cd "$root" && go run ./cmd/ctm-bench -summary "${files[@]}")
