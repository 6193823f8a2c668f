// JsonText and IsUtf8: text from outside (file names, names a person typed)
// must never take a program down when it is printed as JSON.
#include "base/json_text.h"

#include <gtest/gtest.h>

#include <string>

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
