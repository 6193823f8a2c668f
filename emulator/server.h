// The lock cloud emulator: a loopback HTTP(S) server that answers the Tuya
// remote-unlocking API (fetch/../remote-unlocking-api contract) like the cloud
// does -- signed requests, tokens, tickets, per-lock state and an audit,
// encrypted media in a storage route -- plus an admin interface under
// /_emulator/ for tests and demos (see emulator/README.md).
//
// Thread-safety: Server is safe to use from any thread; requests are served
// from httplib's worker threads against one mutex-guarded state. The Server
// owns its listening thread, its webhook thread and (when state_dir is empty)
// a private temporary folder that Stop() removes.
#pragma once

#include <memory>
#include <string>

#include "base/secret.h"
#include "base/status.h"

namespace lockpipe::emulator {

struct ServerOptions {
  std::string fixture_path;  // JSON fixture (credentials accepted, devices, captures)
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = pick a free port
  bool tls = false;
  std::string cert_file, key_file;  // TLS; empty = generate a self-signed cert (SAN 127.0.0.1 +
                                    // localhost) in state_dir
  std::string
      state_dir;  // generated cert + media storage; empty = a private temp dir removed on Stop
  int token_lifetime_seconds = 7200;
  int ticket_lifetime_seconds = 300;
  std::string webhook_url;  // when set, each injected capture is POSTed there as an event
  Secret webhook_secret;    // HMAC-SHA256 key for the event's X-Lockpipe-Signature header
  // Extensions beyond the shared interface (defaults keep the reference's behaviour).
  int media_window_seconds = 90;     // latest/media/url only returns captures this recent
  int max_clock_skew_seconds = 900;  // `t` further than this from now -> 1013
};

class Server {
 public:
  // Loads the fixture (every referenced capture file must exist), prepares
  // state_dir (and a certificate for TLS), binds and starts serving. Returns
  // once the socket is listening, so a client may connect right away.
  // Fails with a message naming the fixture file and field, the certificate
  // file, or the address that could not be bound.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // stops and joins
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  std::string base_url() const;      // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT"
  std::string ca_cert_path() const;  // PEM the client must trust for TLS ("" without TLS)
  // Stops accepting, finishes in-flight requests, drops webhook events not yet
  // sent (one in flight is bounded by its timeouts) and removes a private
  // state_dir. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockpipe::emulator
