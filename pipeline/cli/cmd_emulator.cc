// lockpipe emulator: the Tuya-compatible lock cloud on loopback, for tests,
// the demo and offline use.
#include <signal.h>

#include <cstring>
#include <iostream>

#include "base/log.h"
#include "emulator/server.h"
#include "pipeline/cli/command.h"

namespace lockpipe::cli {
namespace {

int RunEmulator(int argc, char** argv) {
  const std::string cmd = "emulator";
  po::options_description opts("Options");
  opts.add_options()("fixture", po::value<std::string>()->required(),
                     "JSON fixture: credentials, locks, preloaded captures")(
      "host", po::value<std::string>()->default_value("127.0.0.1"), "address to listen on")(
      "port", po::value<int>()->default_value(0), "port to listen on (0 = pick a free one)")(
      "tls", po::bool_switch(), "serve HTTPS (a self-signed certificate unless --cert/--key)")(
      "cert", po::value<std::string>()->default_value(""), "TLS certificate (PEM)")(
      "key", po::value<std::string>()->default_value(""), "TLS private key (PEM)")(
      "state-dir", po::value<std::string>()->default_value(""),
      "where the generated certificate and media go (default: a temporary folder removed on exit)")(
      "token-lifetime", po::value<int>()->default_value(7200), "access token lifetime, seconds")(
      "ticket-lifetime", po::value<int>()->default_value(300), "password-ticket lifetime, seconds")(
      "media-window", po::value<int>()->default_value(90),
      "latest/media/url returns captures at most this old, seconds")(
      "webhook", po::value<std::string>()->default_value(""),
      "POST an event here for every injected capture")(
      "webhook-secret-file", po::value<std::string>()->default_value(""),
      "file whose first line is the webhook HMAC key")(
      "webhook-secret-env", po::value<std::string>()->default_value(""),
      "environment variable holding the webhook HMAC key");
  po::positional_options_description pos;
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd, "lockpipe emulator --fixture FIXTURE.json [--port PORT] [--tls]", opts,
          pos,
          "Serves the remote-unlocking API (signed requests, tokens, tickets, lock state,\n"
          "encrypted media) like the Tuya cloud, on loopback, until SIGINT or SIGTERM.\n"
          "The first line on stdout is \"listening on URL\" (with the chosen port when\n"
          "--port 0); with --tls the second is \"ca certificate: FILE\" for clients to trust.\n"
          "Admin routes under /_emulator/ inject captures and faults (emulator/README.md).\n\n"
          "Examples:\n"
          "  lockpipe emulator --fixture samples/emulator-fixture.json --port 8787\n"
          "  lockpipe emulator --fixture samples/emulator-fixture.json --port 0 --tls --state-dir "
          "/tmp/emu\n"
          "  curl --data-binary @samples/media/astronaut.jpg \\\n"
          "    'http://127.0.0.1:8787/_emulator/devices/front-door/captures?kind=unlock'",
          &vm, &rc))
    return rc;

  emulator::ServerOptions o;
  o.fixture_path = vm["fixture"].as<std::string>();
  o.host = vm["host"].as<std::string>();
  o.port = vm["port"].as<int>();
  o.tls = vm["tls"].as<bool>();
  o.cert_file = vm["cert"].as<std::string>();
  o.key_file = vm["key"].as<std::string>();
  o.state_dir = vm["state-dir"].as<std::string>();
  o.token_lifetime_seconds = vm["token-lifetime"].as<int>();
  o.ticket_lifetime_seconds = vm["ticket-lifetime"].as<int>();
  o.media_window_seconds = vm["media-window"].as<int>();
  o.webhook_url = vm["webhook"].as<std::string>();
  if (o.port < 0 || o.port > 65535) return UsageError(cmd, "--port must be 0..65535");
  // Checked here, not only by Server::Start, so that a bad value is a usage
  // error (exit 2) rather than a failure to start (exit 1).
  if (o.token_lifetime_seconds < 1) return UsageError(cmd, "--token-lifetime must be at least 1");
  if (o.ticket_lifetime_seconds < 1) return UsageError(cmd, "--ticket-lifetime must be at least 1");
  if (o.media_window_seconds < 1) return UsageError(cmd, "--media-window must be at least 1");
  if (!o.webhook_url.empty() && o.webhook_url.rfind("http://", 0) != 0 &&
      o.webhook_url.rfind("https://", 0) != 0)
    return UsageError(cmd, "--webhook " + o.webhook_url + ": must start with http:// or https://");
  if ((!o.cert_file.empty() || !o.key_file.empty()) && !o.tls)
    return UsageError(cmd, "--cert and --key need --tls");
  SecretSource hook_secret{"", vm["webhook-secret-file"].as<std::string>(),
                           vm["webhook-secret-env"].as<std::string>()};
  if (!hook_secret.file.empty() || !hook_secret.env.empty()) {
    if (o.webhook_url.empty()) return UsageError(cmd, "a webhook secret needs --webhook URL");
    auto s = LoadSecret(hook_secret, "webhook secret");
    if (!s.ok()) return Fail(cmd, s.status());
    o.webhook_secret = std::move(*s);
  } else if (!o.webhook_url.empty()) {
    return UsageError(cmd, "--webhook needs --webhook-secret-file or --webhook-secret-env");
  }

  // Block the stop signals before any server thread exists, so every thread
  // inherits the mask and sigwait() below is the one place they arrive.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client hanging up must not kill the server

  auto server = emulator::Server::Start(o);
  if (!server.ok()) return Fail(cmd, server.status());
  std::cout << "listening on " << (*server)->base_url() << "\n";
  if (o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1")
    log::Warn("emulator: bound to " + o.host + ":" + std::to_string((*server)->port()) +
              ", not loopback: " + (*server)->base_url() +
              " is only how this machine reaches it. The admin routes (/_emulator/...) have no "
              "authentication: whoever reaches this port can inject captures and open locks");
  if (o.tls) std::cout << "ca certificate: " << (*server)->ca_cert_path() << "\n";
  std::cout.flush();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "lockpipe emulator: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping\n";
  (*server)->Stop();
  return kExitOk;
}

}  // namespace

LOCKPIPE_COMMAND("emulator", "serve the lock cloud API on loopback (tests, demo, offline use)",
                 RunEmulator);

}  // namespace lockpipe::cli
