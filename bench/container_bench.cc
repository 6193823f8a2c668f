// The media container's speed against its ceiling: OpenSSL's raw single-call
// EVP AES-CBC decrypt of the same buffer, measured in the same run. Prints the
// ratio of each lockpipe benchmark to that ceiling at the end.
//   build/bench/container_bench [--benchmark_min_time=1]
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdio>
#include <map>
#include <random>

#include "decoders/media_container.h"

namespace lockpipe::media {
namespace {

constexpr std::size_t kPayload = 64 << 20;  // 64 MiB: well past the caches
const Secret kKey("u8kstrtjm7qun83q");

const std::vector<std::uint8_t>& Sealed() {
  static const std::vector<std::uint8_t> sealed = [] {
    std::vector<std::uint8_t> plain(kPayload);
    std::mt19937 gen(1);
    for (auto& b : plain) b = static_cast<std::uint8_t>(gen());
    return std::move(Encrypt(kKey, plain)).value();
  }();
  return sealed;
}

// The ceiling: one EVP_DecryptUpdate + Final over the whole ciphertext.
void BM_RawEvpDecrypt(benchmark::State& state) {
  const auto& sealed = Sealed();
  std::vector<std::uint8_t> out(sealed.size());
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  const auto* key = reinterpret_cast<const unsigned char*>(kKey.reveal().data());
  for (auto _ : state) {
    int n1 = 0;
    int n2 = 0;
    EVP_DecryptInit_ex2(ctx, cipher, key, sealed.data() + kIvOffset, nullptr);
    EVP_DecryptUpdate(ctx, out.data(), &n1, sealed.data() + kHeaderSize,
                      static_cast<int>(sealed.size() - kHeaderSize));
    EVP_DecryptFinal_ex(ctx, out.data() + n1, &n2);
    benchmark::DoNotOptimize(out.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kPayload));
}
BENCHMARK(BM_RawEvpDecrypt)->Unit(benchmark::kMillisecond)->UseRealTime();

// lockpipe's streaming decryptor fed in chunks of state.range(0) bytes, into a
// reused output buffer (what the pipeline does as bytes arrive).
void BM_StreamDecrypt(benchmark::State& state) {
  const auto& sealed = Sealed();
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> out(chunk + kBlockSize);
  std::vector<std::uint8_t> tail;
  for (auto _ : state) {
    auto dec = StreamDecryptor::Create(kKey, "bench");
    for (std::size_t i = 0; i < sealed.size(); i += chunk) {
      auto n = dec->Update(std::span(sealed).subspan(i, std::min(chunk, sealed.size() - i)),
                           std::span<std::uint8_t>(out));
      benchmark::DoNotOptimize(n);
    }
    tail.clear();
    if (!dec->Finish(&tail).ok()) state.SkipWithError("decrypt failed");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kPayload));
}
BENCHMARK(BM_StreamDecrypt)
    ->Arg(4 << 10)
    ->Arg(16 << 10)
    ->Arg(64 << 10)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Random-access reads of state.range(0) bytes at random offsets.
void BM_RandomAccessRead(benchmark::State& state) {
  const auto& sealed = Sealed();
  auto reader =
      RandomAccessDecryptor::Open(std::make_unique<MemorySource>(std::span(sealed)), kKey);
  const auto len = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> buf(len);
  std::mt19937_64 gen(7);
  for (auto _ : state) {
    std::uint64_t off = gen() % (kPayload - len);
    auto n = (*reader)->ReadAt(off, buf);
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(len));
}
BENCHMARK(BM_RandomAccessRead)->Arg(1)->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

// Records bytes/second per benchmark so main can print ratios to the ceiling.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end()) rates[r.benchmark_name()] = it->second.value;
    }
  }
  std::map<std::string, double> rates;
};

}  // namespace
}  // namespace lockpipe::media

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  lockpipe::media::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto ceiling = reporter.rates.find("BM_RawEvpDecrypt/real_time");
  if (ceiling == reporter.rates.end() || ceiling->second <= 0) return 0;
  std::printf("\nRatio to the raw EVP ceiling (%.2f GB/s):\n", ceiling->second / 1e9);
  for (const auto& [name, rate] : reporter.rates) {
    std::printf("  %-40s %8.2f GB/s  %6.1f%%\n", name.c_str(), rate / 1e9,
                100.0 * rate / ceiling->second);
  }
  benchmark::Shutdown();
  return 0;
}
