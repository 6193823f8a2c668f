// Signed lock-API calls per second and their latency (p50/p99), against the
// emulator on loopback HTTP, with connection reuse on and off. The ratio of
// the two rows is the figure to quote (same run, same machine).
//
//   build/bench/api_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "emulator/server.h"
#include "fetch/credentials.h"
#include "fetch/tuya_lock_api.h"

namespace lockpipe {
namespace {

const char kClientId[] = "bench-client";
const char kSecret[] = "bench-secret-0123456789abcdefghi";  // 32 chars

// One emulator for the whole program, in a private temp folder.
class Emulator {
 public:
  static Emulator& Get() {
    static Emulator e;
    return e;
  }
  emulator::Server* server() { return server_.get(); }

 private:
  Emulator() {
    char tmpl[] = "/tmp/lockpipe-api-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    std::ofstream(dir_ + "/fixture.json")
        << R"({"client_id":")" << kClientId << R"(","access_secret":")" << kSecret
        << R"(","devices":[{"id":"zb","type":"zigbee","door_password":"123456"}]})";
    emulator::ServerOptions o;
    o.fixture_path = dir_ + "/fixture.json";
    auto s = emulator::Server::Start(o);
    if (!s.ok()) {
      std::fprintf(stderr, "emulator: %s\n", s.status().ToString().c_str());
      return;
    }
    server_ = std::move(s).value();
  }
  ~Emulator() {
    server_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
  std::unique_ptr<emulator::Server> server_;
};

void BM_SignedCall(benchmark::State& state) {
  emulator::Server* server = Emulator::Get().server();
  if (server == nullptr) {
    state.SkipWithError("emulator did not start");
    return;
  }
  CurlOptions http;
  http.reuse_connections = state.range(0) != 0;
  auto tokens = std::make_shared<TokenManager>(server->base_url(),
                                               TuyaCredentials{kClientId, Secret(kSecret)});
  auto api = MakeTuyaLockApi(tokens, http);
  if (!api.ok()) {
    state.SkipWithError(api.status().message().c_str());
    return;
  }
  // Token fetched outside the timed loop.
  if (!(*api)->GetRemoteUnlockMethods("zb").ok()) {
    state.SkipWithError("warm-up call failed");
    return;
  }
  std::vector<double> latencies_us;
  latencies_us.reserve(100000);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = (*api)->GetRemoteUnlockMethods("zb");
    const auto t1 = std::chrono::steady_clock::now();
    if (!r.ok()) {
      state.SkipWithError(r.status().message().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
    latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  if (latencies_us.empty()) return;
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us[std::min(
        latencies_us.size() - 1,
        static_cast<std::size_t>(p * static_cast<double>(latencies_us.size())))];
  };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(latencies_us.size()), benchmark::Counter::kIsRate);
  state.SetItemsProcessed(static_cast<std::int64_t>(latencies_us.size()));
}
BENCHMARK(BM_SignedCall)->ArgName("reuse")->Arg(1)->Arg(0)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace lockpipe

BENCHMARK_MAIN();
