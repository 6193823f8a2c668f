// A batch list's lines: every key that is present has the right type and a
// usable value, or the line is refused with the key named; only a key left out
// takes its default.
#include "pipeline/batch_list.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/testutil.h"

namespace lockpipe {
namespace {

// The error ParseBatchLine gives for `line`, or "(parsed)" when it takes it.
std::string ErrorOf(const std::string& line) {
  auto job = ParseBatchLine(line, "/list", 3);
  return job.ok() ? "(parsed)" : job.status().message();
}

TEST(ParseBatchLine, OnlyAKeyLeftOutTakesItsDefault) {
  auto job = ParseBatchLine(R"({"device": "door", "path": "a.jpg"})", "/list", 3);
  ASSERT_OK_R(job);
  EXPECT_EQ(job->device_id, "door");
  EXPECT_EQ(job->kind, MediaKind::kUnlockRequest);
  EXPECT_EQ(job->label, "3");
  EXPECT_EQ(job->captured_at_ms, 0);
  EXPECT_TRUE(job->file_key.empty());
  EXPECT_EQ(job->where, CaptureJob::Where::kFile);
  EXPECT_EQ(job->path, "/list/a.jpg");
  EXPECT_TRUE(job->capture_key.empty());  // the pipeline names it (CaptureKey)
  EXPECT_EQ(CaptureKey(*job), "door|unlock|file:/list/a.jpg");

  job = ParseBatchLine(
      R"({"device": "door", "kind": "alert", "id": "a1", "captured_at": 1764150000000,)"
      R"( "url": "https://h/x.jpg?sig=1", "file_key": "k", "file_path": "/x.jpg"})",
      "/list", 3);
  ASSERT_OK_R(job);
  EXPECT_EQ(job->kind, MediaKind::kAlert);
  EXPECT_EQ(job->label, "a1");
  EXPECT_EQ(job->captured_at_ms, 1764150000000);
  EXPECT_EQ(job->where, CaptureJob::Where::kUrl);
  EXPECT_EQ(job->url, "https://h/x.jpg?sig=1");
  EXPECT_EQ(job->file_path, "/x.jpg");
}

TEST(ParseBatchLine, AKindOfTheWrongTypeIsRefusedNotTakenForAnUnlock) {
  const std::string head = R"({"device": "door", "path": "a.jpg", "kind": )";
  EXPECT_EQ(ErrorOf(head + "2}"), R"("kind" must be "unlock" or "alert", not 2)");
  EXPECT_EQ(ErrorOf(head + "null}"), R"("kind" must be "unlock" or "alert", not null)");
  EXPECT_EQ(ErrorOf(head + R"(""})"), R"("kind" must be "unlock" or "alert", not "")");
  EXPECT_EQ(ErrorOf(head + R"(["alert"]})"),
            R"("kind" must be "unlock" or "alert", not ["alert"])");
  EXPECT_EQ(ErrorOf(head + "true}"), R"("kind" must be "unlock" or "alert", not true)");
  EXPECT_EQ(ErrorOf(head + R"("ALERT"})"), R"("kind" must be "unlock" or "alert", not "ALERT")");
  auto job = ParseBatchLine(head + R"("alert"})", "/list", 3);
  ASSERT_OK_R(job);
  EXPECT_EQ(job->kind, MediaKind::kAlert);
}

TEST(ParseBatchLine, AnIntegerIdIsItsDecimalTextNeverDropped) {
  const std::string head = R"({"device": "door", "path": "a.jpg", "id": )";
  auto seven = ParseBatchLine(head + "7}", "/list", 3);
  auto eight = ParseBatchLine(head + "8}", "/list", 4);
  auto text = ParseBatchLine(head + R"("7"})", "/list", 5);
  ASSERT_OK_R(seven);
  ASSERT_OK_R(eight);
  ASSERT_OK_R(text);
  EXPECT_EQ(seven->label, "7");
  EXPECT_EQ(text->label, "7");  // 7 and "7": one id
  // An id labels a line; it is not the capture's identity: one file listed
  // twice is one capture, decided once.
  EXPECT_EQ(CaptureKey(*seven), CaptureKey(*eight));
  auto negative = ParseBatchLine(head + "-12}", "/list", 3);
  ASSERT_OK_R(negative);
  EXPECT_EQ(negative->label, "-12");

  EXPECT_EQ(ErrorOf(head + "7.5}"), R"("id" must be a string or an integer, not 7.5)");
  EXPECT_EQ(ErrorOf(head + "null}"), R"("id" must be a string or an integer, not null)");
  EXPECT_EQ(ErrorOf(head + R"(""})"), R"("id" must be a string or an integer, not "")");
  EXPECT_EQ(ErrorOf(head + "false}"), R"("id" must be a string or an integer, not false)");
  EXPECT_EQ(ErrorOf(head + R"({"n": 1}})"), R"("id" must be a string or an integer, not {"n":1})");
}

TEST(ParseBatchLine, AFileKeyThatIsNotAStringIsRefusedNotTakenForPlaintext) {
  const std::string head = R"({"device": "door", "path": "a.enc", "file_key": )";
  EXPECT_EQ(ErrorOf(head + "12345}"), R"("file_key" must be a non-empty string, not a number)");
  EXPECT_EQ(ErrorOf(head + "null}"), R"("file_key" must be a non-empty string, not null)");
  EXPECT_EQ(ErrorOf(head + R"(["k"]})"), R"("file_key" must be a non-empty string, not an array)");
  EXPECT_EQ(ErrorOf(head + R"(""})"), R"("file_key" must be a non-empty string, not "")");
  // A key is never shown, not even a bad one.
  EXPECT_EQ(ErrorOf(head + R"("sec\u0000ret"})"),
            R"("file_key" contains a NUL character (\u0000))");
  auto job = ParseBatchLine(head + R"("lockpipesample16"})", "/list", 3);
  ASSERT_OK_R(job);
  EXPECT_EQ(job->file_key.reveal(), "lockpipesample16");
}

TEST(ParseBatchLine, CapturedAtMustBeAnIntegerOfMilliseconds) {
  const std::string head = R"({"device": "door", "path": "a.jpg", "captured_at": )";
  const std::string says =
      R"("captured_at" must be a positive integer, the capture time in milliseconds since the )"
      "epoch, not ";
  EXPECT_EQ(ErrorOf(head + R"("1764150000000"})"), says + R"("1764150000000")");
  EXPECT_EQ(ErrorOf(head + R"("2025-11-26T10:00:00Z"})"), says + R"("2025-11-26T10:00:00Z")");
  EXPECT_EQ(ErrorOf(head + "1764150000000.5}"), says + "1764150000000.5");
  EXPECT_EQ(ErrorOf(head + "0}"), says + "0");
  EXPECT_EQ(ErrorOf(head + "-1}"), says + "-1");
  EXPECT_EQ(ErrorOf(head + "null}"), says + "null");
  EXPECT_EQ(ErrorOf(head + "true}"), says + "true");
  EXPECT_EQ(ErrorOf(head + "18446744073709551615}"), says + "18446744073709551615");
  auto job = ParseBatchLine(head + "1764150000000}", "/list", 3);
  ASSERT_OK_R(job);
  EXPECT_EQ(job->captured_at_ms, 1764150000000);
}

TEST(ParseBatchLine, ANulIsRefusedInEveryStringAndAControlCharacterInEveryName) {
  // The reviewer's line: it opened astronaut.jpg and journaled a NUL.
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": "astronaut.jpg\u0000-whatever.mp4"})"),
            R"("path" contains a NUL character (\u0000))");
  const nlohmann::json base = {{"device", "door"}, {"url", "https://h/x.jpg"}, {"file_key", "k"}};
  for (const std::string key : {"device", "kind", "id", "url", "file_path", "key_env"}) {
    SCOPED_TRACE(key);
    auto with = [&](const std::string& text) {
      nlohmann::json line = base;
      line[key] = text;
      return line.dump();
    };
    EXPECT_EQ(ErrorOf(with(std::string("a\0b", 3))),
              "\"" + key + R"(" contains a NUL character (\u0000))");
    EXPECT_EQ(ErrorOf(with("a\nb")), "\"" + key + R"(" contains a control character (\u000a))");
    EXPECT_EQ(ErrorOf(with("a\x7f"
                           "b")),
              "\"" + key + R"(" contains a control character (\u007f))");
  }
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": "a\tb.jpg"})"),
            R"("path" contains a control character (\u0009))");
  // Text beyond ASCII is text.
  auto job =
      ParseBatchLine(R"({"device": "porte-d'entrée", "path": "été.jpg", "id": "n°1"})", "/list", 3);
  ASSERT_OK_R(job);
  EXPECT_EQ(job->device_id, "porte-d'entrée");
}

TEST(ParseBatchLine, OtherKeysOfTheWrongTypeOrThatContradictEachOtherAreRefused) {
  EXPECT_EQ(ErrorOf(R"({"path": "a.jpg"})"), R"("device" is missing)");
  EXPECT_EQ(ErrorOf(R"({"device": 7, "path": "a.jpg"})"),
            R"("device" must be a non-empty string, not 7)");
  EXPECT_EQ(ErrorOf(R"({"device": "", "path": "a.jpg"})"),
            R"("device" must be a non-empty string, not "")");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": ["a.jpg"]})"),
            R"("path" must be a non-empty string, not ["a.jpg"])");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": ""})"),
            R"("path" must be a non-empty string, not "")");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "url": 5, "path": "a.jpg"})"),
            R"("url" must be a non-empty string, not 5)");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "url": "https://h/x", "file_key": "k", "path": "a"})"),
            R"(give "url" or "path", not both)");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "url": "https://h/x", "file_key": "k", )"
                    R"("file_path": 1})"),
            R"("file_path" must be a non-empty string, not 1)");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": "a.enc", "key_env": 1})"),
            R"("key_env" must be the name of an environment variable, not 1)");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": "a.enc", "file_key": "k", "key_env": "K"})"),
            R"(give "file_key" or "key_env", not both)");
  EXPECT_EQ(ErrorOf(R"({"device": "door"})"), R"(needs "url" or "path")");
  EXPECT_EQ(ErrorOf(R"([1])"), "not a JSON object");
  // Read once, by the last, where a person may read the first: refused.
  EXPECT_EQ(ErrorOf(R"({"device": "door", "kind": "alert", "path": "a.jpg", "kind": "unlock"})"),
            R"("kind" is given twice)");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": "a.jpg", "id": {"n": 1, "n": 2}})"),
            R"("id" must be a string or an integer, not {"n":2})");
  // A key variable that is set but empty would read the file as plaintext.
  ASSERT_EQ(::setenv("LOCKPIPE_TEST_EMPTY_KEY", "", 1), 0);
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": "a.enc", "key_env": "LOCKPIPE_TEST_EMPTY_KEY"})"),
            "environment variable LOCKPIPE_TEST_EMPTY_KEY is empty");
  ::unsetenv("LOCKPIPE_TEST_EMPTY_KEY");
  EXPECT_EQ(ErrorOf(R"({"device": "door", "path": "a.enc", "key_env": "LOCKPIPE_TEST_EMPTY_KEY"})"),
            "environment variable LOCKPIPE_TEST_EMPTY_KEY is not set");
}

TEST(IsBlankOrCommentListLine, SkipsBlankAndCommentLinesAsTheBatchDoes) {
  for (const std::string line :
       {"", " ", "\r", " \t\r", "#", "# a comment", "  # indented", "\t#x", "\r#"}) {
    EXPECT_TRUE(IsBlankOrCommentListLine(line)) << '"' << line << '"';
  }
  for (const std::string line : {"{}", " {\"device\": 1}", "x#", "\f", "\v"}) {
    EXPECT_FALSE(IsBlankOrCommentListLine(line)) << '"' << line << '"';
  }
}

}  // namespace
}  // namespace lockpipe
