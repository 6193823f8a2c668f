// The accept loop of a bound cpp-httplib server on a thread of its own, and
// the one way the project's HTTP servers (the webhook receiver and the lock
// cloud emulator) stop it: promptly, even with clients still sending.
//
// Header-only and templated on the server type so that base/ does not link
// cpp-httplib; `Server` needs listen_after_bind(), is_running() and stop().
//
// Thread-safety: Start and Stop are called by the owner, not concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "base/log.h"
#include "base/server_socket.h"

namespace lockpipe {

template <typename Server>
class ListenerThread {
 public:
  ListenerThread() = default;
  ListenerThread(const ListenerThread&) = delete;
  ListenerThread& operator=(const ListenerThread&) = delete;
  ~ListenerThread() { Stop(); }

  // Runs server.listen_after_bind() (the server is bound to host:port
  // already) on a new thread and returns once its accept loop runs, so that a
  // client may connect and a Stop() right away is prompt. False when the loop
  // never ran (it returned at once); the thread is joined then. `what` names
  // the server in log lines ("webhook", "emulator"). `server` must outlive
  // this object or its Stop().
  bool Start(Server& server, std::string host, int port, std::string what,
             std::chrono::milliseconds grace = std::chrono::seconds(1)) {
    server_ = &server;
    host_ = std::move(host);
    port_ = port;
    what_ = std::move(what);
    grace_ = grace;
    thread_ = std::thread([this] {
      server_->listen_after_bind();
      {
        std::lock_guard<std::mutex> lock(mu_);
        returned_ = true;
      }
      cv_.notify_all();
    });
    for (int i = 0; i < 10000 && !server.is_running() && !Returned(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (server.is_running()) return true;
    Stop();
    return false;
  }

  // Stops accepting, gives requests in flight `grace` to finish, then shuts
  // down the connections still open (a client dripping a body, an idle
  // kept-alive one) until the loop returns, and joins the thread. Does
  // nothing when not started or already stopped.
  void Stop() {
    if (!thread_.joinable()) return;
    // stop() does nothing until listen_after_bind() has started its accept
    // loop (is_running()); the thread gets there, or returns, soon after start.
    while (!Returned()) {
      if (server_->is_running()) {
        server_->stop();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, grace_, [&] { return returned_; })) {
      while (!returned_) {
        lock.unlock();
        const int cut = ShutdownAcceptedConnections(host_, port_);
        if (cut > 0)
          log::Warn(what_ + ": stopping: closed " + std::to_string(cut) +
                    " connection(s) of clients still sending");
        lock.lock();
        cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return returned_; });
      }
    }
    lock.unlock();
    thread_.join();
  }

  bool started() const { return thread_.joinable(); }

 private:
  bool Returned() {
    std::lock_guard<std::mutex> lock(mu_);
    return returned_;
  }

  Server* server_ = nullptr;
  std::string host_;
  int port_ = 0;
  std::string what_;
  std::chrono::milliseconds grace_{0};
  std::thread thread_;
  // Set by the thread once listen_after_bind() returned (every connection done).
  std::mutex mu_;
  std::condition_variable cv_;
  bool returned_ = false;
};

}  // namespace lockpipe
