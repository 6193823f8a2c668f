// Decoding cost through the decrypting AVIO path, with the same decode from a
// plaintext file as the baseline measured in the same run: the ratio is what
// the encrypted reader costs. Needs samples/media (run from anywhere: the path
// comes from LOCKPIPE_SOURCE_DIR or the current directory).
//
//   build/bench/decode_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "decoders/media_decoder.h"

namespace {

using lockpipe::Secret;
namespace media = lockpipe::media;

std::string Sample(const std::string& name) {
  const char* root = std::getenv("LOCKPIPE_SOURCE_DIR");
  return std::string(root ? root : ".") + "/samples/media/" + name;
}

std::optional<Secret> KeyFor(bool encrypted) {
  if (!encrypted) return std::nullopt;
  return Secret("lockpipesample16");
}

// args: encrypted (0/1), threads
void BM_FullDecode720p(benchmark::State& state) {
  const bool encrypted = state.range(0) != 0;
  media::DecodeOptions options;
  options.threads = static_cast<int>(state.range(1));
  std::int64_t frames = 0;
  for (auto _ : state) {
    auto src = media::OpenMediaFile(
        Sample(encrypted ? "astronaut_720p_moov_end.enc" : "astronaut_720p_moov_end.mp4"),
        KeyFor(encrypted));
    if (!src.ok()) {
      state.SkipWithError(src.status().ToString().c_str());
      return;
    }
    auto n = media::DecodeAllFrames(**src, options);
    if (!n.ok()) {
      state.SkipWithError(n.status().ToString().c_str());
      return;
    }
    frames += *n;
  }
  state.counters["fps"] =
      benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FullDecode720p)
    ->ArgsProduct({{0, 1}, {1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// First keyframe to a 320-wide BGR thumbnail. args: encrypted (0/1)
void BM_FirstThumbnail720p(benchmark::State& state) {
  const bool encrypted = state.range(0) != 0;
  media::ThumbnailRequest req;
  req.keyframes_only = true;
  req.max_width = 320;
  for (auto _ : state) {
    auto src = media::OpenMediaFile(
        Sample(encrypted ? "astronaut_720p_moov_end.enc" : "astronaut_720p_moov_end.mp4"),
        KeyFor(encrypted));
    if (!src.ok()) {
      state.SkipWithError(src.status().ToString().c_str());
      return;
    }
    auto t = media::ExtractThumbnails(**src, req);
    if (!t.ok()) {
      state.SkipWithError(t.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(t->front().image.data);
  }
}
BENCHMARK(BM_FirstThumbnail720p)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
