#include "base/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

namespace lockpipe {

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer, which may not be buf.
  return std::string(strerror_r(err, buf, sizeof buf));
}

Result<std::vector<std::uint8_t>> ReadWholeFile(const std::string& path) {
  int fd = path == "-" ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(path + ": cannot open: " + ErrnoText(errno));
  std::vector<std::uint8_t> out;
  std::uint8_t buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      if (fd != 0) ::close(fd);
      return IoError(path + ": read failed: " + ErrnoText(err));
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  if (fd != 0) ::close(fd);
  return out;
}

Result<std::string> ReadTextFile(const std::string& path) {
  ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(path));
  return std::string(bytes.begin(), bytes.end());
}

AtomicFile::~AtomicFile() { Abandon(); }

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      target_(std::move(other.target_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(other.fd_),
      in_place_(other.in_place_),
      sync_(other.sync_) {
  other.fd_ = -1;
  other.temp_path_.clear();
}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    Abandon();
    path_ = std::move(other.path_);
    target_ = std::move(other.target_);
    temp_path_ = std::move(other.temp_path_);
    fd_ = other.fd_;
    in_place_ = other.in_place_;
    sync_ = other.sync_;
    other.fd_ = -1;
    other.temp_path_.clear();
  }
  return *this;
}

Result<AtomicFile> AtomicFile::Create(const std::string& path, unsigned mode, Sync sync) {
  AtomicFile f;
  f.path_ = path;
  f.sync_ = sync;
  if (path == "-") {
    f.fd_ = 1;
    return f;
  }
  if (path.empty()) return InvalidArgument("output path is empty");
  f.target_ = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return InvalidArgument(path + ": is a folder; name a file");
    if (!S_ISREG(st.st_mode)) {
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return IoError(path + ": cannot open for writing: " + ErrnoText(errno));
      f.fd_ = fd;
      f.in_place_ = true;
      return f;
    }
    if (char* real = ::realpath(path.c_str(), nullptr); real != nullptr) {
      f.target_ = real;  // through a symlink: replace the file, keep the link
      std::free(real);
    }
  }
  std::string dir = ".";
  std::string base = f.target_;
  if (auto slash = f.target_.rfind('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : f.target_.substr(0, slash);
    base = f.target_.substr(slash + 1);
  }
  if (base.empty()) return InvalidArgument(path + ": output path names a folder, not a file");
  // "." + base + ".tmp-XXXXXXXX" must fit a file name (255 bytes) too.
  constexpr std::size_t kTempExtra = 1 + 13;
  if (base.size() + kTempExtra > 255) base.resize(255 - kTempExtra);
  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp-%08x", static_cast<unsigned>(rd()));
    std::string temp = dir + "/." + base + suffix;
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0) {
      f.fd_ = fd;
      f.temp_path_ = temp;
      return f;
    }
    if (errno != EEXIST) return IoError(path + ": cannot create output: " + ErrnoText(errno));
  }
  return IoError(path + ": cannot create a temporary file next to it");
}

Status AtomicFile::Write(std::span<const std::uint8_t> data) {
  if (fd_ < 0) return InternalError(path_ + ": write after commit or abandon");
  const std::uint8_t* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError((is_stdout() ? std::string("stdout") : path_) +
                     ": write failed: " + ErrnoText(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

Status AtomicFile::Write(const std::string& text) {
  return Write(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                             text.size()));
}

Status AtomicFile::Commit() {
  if (fd_ < 0) return InternalError(path_ + ": commit twice");
  if (is_stdout()) {
    fd_ = -1;
    return Status::Ok();
  }
  if (sync_ == Sync::kData && ::fdatasync(fd_) != 0 && errno != EINVAL && errno != EROFS) {
    int err = errno;
    Abandon();
    return IoError(path_ + ": fsync failed: " + ErrnoText(err));
  }
  if (::close(fd_) != 0) {
    int err = errno;
    fd_ = -1;
    Abandon();
    return IoError(path_ + ": close failed: " + ErrnoText(err));
  }
  fd_ = -1;
  if (in_place_) return Status::Ok();
  if (::rename(temp_path_.c_str(), target_.c_str()) != 0) {
    int err = errno;
    Abandon();
    return IoError(path_ + ": cannot move output into place: " + ErrnoText(err));
  }
  temp_path_.clear();
  return Status::Ok();
}

void AtomicFile::Abandon() {
  if (fd_ > 1) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

Status WriteFileAtomically(const std::string& path, std::span<const std::uint8_t> data,
                           unsigned mode) {
  ASSIGN_OR_RETURN(auto file, AtomicFile::Create(path, mode));
  RETURN_IF_ERROR(file.Write(data));
  return file.Commit();
}

Status WriteFileAtomically(const std::string& path, const std::string& text, unsigned mode) {
  return WriteFileAtomically(path,
                             std::span<const std::uint8_t>(
                                 reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                             mode);
}

}  // namespace lockpipe
