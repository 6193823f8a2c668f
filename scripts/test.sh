#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing,
# builds (release, ASan+UBSan and TSan), runs every test (the concurrent ones
# under TSan too), and a short fuzz run.
#   scripts/test.sh            everything
#   SKIP_SANITIZE=1 scripts/test.sh   skip the sanitizer and fuzz passes (quicker local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

step() { printf '\n== %s\n' "$*"; }

step "installing missing Debian packages"
bash scripts/install-deps.sh

step "building (RelWithDebInfo) in build/"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOCKPIPE_WERROR=ON >/dev/null
ninja -C build -j "$JOBS"

step "running the test suite"
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 900)

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
  step "building with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLOCKPIPE_SANITIZE=ON \
    -DLOCKPIPE_BUILD_BENCH=OFF >/dev/null
  ninja -C build-asan -j "$JOBS"
  step "running the test suite under ASan+UBSan"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$JOBS" --timeout 1800)

  step "building the concurrent parts with ThreadSanitizer in build-tsan/"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLOCKPIPE_TSAN=ON \
    -DLOCKPIPE_BUILD_BENCH=OFF >/dev/null
  # The programs whose threads meet: the pipeline's stages, the poller and
  # the webhook, the emulator's server, the journal's writers.
  TSAN_TESTS="pipeline_pipeline_e2e_test pipeline_batch_list_test pipeline_webhook_test
    emulator_server_test pipeline_journal_test"
  # shellcheck disable=SC2086
  ninja -C build-tsan -j "$JOBS" $TSAN_TESTS
  step "running them under ThreadSanitizer"
  for t in $TSAN_TESTS; do
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$ROOT/tests/tsan.supp" \
      ./build-tsan/tests/"$t" --gtest_brief=1
  done

  step "fuzzing (libFuzzer, clang) for a short while"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DLOCKPIPE_FUZZ=ON -DLOCKPIPE_BUILD_BENCH=OFF >/dev/null
  fuzzers=$(cd tests/fuzz && ls *_fuzz.cc 2>/dev/null | sed 's/\.cc$//')
  for f in $fuzzers; do
    ninja -C build-fuzz -j "$JOBS" "$f"
    corpus=$(mktemp -d)
    [ -d "tests/fuzz/corpus/$f" ] && cp -r "tests/fuzz/corpus/$f/." "$corpus/"
    [ "$f" = avio_fuzz ] && cp samples/media/camera_360p.mp4 "$corpus/"
    ./build-fuzz/tests/"$f" -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=2048 \
      -print_final_stats=1 "$corpus" 2>&1 | tail -n 3
    rm -rf "$corpus"
  done
fi
step "all tests passed"
