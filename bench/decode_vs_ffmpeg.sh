#!/usr/bin/env bash
# Whole-process comparison, same run, same thread count (1):
#   1. full decode of the 720p sample: `lockpipe probe --decode` on the ENCRYPTED
#      file vs `ffmpeg -threads 1 -i plain.mp4 -f null -` on the plaintext;
#   2. first-keyframe thumbnail: `lockpipe thumbnail` on the encrypted file vs
#      `ffmpeg -threads 1 -i plain.mp4 -frames:v 1 out.jpg` on the plaintext.
# Each command runs RUNS times (default 15) alternating; prints the median
# wall time of each and the ratio lockpipe/ffmpeg (target: <= 1.10 for 1,
# <= 1.00 for 2).
#   bench/decode_vs_ffmpeg.sh [path/to/lockpipe]
set -euo pipefail
cd "$(dirname "$0")/.."
LOCKPIPE=${1:-build/lockpipe}
RUNS=${RUNS:-15}
ENC=samples/media/astronaut_720p_moov_end.enc
PLAIN=samples/media/astronaut_720p_moov_end.mp4
KEY=lockpipesample16
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$LOCKPIPE" ] || { echo "no $LOCKPIPE: build it first" >&2; exit 1; }

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# time_cmd FILE CMD... : appends the wall time of one run to FILE
time_cmd() {
  local out=$1; shift
  local t0 t1
  t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
  echo "$t1 - $t0" | bc -l >>"$out"
}
compare() {  # compare NAME TARGET "LOCKPIPE CMD" "FFMPEG CMD"
  local name=$1 target=$2 a=$3 b=$4
  : >"$TMP/a"; : >"$TMP/b"
  eval "$a" >/dev/null 2>&1 && eval "$b" >/dev/null 2>&1 || { echo "$name: a command failed" >&2; exit 1; }
  for _ in $(seq "$RUNS"); do
    time_cmd "$TMP/a" bash -c "$a"
    time_cmd "$TMP/b" bash -c "$b"
  done
  local ma mb
  ma=$(median <"$TMP/a"); mb=$(median <"$TMP/b")
  printf '%-28s lockpipe %.4f s   ffmpeg %.4f s   ratio %.3f (target <= %s)\n' \
    "$name" "$ma" "$mb" "$(echo "$ma / $mb" | bc -l)" "$target"
  echo "  lockpipe: $a"
  echo "  ffmpeg:   $b"
}
echo "median of $RUNS runs each, $(nproc) cores, $(ffmpeg -version | head -n1 | cut -d' ' -f1-3)"
compare "full decode 720p (150 fr)" 1.10 \
  "$LOCKPIPE probe --decode --threads 1 --key $KEY $ENC" \
  "ffmpeg -v error -threads 1 -i $PLAIN -f null -"
compare "first keyframe thumbnail" 1.00 \
  "$LOCKPIPE thumbnail --threads 1 --keyframes --at 0 --key $KEY $ENC -o $TMP/l.jpg" \
  "ffmpeg -v error -y -threads 1 -i $PLAIN -frames:v 1 $TMP/f.jpg"
