// Socket-level help for the project's HTTP servers (the webhook receiver in
// pipeline/webhook.cc and the lock cloud emulator), which are cpp-httplib 0.11
// servers: that library neither refuses a port another process listens on nor
// gives a way to end the connections it is still serving.
//
// Thread-safety: both functions may be called from any thread.
#pragma once

#include <string>

namespace lockpipe {

// Options for a listening socket, to pass to httplib::Server::set_socket_options
// before binding. SO_REUSEADDR only: a restarted server binds while its old
// connections sit in TIME_WAIT, but a port that another socket listens on is
// refused (EADDRINUSE). cpp-httplib's default also sets SO_REUSEPORT, with which
// a second server binds the same port and the kernel splits the traffic between
// the two.
void SetListenSocketOptions(int fd);

// Shuts down, in both directions and without closing them, this process's
// connected TCP sockets that were accepted on `host`:`port` (host as given to
// the server: a name, an address, or a wildcard such as 0.0.0.0). A server
// thread blocked reading or writing one of them sees end-of-file or an error at
// once and closes it itself, so no descriptor is closed under its owner.
// Call it after the server stopped accepting (its listening socket is closed):
// it is how a stop ends connections whose clients are still sending (a body at
// 1 byte/s) instead of waiting for them. Returns how many it shut down.
int ShutdownAcceptedConnections(const std::string& host, int port);

}  // namespace lockpipe
