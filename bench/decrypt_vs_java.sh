#!/usr/bin/env bash
# Whole-process comparison: `lockpipe decrypt` file to file against the
# reference Java demo on the same 256 MiB container, side by side in one run.
# Reports wall time and peak memory (GNU time) and the ratios.
#   bench/decrypt_vs_java.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
runs=${2:-3}
lockpipe=build/lockpipe
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
key=u8kstrtjm7qun83q

scripts/reference-java.sh "$work/java" || { echo "reference Java demo unavailable" >&2; exit 1; }
head -c $((size_mib << 20)) /dev/urandom > "$work/plain"
"$lockpipe" encrypt --key "$key" "$work/plain" -o "$work/sealed"

# Each run writes a new file: replacing an existing one makes ext4 start
# writing it back at once (auto_da_alloc), which times the disk, not the tool.
measure() {  # measure OUTPUT CMD... -> prints "seconds peak_kib" (best of $runs)
  local best_s="" best_kb="" out=$1
  shift
  for _ in $(seq "$runs"); do
    rm -f "$out"
    sync
    /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1
    read -r s kb < "$work/t"
    if [ -z "$best_s" ] || awk "BEGIN{exit !($s < $best_s)}"; then best_s=$s; best_kb=$kb; fi
  done
  echo "$best_s $best_kb"
}

read -r ls lkb < <(measure "$work/out.lockpipe" "$lockpipe" decrypt --key "$key" "$work/sealed" -o "$work/out.lockpipe")
cmp "$work/plain" "$work/out.lockpipe"
read -r js jkb < <(measure "$work/out.java" java -cp "$work/java" RefDriver dec "$key" "$work/sealed" "$work/out.java")
cmp "$work/plain" "$work/out.java"
printf '%-24s %10s %14s\n' "" "seconds" "peak RSS MiB"
printf '%-24s %10.2f %14.1f\n' "lockpipe decrypt" "$ls" "$(awk "BEGIN{print $lkb/1024}")"
printf '%-24s %10.2f %14.1f\n' "reference Java demo" "$js" "$(awk "BEGIN{print $jkb/1024}")"
printf 'lockpipe is %.1fx faster, with %.1fx less peak memory (%d MiB, best of %d runs)\n' \
  "$(awk "BEGIN{print $js/$ls}")" "$(awk "BEGIN{print $jkb/$lkb}")" "$size_mib" "$runs"
