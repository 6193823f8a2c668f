// A fixture for end-to-end tests of the real program with one lock: the
// emulator over loopback with one Bluetooth lock "gate", a rules file with one
// rule, the emulator's admin routes, and `lockpipe run` against it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "emulator/server.h"
#include "fetch/http_client.h"
#include "tests/testutil.h"

namespace lockpipe::testing {

class OneLockE2E : public ::testing::Test {
 protected:
  static constexpr const char* kClientId = "one-lock-client";
  static constexpr const char* kSecret = "one-lock-secret-0123456789abcdef";  // 32 characters

  // Starts the emulator and writes rules.toml with `rule` (TOML lines of one
  // [[rules]] entry, for the lock "gate").
  void StartWithRule(const std::string& rule) {
    const nlohmann::json fixture = {{"client_id", kClientId},
                                    {"access_secret", kSecret},
                                    {"devices", {{{"id", "gate"}, {"type", "bluetooth"}}}}};
    WriteFile(dir_.File("fixture.json"), fixture.dump());
    emulator::ServerOptions o;
    o.fixture_path = dir_.File("fixture.json");
    auto s = emulator::Server::Start(o);
    ASSERT_OK_R(s);
    server_ = std::move(s).value();
    WriteFile(dir_.File("rules.toml"),
              "[cloud]\nendpoint = \"" + server_->base_url() + "\"\ncredentials = \"env\"\n" +
                  "[detector]\nkind = \"cascade\"\n[outputs]\ndir = \"" + dir_.File("out") +
                  "\"\n[[devices]]\nid = \"gate\"\ntype = \"bluetooth\"\n[[rules]]\n" + rule);
  }

  // An admin call to the emulator; its JSON answer (null when it failed).
  nlohmann::json Admin(const std::string& method, const std::string& path,
                       const std::string& body = "", const std::string& type = "application/json") {
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
    return nlohmann::json::parse(res->body, nullptr, false);
  }

  // Injects samples/media/`sample` as an unlock request at the gate.
  void InjectUnlock(const std::string& sample) {
    const auto bytes = ReadFile(SourceDir() + "/samples/media/" + sample);
    Admin("POST", "/_emulator/devices/gate/captures?kind=unlock",
          std::string(bytes.begin(), bytes.end()), "application/octet-stream");
  }

  // The command line of `lockpipe run` with the rules, the credentials and
  // the journal file `journal`, then `args`.
  std::string RunCommand(const std::string& journal, const std::string& args) const {
    return std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" + kSecret + " " +
           ShellQuote(LockpipeBinary()) + " run -c " + ShellQuote(dir_.File("rules.toml")) +
           " --journal " + ShellQuote(dir_.File(journal)) + " " + args;
  }

  TempDir dir_;
  std::unique_ptr<emulator::Server> server_;
};

}  // namespace lockpipe::testing
