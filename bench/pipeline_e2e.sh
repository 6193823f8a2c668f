#!/bin/sh
# Runs the end-to-end pipeline benchmarks (issue 5): throughput of the pipeline
# versus a naive sequential loop (photos and videos; on plain loopback, then
# with media answered 40 ms late as from a distant object store), the pipeline's peak RSS
# over N and 4N photos, and webhook -> unlock latency. Builds nothing: build
# first with
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && ninja -C build pipeline_e2e_bench
# Usage: bench/pipeline_e2e.sh [BUILD_DIR] [extra pipeline_e2e_bench arguments...]
#   e.g. bench/pipeline_e2e.sh build --photos 50 --videos 10 --latency-photos 50 --latency-videos 10
# Everything runs on 127.0.0.1 in one process (plus two short child runs) and
# stops by itself; temp files go under /tmp and are removed.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then build=$1; shift; fi
bin=$build/bench/pipeline_e2e_bench
if [ ! -x "$bin" ]; then
  echo "pipeline_e2e.sh: $bin not found: build it first (ninja -C $build pipeline_e2e_bench)" >&2
  exit 1
fi
set -x
exec "$bin" --samples "$repo/samples/media" --photos 200 --videos 40 --rss-factor 4 \
  --latency-photos 200 --latency-videos 40 --devices 4 --media-latency-ms 40 "$@"
