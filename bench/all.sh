#!/usr/bin/env bash
# Every figure of DESIGN.md section 7 for both data shapes (the generator's
# default, and long sessions over many hours in few, large files) at
# 100 MB, 512 MB and 2 GB: bench/run.sh for each, then one summary table
# with the cost per MB of 2 GB against 100 MB, then the API and live bars.
# `make bench` runs this.
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

# The server's bars of DESIGN.md section 7, on the last data set measured
# above (by default 2 GB of long sessions; run.sh names it as below): API
# reads at 1,000 req/s, and an appended line reaching 100 WebSocket
# clients. BARS=0 skips them.
if [ "${BARS:-1}" != 0 ]; then
  api_data=${BENCH_DIR:-/tmp/ctm-bench-data}/claude-$size-seed${SEED:-1}
  [ "$shape" = default ] || api_data=$api_data-$shape
  if [ -n "${BILLING:-}" ] && [ "$BILLING" != 0 ]; then
    api_data=$api_data-billing
  fi
  echo "== API reads at 1,000 req/s for 30 s on $api_data"
  (cd "$root" && go run ./internal/server/loadtest -corpus "$api_data" -duration 30s)
  echo "== append to WebSocket: 100 clients, 200 appends"
  (cd "$root" && go run ./cmd/ctm-livebench -seed 100000)
fi
