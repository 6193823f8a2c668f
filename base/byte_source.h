// Byte sources: where encrypted media is read from.
//
// ByteSource is sequential (a pipe, an HTTP body); RandomAccessSource can read
// at any offset (a file, a buffer, HTTP byte ranges). Both are test seams:
// tests use MemorySource and error-injecting wrappers.
//
// Thread-safety: an instance belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace lockpipe {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to out.size() bytes. Returns 0 only at the end of the data. May
  // return fewer bytes than asked for before the end (a short read).
  virtual Result<std::size_t> Read(std::span<std::uint8_t> out) = 0;
  // Names the source in errors ("capture.bin", "https://host/path").
  virtual std::string name() const = 0;
};

class RandomAccessSource {
 public:
  virtual ~RandomAccessSource() = default;
  // Reads up to out.size() bytes at `offset`; fewer only at the end of the data.
  virtual Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) = 0;
  virtual Result<std::uint64_t> Size() = 0;
  virtual std::string name() const = 0;
};

// Reads exactly out.size() bytes, looping over short reads. Fails with
// kCorrupt naming `what` if the data ends first.
Status ReadExactly(ByteSource& source, std::span<std::uint8_t> out, const std::string& what);

// A file descriptor read sequentially ("-" = stdin).
class FileSource final : public ByteSource {
 public:
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;
  Result<std::size_t> Read(std::span<std::uint8_t> out) override;
  std::string name() const override { return path_; }

 private:
  FileSource(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

// A regular file read with pread (seekable).
class FileRandomAccessSource final : public RandomAccessSource {
 public:
  static Result<std::unique_ptr<FileRandomAccessSource>> Open(const std::string& path);
  ~FileRandomAccessSource() override;
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override;
  Result<std::uint64_t> Size() override { return size_; }
  std::string name() const override { return path_; }

 private:
  FileRandomAccessSource(std::string path, int fd, std::uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_;
  std::uint64_t size_;
};

// An in-memory buffer, usable both ways. Does not own the bytes unless built
// from a vector.
class MemorySource final : public ByteSource, public RandomAccessSource {
 public:
  MemorySource(std::span<const std::uint8_t> data, std::string name = "memory")
      : data_(data), name_(std::move(name)) {}
  MemorySource(std::vector<std::uint8_t> owned, std::string name = "memory")
      : owned_(std::move(owned)), data_(owned_), name_(std::move(name)) {}
  Result<std::size_t> Read(std::span<std::uint8_t> out) override;
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override;
  Result<std::uint64_t> Size() override { return data_.size(); }
  std::string name() const override { return name_; }

 private:
  std::vector<std::uint8_t> owned_;
  std::span<const std::uint8_t> data_;
  std::string name_;
  std::size_t pos_ = 0;
};

}  // namespace lockpipe
