// Raw HTTP over loopback for server tests that need what a well-behaved client
// library does not do: send headers without a body, drip a body a byte at a
// time, send a chunked body. Every wait is bounded.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lockpipe::testing {

// A TCP connection to 127.0.0.1:port, or -1.
inline int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool SendAll(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until the peer closes (or resets) or `seconds` pass.
inline std::string ReadUntilClose(int fd, int seconds) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Sends `request` on a new connection and reads the answer until the server
// closes the connection (send "Connection: close" to a kept-alive server).
inline std::string RawExchange(int port, const std::string& request, int seconds = 20) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::string out = SendAll(fd, request) ? ReadUntilClose(fd, seconds) : "";
  ::close(fd);
  return out;
}

// The status code of a raw answer ("HTTP/1.1 411 ..."), or -1.
inline int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return -1;
  return std::atoi(response.substr(9, 3).c_str());
}

inline std::string BodyOf(const std::string& response) {
  const auto p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

inline std::string HeadOf(const std::string& response) {
  return response.substr(0, response.find("\r\n\r\n"));
}

// `count` clients that each send `head`, then one byte of padding every
// 100 ms -- a body, or more header text, that never ends -- until Stop() or
// for at most `max_seconds`.
class Dripper {
 public:
  Dripper(int port, int count, std::string head, int max_seconds = 60) {
    for (int i = 0; i < count; ++i) {
      const int fd = ConnectLoopback(port);
      if (fd >= 0 && SendAll(fd, head)) fds_.push_back(fd);
    }
    thread_ = std::thread([this, max_seconds] {
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
      std::unique_lock<std::mutex> lock(mu_);
      while (!stop_ && std::chrono::steady_clock::now() < end) {
        for (int fd : fds_) ::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        cv_.wait_for(lock, std::chrono::milliseconds(100));
      }
    });
  }
  ~Dripper() { Stop(); }
  int connected() const { return static_cast<int>(fds_.size()); }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Runs `fn` on its own thread and waits up to `seconds` for it. Returns
// whether it finished in time; if not, `unblock` is called (to release what
// `fn` waits on) and the thread is joined anyway, so nothing outlives the call.
template <class Fn, class Unblock>
bool FinishesWithin(int seconds, Fn fn, Unblock unblock) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread t([&] {
    fn();
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
    cv.notify_all();
  });
  bool in_time = false;
  {
    std::unique_lock<std::mutex> lock(mu);
    in_time = cv.wait_for(lock, std::chrono::seconds(seconds), [&] { return finished; });
  }
  if (!in_time) unblock();
  t.join();
  return in_time;
}

}  // namespace lockpipe::testing
