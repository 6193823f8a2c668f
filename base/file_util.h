// Files: whole-file reads and all-or-nothing writes.
//
// AtomicFile writes into a temporary file in the destination's folder and
// renames it over the destination on Commit(). If it is destroyed without a
// successful Commit() the temporary file is removed, so a failed command never
// leaves a half-written output behind. "-" means stdout: bytes go out as they
// are written and Commit() only flushes (a pipe cannot be taken back).
//
// All-or-nothing is against the command failing. Against the machine losing
// power it takes an fsync before the rename, which costs more than decrypting
// (a 256 MiB decrypt: 0.13 s without, 0.3 s with), so like cp, rsync and gpg
// it is asked for (Sync::kData) rather than the default; SQLite keeps the journal
// durable on its own.
//
// Thread-safety: an AtomicFile belongs to one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace lockpipe {

Result<std::vector<std::uint8_t>> ReadWholeFile(const std::string& path);
Result<std::string> ReadTextFile(const std::string& path);

enum class Sync { kNone, kData };

class AtomicFile {
 public:
  AtomicFile() = default;
  ~AtomicFile();
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Opens a temporary file next to `path` ("-" = stdout). `mode` is the
  // permission the final file gets (before umask); `sync` whether Commit()
  // fsyncs the data before the rename. A symlink to a file has the file it
  // points to replaced (the link stays). An existing device, pipe or socket
  // (/dev/null, /dev/stdout, a FIFO) is written in place: it cannot be
  // replaced, and must never be. A folder is refused.
  static Result<AtomicFile> Create(const std::string& path, unsigned mode = 0644,
                                   Sync sync = Sync::kNone);

  Status Write(std::span<const std::uint8_t> data);
  Status Write(const std::string& text);
  // (fsyncs,) closes and renames into place. After this the object is inert.
  Status Commit();
  // Removes the temporary file now (also done by the destructor).
  void Abandon();

  const std::string& path() const { return path_; }
  bool is_stdout() const { return fd_ == 1; }

 private:
  std::string path_;
  std::string target_;  // what the rename replaces: path_, or the file a symlink names
  std::string temp_path_;
  int fd_ = -1;
  bool in_place_ = false;  // a device, pipe or socket, written directly
  Sync sync_ = Sync::kNone;
};

// Writes `data` to `path` atomically (temp + rename).
Status WriteFileAtomically(const std::string& path, std::span<const std::uint8_t> data,
                           unsigned mode = 0644);
Status WriteFileAtomically(const std::string& path, const std::string& text, unsigned mode = 0644);

// "No such file or directory" etc. for errno.
std::string ErrnoText(int err);

}  // namespace lockpipe
