// One transient fault on the token call must not fail a poll round: the
// whole program against the real emulator over loopback, one injected fault
// of each kind (500, rate limit, cut answer) on GET /v1.0/token, then
// `lockpipe run --once`. And --once announces no back-off it will not do.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "emulator/server.h"
#include "fetch/http_client.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using nlohmann::json;
using testing::RunShell;
using testing::ShellQuote;
using testing::TempDir;

const char kClientId[] = "token-fault-client";
const char kSecret[] = "token-fault-secret-0123456789abc";  // 32 characters

class TokenFaultE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    json fixture = {{"client_id", kClientId},
                    {"access_secret", kSecret},
                    {"devices", {{{"id", "gate"}, {"type", "bluetooth"}}}}};
    testing::WriteFile(dir_.File("fixture.json"), fixture.dump());
    emulator::ServerOptions o;
    o.fixture_path = dir_.File("fixture.json");
    auto s = emulator::Server::Start(o);
    ASSERT_OK_R(s);
    server_ = std::move(s).value();
    testing::WriteFile(dir_.File("rules.toml"), "[cloud]\nendpoint = \"" + server_->base_url() +
                                                    "\"\ncredentials = \"env\"\n"
                                                    "[detector]\nkind = \"cascade\"\n"
                                                    "[outputs]\ndir = \"" +
                                                    dir_.File("out") +
                                                    "\"\n"
                                                    "[[devices]]\nid = \"gate\"\n"
                                                    "type = \"bluetooth\"\n"
                                                    "[[rules]]\nname = \"nobody\"\n"
                                                    "action = \"reject\"\nkind = \"unlock\"\n"
                                                    "faces = { max = 0 }\n");
  }

  json Admin(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& type = "application/json") {
    auto http = CurlHttpClient::Create(CurlOptions{});
    EXPECT_TRUE(http.ok());
    if (!http.ok()) return {};
    HttpRequest req;
    req.method = method;
    req.url = server_->base_url() + path;
    req.body = body;
    req.headers = {{"Content-Type", type}};
    auto res = (*http)->Send(req);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    if (!res.ok()) return {};
    return json::parse(res->body, nullptr, false);
  }

  testing::CommandResult RunOnce(const std::string& journal) {
    return RunShell(std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" + kSecret +
                    " " + ShellQuote(testing::LockpipeBinary()) + " run -c " +
                    ShellQuote(dir_.File("rules.toml")) + " --journal " +
                    ShellQuote(dir_.File(journal)) + " --once --no-alerts --json");
  }

  int TokensIssued() { return Admin("GET", "/_emulator/stats")["calls"].value("token", 0); }

  TempDir dir_;
  std::unique_ptr<emulator::Server> server_;
  int round_ = 0;
};

TEST_F(TokenFaultE2E, OneTransientTokenFaultIsRetried) {
  auto bytes = testing::ReadFile(testing::SourceDir() + "/samples/media/noface.jpg");
  for (const char* fault :
       {R"({"error_next": 1})", R"({"error_next": 1, "error_http": true})",
        R"({"rate_limit_next": 1})", R"({"rate_limit_next": 1, "rate_limit_code": 1199})",
        R"({"malformed_next": 1})"}) {
    SCOPED_TRACE(fault);
    Admin("POST", "/_emulator/reset");
    Admin("POST", "/_emulator/devices/gate/captures?kind=unlock",
          std::string(bytes.begin(), bytes.end()), "application/octet-stream");
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
