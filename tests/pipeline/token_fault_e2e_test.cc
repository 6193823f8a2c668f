// One transient fault on the token call must not fail a poll round: the
// whole program against the real emulator over loopback, one injected fault
// of each kind (500, rate limit, cut answer) on GET /v1.0/token, then
// `lockpipe run --once`. And --once announces no back-off it will not do.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/pipeline/one_lock_e2e.h"

namespace lockpipe {
namespace {

using nlohmann::json;
using testing::RunShell;

class TokenFaultE2E : public testing::OneLockE2E {
 protected:
  void SetUp() override {
    StartWithRule(
        "name = \"nobody\"\naction = \"reject\"\nkind = \"unlock\"\nfaces = { max = 0 }\n");
  }

  testing::CommandResult RunOnce(const std::string& journal) {
    return RunShell(RunCommand(journal, "--once --no-alerts --json"));
  }

  int TokensIssued() { return Admin("GET", "/_emulator/stats")["calls"].value("token", 0); }

  int round_ = 0;
};

TEST_F(TokenFaultE2E, OneTransientTokenFaultIsRetried) {
  for (const char* fault :
       {R"({"error_next": 1})", R"({"error_next": 1, "error_http": true})",
        R"({"rate_limit_next": 1})", R"({"rate_limit_next": 1, "rate_limit_code": 1199})",
        R"({"malformed_next": 1})"}) {
    SCOPED_TRACE(fault);
    Admin("POST", "/_emulator/reset");
    InjectUnlock("noface.jpg");
    Admin("POST", "/_emulator/faults", fault);
    const int tokens_before = TokensIssued();
    // A journal per round: each round's capture is new to it.
    const std::string journal = "j" + std::to_string(++round_) + ".db";
    auto r = RunOnce(journal);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("every poll failed"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("backing off"), std::string::npos) << r.err;
    // The fault was used up by the token call, and the capture decided.
    json faults = Admin("GET", "/_emulator/faults");
    EXPECT_EQ(faults["error_next"], 0);
    EXPECT_EQ(faults["rate_limit_next"], 0);
    EXPECT_EQ(faults["malformed_next"], 0);
    // One token issued; two when the first one's answer was cut.
    EXPECT_EQ(TokensIssued() - tokens_before,
              std::string(fault).find("malformed") != std::string::npos ? 2 : 1);
    const auto first = r.out.substr(0, r.out.find('\n'));
    json line = json::parse(first, nullptr, false);
    if (!line.is_object()) {
      ADD_FAILURE() << "no capture was decided: " << r.out;
      continue;
    }
    EXPECT_EQ(line.value("verdict", ""), "reject") << r.out;
    EXPECT_EQ(line.value("device", ""), "gate") << r.out;
  }
}

TEST_F(TokenFaultE2E, RunOnceAnnouncesNoBackOff) {
  // The cloud stays busy through every try of the token call: the poll
  // fails, and --once says so without promising a back-off it will not do.
  Admin("POST", "/_emulator/faults", R"({"rate_limit_next": 100})");
  auto r = RunOnce("busy.db");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("every poll failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("poll gate: cloud is busy"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("backing off"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lockpipe
