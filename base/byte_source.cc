#include "base/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/file_util.h"

namespace lockpipe {

Status ReadExactly(ByteSource& source, std::span<std::uint8_t> out, const std::string& what) {
  std::size_t have = 0;
  while (have < out.size()) {
    ASSIGN_OR_RETURN(std::size_t n, source.Read(out.subspan(have)));
    if (n == 0) {
      return Corrupt(source.name() + ": " + what + " is cut short: got " + std::to_string(have) +
                     " of " + std::to_string(out.size()) + " bytes");
    }
    have += n;
  }
  return Status::Ok();
}

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
  if (path == "-") return std::unique_ptr<FileSource>(new FileSource("stdin", 0));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(path + ": cannot open: " + ErrnoText(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return IoError(path + ": is a folder, not a file");
  }
  return std::unique_ptr<FileSource>(new FileSource(path, fd));
}

FileSource::~FileSource() {
  if (fd_ > 0) ::close(fd_);
}

Result<std::size_t> FileSource::Read(std::span<std::uint8_t> out) {
  for (;;) {
    ssize_t n = ::read(fd_, out.data(), out.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return IoError(path_ + ": read failed: " + ErrnoText(errno));
  }
}

Result<std::unique_ptr<FileRandomAccessSource>> FileRandomAccessSource::Open(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(path + ": cannot open: " + ErrnoText(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return IoError(path + ": cannot stat: " + ErrnoText(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return IoError(path + ": not a regular file (random access needs a seekable file)");
  }
  return std::unique_ptr<FileRandomAccessSource>(
      new FileRandomAccessSource(path, fd, static_cast<std::uint64_t>(st.st_size)));
}

FileRandomAccessSource::~FileRandomAccessSource() { ::close(fd_); }

Result<std::size_t> FileRandomAccessSource::ReadAt(std::uint64_t offset,
                                                   std::span<std::uint8_t> out) {
  std::size_t have = 0;
  while (have < out.size()) {
    ssize_t n =
        ::pread(fd_, out.data() + have, out.size() - have, static_cast<off_t>(offset + have));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(path_ + ": read failed: " + ErrnoText(errno));
    }
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
  }
  return have;
}

Result<std::size_t> MemorySource::Read(std::span<std::uint8_t> out) {
  ASSIGN_OR_RETURN(std::size_t n, ReadAt(pos_, out));
  pos_ += n;
  return n;
}

Result<std::size_t> MemorySource::ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) {
  if (offset >= data_.size()) return std::size_t{0};
  std::size_t n =
      std::min<std::size_t>(out.size(), data_.size() - static_cast<std::size_t>(offset));
  std::memcpy(out.data(), data_.data() + offset, n);
  return n;
}

}  // namespace lockpipe
