// `lockpipe emulator` as a user runs it: prints where it listens, serves,
// and stops cleanly on SIGTERM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "tests/emulator/emu_client.h"
#include "tests/testutil.h"

namespace lockpipe::emulator {
namespace {

// Reads stdout of `fd` up to `lines` newlines, for at most `seconds`.
std::string ReadLines(int fd, int lines, int seconds) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::count(out.begin(), out.end(), '\n') < lines &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Waits for `pid` for at most `seconds`; returns its wait status or -1.
int WaitFor(pid_t pid, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

struct Child {
  pid_t pid = -1;
  int out = -1;
};

Child Spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

TEST(EmulatorCliTest, ServesOnAFreePortAndStopsOnSigterm) {
  lockpipe::testing::TempDir dir;
  const std::string fixture = testing::WriteTestFixture(dir.path());
  Child c = Spawn({lockpipe::testing::LockpipeBinary(), "emulator", "--fixture", fixture, "--port",
                   "0", "--tls", "--state-dir", dir.File("state")});
  ASSERT_GT(c.pid, 0);
  const std::string out = ReadLines(c.out, 2, 60);
  const std::string prefix = "listening on https://127.0.0.1:";
  ASSERT_EQ(out.rfind(prefix, 0), 0u) << out;
  const auto eol = out.find('\n');
  const int port = std::stoi(out.substr(prefix.size(), eol - prefix.size()));
  EXPECT_GT(port, 0);
  const std::string cert = dir.File("state") + "/emulator-cert.pem";
  EXPECT_EQ(out.substr(eol + 1), "ca certificate: " + cert + "\n");

  httplib::Client client("https://127.0.0.1:" + std::to_string(port));
  client.set_ca_cert_path(cert.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5, 0);
  auto health = client.Get("/_emulator/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  ASSERT_EQ(kill(c.pid, SIGTERM), 0);
  const int status = WaitFor(c.pid, 30);
  close(c.out);
  ASSERT_NE(status, -1) << "did not stop within 30 s of SIGTERM";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(EmulatorCliTest, BadFixtureFailsWithItsName) {
  lockpipe::testing::TempDir dir;
  lockpipe::testing::WriteFile(dir.File("f.json"), std::string(R"({"client_id":"c"})"));
  auto r = lockpipe::testing::RunShell(
      lockpipe::testing::ShellQuote(lockpipe::testing::LockpipeBinary()) + " emulator --fixture " +
      lockpipe::testing::ShellQuote(dir.File("f.json")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir.File("f.json") + ": access_secret: missing"), std::string::npos)
      << r.err;
  auto usage = lockpipe::testing::RunShell(
      lockpipe::testing::ShellQuote(lockpipe::testing::LockpipeBinary()) +
      " emulator --fixture x --webhook http://127.0.0.1:1/");
  EXPECT_EQ(usage.exit_code, 2) << usage.err;
}

TEST(EmulatorCliTest, BadValuesAreUsageErrors) {
  lockpipe::testing::TempDir dir;
  const std::string fixture = testing::WriteTestFixture(dir.path());
  const std::string emu = lockpipe::testing::ShellQuote(lockpipe::testing::LockpipeBinary()) +
                          " emulator --fixture " + lockpipe::testing::ShellQuote(fixture);
  for (const char* args : {"--token-lifetime 0", "--ticket-lifetime 0", "--media-window -5",
                           "--webhook ftp://x --webhook-secret-env HOME"}) {
    // `timeout`: were a value accepted, the emulator would serve until stopped.
    auto r = lockpipe::testing::RunShell("timeout 20 " + emu + " --port 0 " + args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find(std::string(args).substr(2, 6)), std::string::npos)
        << args << ": " << r.err;
  }
}

TEST(EmulatorCliTest, APortInUseIsAnErrorNamingTheAddress) {
  lockpipe::testing::TempDir dir;
  const std::string fixture = testing::WriteTestFixture(dir.path());
  Child first =
      Spawn({lockpipe::testing::LockpipeBinary(), "emulator", "--fixture", fixture, "--port", "0"});
  ASSERT_GT(first.pid, 0);
  const std::string out = ReadLines(first.out, 1, 60);
  const std::string prefix = "listening on http://127.0.0.1:";
  ASSERT_EQ(out.rfind(prefix, 0), 0u) << out;
  const std::string port = out.substr(prefix.size(), out.find('\n') - prefix.size());

  auto second = lockpipe::testing::RunShell(
      "timeout 20 " + lockpipe::testing::ShellQuote(lockpipe::testing::LockpipeBinary()) +
      " emulator --fixture " + lockpipe::testing::ShellQuote(fixture) + " --port " + port);
  kill(first.pid, SIGTERM);
  const int status = WaitFor(first.pid, 30);
  close(first.out);
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  EXPECT_NE(second.err.find("127.0.0.1:" + port), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("in use"), std::string::npos) << second.err;
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace lockpipe::emulator
