// JsonText, IsUtf8 and Printable: text from outside (file names, names a person typed,
// ids a webhook brought) must never take a program down or take over a terminal.
#include "base/json_text.h"

#include <gtest/gtest.h>

#include <string>

#include "base/log.h"

namespace lockpipe {
namespace {

TEST(JsonText, BadUtf8BecomesTheReplacementCharacterInsteadOfThrowing) {
  const nlohmann::json j = {{"by", std::string("al\xe9")}, {"n", 1}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);  // what happened before
  EXPECT_EQ(JsonText(j), "{\"by\":\"al\xef\xbf\xbd\",\"n\":1}");
  EXPECT_EQ(JsonText(nlohmann::json{{"a", "caf\xc3\xa9"}}, 2), "{\n  \"a\": \"caf\xc3\xa9\"\n}");
}

TEST(IsUtf8, AcceptsTextAndRefusesEverythingElse) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("alice"));
  EXPECT_TRUE(IsUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"));  // é € key emoji
  EXPECT_FALSE(IsUtf8("al\xe9"));                                    // Latin-1
  EXPECT_FALSE(IsUtf8("\xc3"));                                      // cut short
  EXPECT_FALSE(IsUtf8("\xc0\xaf"));                                  // overlong '/'
  EXPECT_FALSE(IsUtf8("\xed\xa0\x80"));                              // a surrogate
  EXPECT_FALSE(IsUtf8("\xf4\x90\x80\x80"));                          // above U+10FFFF
  EXPECT_FALSE(IsUtf8("\xff"));
}

}  // namespace
}  // namespace lockpipe

namespace lockpipe {
namespace {

TEST(Printable, ControlCharactersBecomeEscapesAndTextStays) {
  EXPECT_EQ(Printable("Front door, 1 face\n\tdetail"), "Front door, 1 face\n\tdetail");
  EXPECT_EQ(Printable("a\x1b[2Jb\x07\r\x7f"), "a\\x1B[2Jb\\x07\\x0D\\x7F");
  EXPECT_EQ(Printable(std::string("nul\0x", 5)), "nul\\x00x");
  // C1 controls in UTF-8 (U+009B is a one-byte CSI to some terminals);
  // other non-ASCII text is left alone.
  EXPECT_EQ(Printable("x\xc2\x9b"
                      "31m"),
            "x\\xC2\\x9B31m");
  EXPECT_EQ(Printable("Haustür → offen"), "Haustür → offen");
  EXPECT_EQ(Printable("\xc2"), "\xc2");  // a lone lead byte is not a control
}

}  // namespace
}  // namespace lockpipe
