// lockpipe decrypt / encrypt: the lock media container on files and pipes.
#include <iostream>
#include <vector>

#include "base/file_util.h"
#include "base/byte_source.h"
#include "decoders/media_container.h"
#include "pipeline/cli/command.h"

namespace lockpipe::cli {
namespace {

constexpr std::size_t kChunk = 1024 * 1024;

// What --expect accepts, and whether `type` satisfies it.
Status CheckExpected(const std::string& expect, media::ContentType type, const std::string& name) {
  if (expect == "none") return Status::Ok();
  bool ok = false;
  if (expect == "media")
    ok = type != media::ContentType::kUnknown;
  else if (expect == "jpeg")
    ok = type == media::ContentType::kJpeg;
  else if (expect == "png")
    ok = type == media::ContentType::kPng;
  else if (expect == "mp4")
    ok = type == media::ContentType::kMp4;
  if (ok) return Status::Ok();
  std::string want = expect == "media" ? "a JPEG, PNG or MP4" : "a " + expect;
  return Corrupt(name + ": decrypted content is not " + want + " (found " +
                 media::ContentTypeName(type) + "): wrong key or not lock media");
}

int RunDecrypt(int argc, char** argv) {
  const std::string cmd = "decrypt";
  po::options_description opts("Options");
  opts.add_options()("input", po::value<std::string>()->required(),
                     "encrypted media file ('-' = stdin)")(
      "output,o", po::value<std::string>()->required(), "where the plaintext goes ('-' = stdout)")(
      "expect", po::value<std::string>()->default_value("none"),
      "check the decrypted content: none, media (JPEG, PNG or MP4), jpeg, png or mp4")(
      "fsync", "flush OUTPUT to disk before renaming it into place (survives a power cut; slower)");
  AddKeyOptions(opts, "the file_key");
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd, "lockpipe decrypt --key-file KEYFILE INPUT -o OUTPUT", opts, pos,
          "Decrypts lock media: a 64-byte header (IV in bytes 4-19) then AES-CBC\n"
          "ciphertext, keyed by the file_key string that latest/media/url returns.\n"
          "Output is written to a temporary file and renamed into place only when\n"
          "the whole input decrypted and its padding checked out.\n\n"
          "Examples:\n"
          "  lockpipe decrypt --key-env FILE_KEY capture.bin -o capture.jpg --expect media\n"
          "  curl -s \"$URL\" | lockpipe decrypt --key-file key.txt - -o - | ffplay -",
          &vm, &rc))
    return rc;
  const std::string expect = vm["expect"].as<std::string>();
  if (expect != "none" && expect != "media" && expect != "jpeg" && expect != "png" &&
      expect != "mp4")
    return UsageError(cmd, "--expect must be none, media, jpeg, png or mp4, not '" + expect + "'");
  if (!HasKey(vm)) return UsageError(cmd, "give the key with --key, --key-file or --key-env");
  auto key = KeyFromOptions(vm, "file key");
  if (!key.ok()) return Fail(cmd, key.status());
  if (auto s = media::ValidateKey(*key); !s.ok()) return Fail(cmd, s.WithContext("file key"));

  const std::string in_path = vm["input"].as<std::string>();
  auto source = FileSource::Open(in_path);
  if (!source.ok()) return Fail(cmd, source.status());
  auto dec = media::StreamDecryptor::Create(*key, in_path == "-" ? "stdin" : in_path);
  if (!dec.ok()) return Fail(cmd, dec.status());
  auto out = AtomicFile::Create(vm["output"].as<std::string>(), 0644,
                                vm.count("fsync") ? Sync::kData : Sync::kNone);
  if (!out.ok()) return Fail(cmd, out.status());

  std::vector<std::uint8_t> in(kChunk);
  std::vector<std::uint8_t> plain;
  plain.reserve(kChunk + media::kBlockSize);
  std::vector<std::uint8_t> head;  // first plaintext bytes, held until checked
  bool checked = expect == "none";
  auto emit = [&](bool final_block) -> Status {
    if (!checked) {
      head.insert(head.end(), plain.begin(), plain.end());
      plain.clear();
      if (head.size() < media::kSniffBytes && !final_block) return Status::Ok();
      RETURN_IF_ERROR(CheckExpected(expect, media::SniffContent(head), (*source)->name()));
      checked = true;
      plain.swap(head);
    }
    Status s = out->Write(plain);
    plain.clear();
    return s;
  };
  for (;;) {
    auto n = (*source)->Read(in);
    if (!n.ok()) return Fail(cmd, n.status());
    if (*n == 0) break;
    if (auto s = dec->Update(std::span(in.data(), *n), &plain); !s.ok()) return Fail(cmd, s);
    if (auto s = emit(false); !s.ok()) return Fail(cmd, s);
  }
  if (auto s = dec->Finish(&plain); !s.ok()) return Fail(cmd, s);
  if (auto s = emit(true); !s.ok()) return Fail(cmd, s);
  if (auto s = out->Commit(); !s.ok()) return Fail(cmd, s);
  return kExitOk;
}

int RunEncrypt(int argc, char** argv) {
  const std::string cmd = "encrypt";
  po::options_description opts("Options");
  opts.add_options()("input", po::value<std::string>()->required(), "plaintext file ('-' = stdin)")(
      "output,o", po::value<std::string>()->required(), "where the container goes ('-' = stdout)")(
      "fsync", "flush OUTPUT to disk before renaming it into place (survives a power cut; slower)");
  AddKeyOptions(opts, "the file_key");
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd, "lockpipe encrypt --key-file KEYFILE INPUT -o OUTPUT", opts, pos,
          "Encrypts a file into the lock media layout (64-byte header with a fresh\n"
          "random IV, then AES-CBC with PKCS#7 padding), as a lock's cloud stores it.\n"
          "The key is 16, 24 or 32 characters, used as bytes (AES-128/192/256).",
          &vm, &rc))
    return rc;
  if (!HasKey(vm)) return UsageError(cmd, "give the key with --key, --key-file or --key-env");
  auto key = KeyFromOptions(vm, "file key");
  if (!key.ok()) return Fail(cmd, key.status());
  if (auto s = media::ValidateKey(*key); !s.ok()) return Fail(cmd, s.WithContext("file key"));
  auto source = FileSource::Open(vm["input"].as<std::string>());
  if (!source.ok()) return Fail(cmd, source.status());
  auto enc = media::StreamEncryptor::Create(*key);
  if (!enc.ok()) return Fail(cmd, enc.status());
  auto out = AtomicFile::Create(vm["output"].as<std::string>(), 0644,
                                vm.count("fsync") ? Sync::kData : Sync::kNone);
  if (!out.ok()) return Fail(cmd, out.status());
  std::vector<std::uint8_t> in(kChunk);
  std::vector<std::uint8_t> sealed;
  for (;;) {
    auto n = (*source)->Read(in);
    if (!n.ok()) return Fail(cmd, n.status());
    if (*n == 0) break;
    sealed.clear();
    if (auto s = enc->Update(std::span(in.data(), *n), &sealed); !s.ok()) return Fail(cmd, s);
    if (auto s = out->Write(sealed); !s.ok()) return Fail(cmd, s);
  }
  sealed.clear();
  if (auto s = enc->Finish(&sealed); !s.ok()) return Fail(cmd, s);
  if (auto s = out->Write(sealed); !s.ok()) return Fail(cmd, s);
  if (auto s = out->Commit(); !s.ok()) return Fail(cmd, s);
  return kExitOk;
}

}  // namespace

LOCKPIPE_COMMAND("decrypt", "decrypt lock media (64-byte header + AES-CBC) to a file or stdout",
                 RunDecrypt);
LOCKPIPE_COMMAND("encrypt", "encrypt a file into the lock media layout", RunEncrypt);

}  // namespace lockpipe::cli
