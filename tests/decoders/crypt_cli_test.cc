// `lockpipe decrypt` / `lockpipe encrypt` as a user runs them, and the
// reference Java demo as an independent implementation.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "base/secret.h"
#include "decoders/media_container.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using testing::FileExists;
using testing::ListDir;
using testing::RandomBytes;
using testing::ReadFile;
using testing::RunShell;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

const std::string kKey = "u8kstrtjm7qun83q";

// Sealed under a fixed IV: what a wrong key makes of the last block - and so
// whether its padding happens to check out, about 1 time in 256 - is then the
// same in every run, instead of a flaky test.
std::vector<std::uint8_t> SealWithFixedIv(const Secret& key, std::span<const std::uint8_t> plain) {
  std::array<std::uint8_t, 16> iv;
  iv.fill(0x5A);
  auto enc = media::StreamEncryptor::Create(key, iv);
  EXPECT_TRUE(enc.ok());
  std::vector<std::uint8_t> out;
  EXPECT_OK(enc->Update(plain, &out));
  EXPECT_OK(enc->Finish(&out));
  return out;
}

std::string Lockpipe(const std::string& args) {
  return ShellQuote(testing::LockpipeBinary()) + " " + args;
}

class CryptCli : public ::testing::Test {
 protected:
  void SetUp() override {
    plain_ = RandomBytes(100000, 5);
    WriteFile(dir_.File("plain.bin"), plain_);
    auto r = RunShell(Lockpipe("encrypt --key " + kKey + " " + ShellQuote(dir_.File("plain.bin")) +
                               " -o " + ShellQuote(dir_.File("sealed.bin"))));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // For the wrong-key cases: the same bytes in every run.
    WriteFile(dir_.File("fixed.bin"), SealWithFixedIv(Secret(kKey), plain_));
  }
  // Runs decrypt into out.bin and checks the failure contract: non-zero exit,
  // one line naming the problem, and no output file (nor a temporary) left.
  void ExpectDecryptFails(const std::string& input, const std::string& key_args,
                          const std::string& message) {
    auto r = RunShell(Lockpipe("decrypt " + key_args + " " + ShellQuote(input) + " -o " +
                               ShellQuote(dir_.File("out.bin"))));
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.err, "lockpipe decrypt: " + message + "\n");
    EXPECT_FALSE(FileExists(dir_.File("out.bin")));
    for (const auto& name : ListDir(dir_.path()))
      EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
  }
  TempDir dir_;
  std::vector<std::uint8_t> plain_;
};

TEST_F(CryptCli, RoundTripThroughFilesAndPipes) {
  auto r = RunShell(Lockpipe("decrypt --key " + kKey + " " + ShellQuote(dir_.File("sealed.bin")) +
                             " -o " + ShellQuote(dir_.File("out.bin"))));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir_.File("out.bin")), plain_);
  r = RunShell("cat " + ShellQuote(dir_.File("plain.bin")) + " | " +
               Lockpipe("encrypt --key " + kKey + " - -o -") + " | " +
               Lockpipe("decrypt --key " + kKey + " - -o -") + " > " +
               ShellQuote(dir_.File("piped.bin")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir_.File("piped.bin")), plain_);
  r = RunShell(Lockpipe("decrypt --fsync --key " + kKey + " " +
                        ShellQuote(dir_.File("sealed.bin")) + " -o " +
                        ShellQuote(dir_.File("synced.bin"))));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir_.File("synced.bin")), plain_);
}

TEST_F(CryptCli, KeyFromFileOrEnvironmentAndNeverPrinted) {
  WriteFile(dir_.File("key.txt"), kKey + "\n");
  auto r = RunShell(Lockpipe("decrypt --key-file " + ShellQuote(dir_.File("key.txt")) + " " +
                             ShellQuote(dir_.File("sealed.bin")) + " -o " +
                             ShellQuote(dir_.File("a.bin"))));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir_.File("a.bin")), plain_);
  r = RunShell("FILE_KEY=" + kKey + " " +
               Lockpipe("decrypt --key-env FILE_KEY " + ShellQuote(dir_.File("sealed.bin")) +
                        " -o " + ShellQuote(dir_.File("b.bin"))));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir_.File("b.bin")), plain_);
  // A wrong key fails without echoing the key.
  r = RunShell(
      Lockpipe("decrypt --key wrongwrongwrong! " + ShellQuote(dir_.File("fixed.bin")) + " -o -"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.find("wrongwrongwrong!"), std::string::npos);
}

TEST_F(CryptCli, BadInputsFailCleanly) {
  auto sealed = ReadFile(dir_.File("sealed.bin"));
  WriteFile(dir_.File("short.bin"), std::vector<std::uint8_t>(sealed.begin(), sealed.begin() + 50));
  ExpectDecryptFails(dir_.File("short.bin"), "--key " + kKey,
                     dir_.File("short.bin") + ": header is cut short: got 50 of 64 bytes");
  WriteFile(dir_.File("ragged.bin"), std::vector<std::uint8_t>(sealed.begin(), sealed.end() - 3));
  ExpectDecryptFails(dir_.File("ragged.bin"), "--key " + kKey,
                     dir_.File("ragged.bin") +
                         ": ciphertext is 100013 bytes, not a whole number of 16-byte AES blocks "
                         "(truncated or corrupt)");
  ExpectDecryptFails(dir_.File("fixed.bin"), "--key wrongwrongwrong!",
                     dir_.File("fixed.bin") + ": wrong key or corrupt data (bad padding)");
  ExpectDecryptFails(
      dir_.File("sealed.bin"), "--key tooshort",
      "file key: key is 8 bytes long; AES takes 16, 24 or 32 (the file_key string as-is)");
  ExpectDecryptFails(dir_.File("missing.bin"), "--key " + kKey,
                     dir_.File("missing.bin") + ": cannot open: No such file or directory");
  ExpectDecryptFails(dir_.File("sealed.bin"), "--key-env LOCKPIPE_TEST_UNSET_VAR",
                     "file key: environment variable LOCKPIPE_TEST_UNSET_VAR is not set or empty");
}

TEST_F(CryptCli, UnwritableOutputIsReported) {
  auto r = RunShell(Lockpipe("decrypt --key " + kKey + " " + ShellQuote(dir_.File("sealed.bin")) +
                             " -o " + ShellQuote(dir_.File("no/such/dir/out.bin"))));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "lockpipe decrypt: " + dir_.File("no/such/dir/out.bin") +
                       ": cannot create output: No such file or directory\n");
}

TEST_F(CryptCli, ContentCheckCatchesNonMedia) {
  // The plaintext here is random bytes, not a photo: --expect media refuses it.
  ExpectDecryptFails(dir_.File("sealed.bin"), "--key " + kKey + " --expect media",
                     dir_.File("sealed.bin") +
                         ": decrypted content is not a JPEG, PNG or MP4 (found unknown): wrong key "
                         "or not lock media");
  std::vector<std::uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J',
                                    'F',  'I',  'F',  0,    1, 2,    3};
  WriteFile(dir_.File("photo.jpg"), jpeg);
  auto r = RunShell(Lockpipe("encrypt --key " + kKey + " " + ShellQuote(dir_.File("photo.jpg")) +
                             " -o " + ShellQuote(dir_.File("photo.enc"))) +
                    " && " +
                    Lockpipe("decrypt --key " + kKey + " --expect jpeg " +
                             ShellQuote(dir_.File("photo.enc")) + " -o " +
                             ShellQuote(dir_.File("photo.out"))));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir_.File("photo.out")), jpeg);
}

TEST_F(CryptCli, UsageErrorsExitTwoAndHelpTeaches) {
  auto r = RunShell(Lockpipe("decrypt " + ShellQuote(dir_.File("sealed.bin")) + " -o x"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("give the key with --key, --key-file or --key-env"), std::string::npos);
  r = RunShell(Lockpipe("decrypt --help"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Usage: lockpipe decrypt"), std::string::npos);
  EXPECT_NE(r.out.find("--key-file"), std::string::npos);
  r = RunShell(Lockpipe("--help"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("decrypt"), std::string::npos);
  r = RunShell(Lockpipe("frobnicate"));
  EXPECT_EQ(r.exit_code, 2);
}

// Independent implementation #2: the reference Java demo, compiled at test
// time from ../shared/reference/remote-unlocking-api.txt.
TEST_F(CryptCli, ReferenceJavaDemoAgreesBothWays) {
  auto shared = testing::SharedDir();
  if (!shared)
    GTEST_SKIP() << "skipped: ../shared/reference (the reference Java demo) is not present";
  if (!testing::HaveProgram("javac")) GTEST_SKIP() << "skipped: no JDK (javac) on PATH";
  std::string classes = dir_.File("java");
  auto r = RunShell(ShellQuote(testing::SourceDir() + "/scripts/reference-java.sh") + " " +
                    ShellQuote(classes) + " " +
                    ShellQuote(*shared + "/reference/remote-unlocking-api.txt"));
  if (r.exit_code == 3) GTEST_SKIP() << "skipped: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Java encrypts, lockpipe decrypts; lockpipe encrypts, Java decrypts. One
  // JVM run per direction carries every case.
  struct Case {
    std::string key;
    std::size_t size;
    std::string tag;
  };
  std::vector<Case> cases;
  for (const std::string key :
       {"u8kstrtjm7qun83q", "0123456789abcdefghijklmn", "0123456789abcdefghijklmnopqrstuv"})
    for (std::size_t size : {0u, 1u, 15u, 16u, 17u, 4097u, 300000u})
      cases.push_back({key, size, std::to_string(key.size()) + "_" + std::to_string(size)});
  std::string java_enc;
  std::string lockpipe_enc = "true";
  for (const auto& c : cases) {
    WriteFile(dir_.File("p" + c.tag), RandomBytes(c.size, static_cast<std::uint32_t>(c.size)));
    java_enc += " enc " + c.key + " " + ShellQuote(dir_.File("p" + c.tag)) + " " +
                ShellQuote(dir_.File("j.enc" + c.tag));
    lockpipe_enc +=
        " && " + Lockpipe("encrypt --key " + c.key + " " + ShellQuote(dir_.File("p" + c.tag)) +
                          " -o " + ShellQuote(dir_.File("l.enc" + c.tag)));
  }
  r = RunShell("java -cp " + ShellQuote(classes) + " RefDriver" + java_enc);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunShell(lockpipe_enc);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string java_dec;
  for (const auto& c : cases) {
    r = RunShell(Lockpipe("decrypt --key " + c.key + " " + ShellQuote(dir_.File("j.enc" + c.tag)) +
                          " -o " + ShellQuote(dir_.File("l.dec" + c.tag))));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ReadFile(dir_.File("l.dec" + c.tag)), ReadFile(dir_.File("p" + c.tag)))
        << "java->lockpipe " << c.tag;
    java_dec += " dec " + c.key + " " + ShellQuote(dir_.File("l.enc" + c.tag)) + " " +
                ShellQuote(dir_.File("j.dec" + c.tag));
  }
  r = RunShell("java -cp " + ShellQuote(classes) + " RefDriver" + java_dec);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& c : cases) {
    ASSERT_TRUE(FileExists(dir_.File("j.dec" + c.tag))) << c.tag;
    EXPECT_EQ(ReadFile(dir_.File("j.dec" + c.tag)), ReadFile(dir_.File("p" + c.tag)))
        << "lockpipe->java " << c.tag;
  }
}

}  // namespace
}  // namespace lockpipe
