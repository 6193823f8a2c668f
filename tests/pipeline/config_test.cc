// The config file: the sample loads, every kind of mistake is refused with
// file, line and field (time zones: time_zone_test.cc).
#include "pipeline/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "tests/testutil.h"

namespace lockpipe {
namespace {

using namespace std::chrono_literals;

bool HaveZone(const std::string& name) {
  return lockpipe::testing::FileExists("/usr/share/zoneinfo/" + name);
}

// A minimal valid file that each mistake below is added to.
constexpr const char* kDevices = R"([[devices]]
id = "d1"
type = "wifi_video"
groups = ["home"]
)";

// Parses `text` as "rules.toml" and returns the error message ("" if it loaded).
std::string ErrorOf(const std::string& text) {
  auto c = ParseConfig(text, "rules.toml");
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  return c.status().message();
}

TEST(ConfigTest, SampleLoads) {
  if (!HaveZone("Europe/Berlin")) GTEST_SKIP() << "no tz database in /usr/share/zoneinfo";
  const std::string path = lockpipe::testing::SourceDir() + "/samples/rules.toml";
  auto c = LoadConfig(path);
  ASSERT_OK_R(c);
  EXPECT_EQ(c->source, path);
  EXPECT_EQ(c->cloud.endpoint, "https://openapi.tuyaeu.com");
  EXPECT_EQ(c->cloud.region, "eu");
  EXPECT_TRUE(c->cloud.credentials_from_env);
  EXPECT_FALSE(c->cloud.insecure);
  // The cascade: it runs on a fresh machine, with no model to fetch.
  EXPECT_EQ(c->detector.kind, DetectorKind::kCascade);
  EXPECT_TRUE(c->detector.model.empty());
  EXPECT_EQ(c->detector.min_face, 40);
  EXPECT_EQ(c->outputs.dir, "out");
  EXPECT_EQ(c->outputs.thumbnail_count, 4);
  EXPECT_FALSE(c->outputs.decrypted_media);
  EXPECT_EQ(c->safety.on_error, Verdict::kEscalate);
  EXPECT_EQ(c->safety.max_capture_age_seconds, 90);
  EXPECT_FALSE(c->safety.dry_run);

  ASSERT_EQ(c->devices.size(), 4u);
  const DeviceConfig* office = c->FindDevice("vdevo160000000000003");
  ASSERT_NE(office, nullptr);
  EXPECT_EQ(office->type, LockType::kWifiAccessControl);
  EXPECT_EQ(office->channel, 1);
  EXPECT_EQ(office->DisplayName(), "Office entrance");
  const DeviceConfig* cellar = c->FindDevice("vdevo160000000000002");
  ASSERT_NE(cellar, nullptr);
  ASSERT_TRUE(cellar->password.has_value());
  EXPECT_EQ(cellar->password->env, "LOCKPIPE_CELLAR_PASSWORD");
  EXPECT_TRUE(cellar->password->literal.empty());
  EXPECT_EQ(c->FindDevice("nope"), nullptr);

  ASSERT_EQ(c->rules.size(), 6u);
  const RuleConfig& family = c->rules[3];
  EXPECT_EQ(family.name, "family, daytime");
  EXPECT_EQ(family.action, Verdict::kApprove);
  EXPECT_EQ(family.kind, MediaKind::kUnlockRequest);
  EXPECT_EQ(family.groups, std::vector<std::string>{"home"});
  ASSERT_TRUE(family.time.has_value());
  EXPECT_EQ(family.time->from_second, 7 * 3600);
  EXPECT_EQ(family.time->to_second, 22 * 3600);
  EXPECT_EQ(family.time->zone.name(), "Europe/Berlin");
  EXPECT_EQ(family.faces_min, 1);
  EXPECT_EQ(family.faces_max, 2);
  EXPECT_FALSE(family.min_face_score.has_value());  // a yunet-only condition, commented out
  EXPECT_EQ(family.min_face_size, 60);
  EXPECT_EQ(family.analysis, AnalysisCondition::kOk);
  EXPECT_EQ(family.max_age_seconds, 60);
  ASSERT_TRUE(family.rate_limit.has_value());
  EXPECT_EQ(family.rate_limit->count, 3);
  EXPECT_EQ(family.rate_limit->per_seconds, 3600);
  EXPECT_EQ(c->rules[0].kind, MediaKind::kAlert);
  EXPECT_EQ(c->rules[1].faces_max, 0);
  EXPECT_FALSE(c->rules[1].faces_min.has_value());
  EXPECT_EQ(c->rules[5].time->from_second, 23 * 3600);  // crosses midnight
  EXPECT_EQ(c->rules[5].time->to_second, 5 * 3600);
}

TEST(ConfigTest, AFolderIsNotAConfig) {
  lockpipe::testing::TempDir dir;
  auto c = LoadConfig(dir.path());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("is a folder"), std::string::npos) << c.status().message();
}

TEST(ConfigTest, EmptyFileAndEmptyRulesAreAllowed) {
  auto c = ParseConfig("", "empty.toml");
  ASSERT_OK_R(c);
  EXPECT_TRUE(c->rules.empty());
  EXPECT_TRUE(c->devices.empty());
  EXPECT_TRUE(c->cloud.endpoint.empty());
  EXPECT_EQ(c->safety.on_error, Verdict::kEscalate);
  EXPECT_EQ(c->safety.max_capture_age_seconds, 90);
  EXPECT_EQ(c->detector.kind, DetectorKind::kCascade);
  auto d = ParseConfig("rules = []\n" + std::string(kDevices), "x.toml");
  ASSERT_OK_R(d);
  EXPECT_TRUE(d->rules.empty());
}

TEST(ConfigTest, MissingFile) {
  lockpipe::testing::TempDir dir;
  auto c = LoadConfig(dir.File("nope.toml"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find(dir.File("nope.toml")), std::string::npos);
}

TEST(ConfigTest, LoadNamesTheFileInErrors) {
  lockpipe::testing::TempDir dir;
  const std::string path = dir.File("bad.toml");
  lockpipe::testing::WriteFile(path, std::string("[safety]\ndry_run = \"yes\"\n"));
  auto c = LoadConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), path + ":2: safety.dry_run: must be true or false");
}

TEST(ConfigTest, TomlSyntaxErrorNamesLine) {
  EXPECT_EQ(ErrorOf("[safety]\ndry_run = \n").rfind("rules.toml:2: ", 0), 0u)
      << ErrorOf("[safety]\ndry_run = \n");
}

TEST(ConfigTest, UnknownKeys) {
  EXPECT_EQ(ErrorOf("[safety]\ndry_rum = true\n"),
            "rules.toml:2: safety.dry_rum: unknown key (expected one of: on_error, "
            "max_capture_age_seconds, dry_run)");
  EXPECT_EQ(ErrorOf("[clowd]\n").rfind("rules.toml:1: clowd: unknown key", 0), 0u);
  // A misspelt condition in a rule, and one inside an inline table.
  const std::string rule =
      std::string(kDevices) + "\n[[rules]]\naction = \"approve\"\nfacse = { min = 1 }\n";
  EXPECT_EQ(ErrorOf(rule).rfind("rules.toml:8: rules[0].facse: unknown key", 0), 0u)
      << ErrorOf(rule);
  const std::string inner =
      std::string(kDevices) + "\n[[rules]]\naction = \"approve\"\nfaces = { mn = 1 }\n";
  EXPECT_EQ(ErrorOf(inner).rfind("rules.toml:8: rules[0].faces.mn: unknown key", 0), 0u)
      << ErrorOf(inner);
  const std::string dev = "[[devices]]\nid = \"a\"\ntype = \"wifi\"\ngroup = [\"x\"]\n";
  EXPECT_EQ(ErrorOf(dev).rfind("rules.toml:4: devices[0].group: unknown key", 0), 0u)
      << ErrorOf(dev);
}

TEST(ConfigTest, WrongTypes) {
  const std::string base = std::string(kDevices) + "\n[[rules]]\naction = \"approve\"\n";
  EXPECT_EQ(ErrorOf(base + "faces = { min = -1 }\n"),
            "rules.toml:8: rules[0].faces.min: must be a whole number from 0 to 1000");
  EXPECT_EQ(ErrorOf(base + "faces = { min = 1.5 }\n"),
            "rules.toml:8: rules[0].faces.min: must be a whole number from 0 to 1000");
  EXPECT_EQ(ErrorOf(base + "min_face_size = \"60\"\n"),
            "rules.toml:8: rules[0].min_face_size: must be a whole number from 1 to 100000");
  EXPECT_EQ(ErrorOf(base + "devices = \"d1\"\n"),
            "rules.toml:8: rules[0].devices: must be a list of strings, like [\"a\", \"b\"]");
  EXPECT_EQ(ErrorOf(base + "faces = 2\n"),
            "rules.toml:8: rules[0].faces: must be a table, like { key = value }");
  EXPECT_EQ(ErrorOf("[outputs]\nthumbnail_count = 0\n"),
            "rules.toml:2: outputs.thumbnail_count: must be a whole number from 1 to 64");
  EXPECT_EQ(ErrorOf("[detector]\nkind = \"yunet\"\nmodel = \"m.onnx\"\nscore_threshold = 2\n"),
            "rules.toml:4: detector.score_threshold: must be a number from 0 to 1");
  EXPECT_EQ(ErrorOf("safety = 3\n"), "rules.toml:1: safety: must be a table, like { key = value }");
}

TEST(ConfigTest, BadEnums) {
  const std::string base = std::string(kDevices) + "\n[[rules]]\n";
  EXPECT_EQ(ErrorOf(base + "action = \"allow\"\n"),
            "rules.toml:7: rules[0].action: \"allow\" is not one of \"approve\", \"reject\", "
            "\"escalate\"");
  EXPECT_EQ(ErrorOf(base + "action = \"approve\"\nkind = \"door\"\n"),
            "rules.toml:8: rules[0].kind: \"door\" is not one of \"unlock\", \"alert\", \"any\"");
  EXPECT_EQ(ErrorOf(base + "action = \"approve\"\nanalysis = \"maybe\"\n"),
            "rules.toml:8: rules[0].analysis: \"maybe\" is not one of \"ok\", \"failed\", "
            "\"any\"");
  EXPECT_EQ(ErrorOf("[detector]\nkind = \"hog\"\n"),
            "rules.toml:2: detector.kind: \"hog\" is not one of \"cascade\", \"yunet\"");
  EXPECT_EQ(ErrorOf("[cloud]\nregion = \"mars\"\n"),
            "rules.toml:2: cloud.region: \"mars\" is not one of \"cn\", \"us\", \"us-east\", "
            "\"eu\", \"eu-west\", \"in\"");
  EXPECT_EQ(ErrorOf(base + "kind = \"unlock\"\n"),
            "rules.toml:6: rules[0].action: is required (\"approve\", \"reject\" or "
            "\"escalate\")");
}

TEST(ConfigTest, BadTimes) {
  if (!HaveZone("Europe/Berlin")) GTEST_SKIP() << "no tz database in /usr/share/zoneinfo";
  const std::string base = std::string(kDevices) + "\n[[rules]]\naction = \"approve\"\n";
  EXPECT_EQ(ErrorOf(base + "time = { from = \"25:00\", to = \"06:00\", zone = \"UTC\" }\n"),
            "rules.toml:8: rules[0].time.from: \"25:00\" is not a time of day \"HH:MM\" from "
            "00:00 to 23:59");
  EXPECT_EQ(ErrorOf(base + "time = { from = \"07:60\", to = \"08:00\", zone = \"UTC\" }\n")
                .rfind("rules.toml:8: rules[0].time.from: \"07:60\" is not a time", 0),
            0u);
  EXPECT_EQ(ErrorOf(base + "time = { from = \"7:00\", to = \"08:00\", zone = \"UTC\" }\n")
                .rfind("rules.toml:8: rules[0].time.from: \"7:00\" is not a time", 0),
            0u);
  EXPECT_EQ(ErrorOf(base + "time = { from = \"24:00\", to = \"08:00\", zone = \"UTC\" }\n")
                .rfind("rules.toml:8: rules[0].time.from:", 0),
            0u);
  EXPECT_EQ(ErrorOf(base + "time = { from = \"07:00\", to = \"07:00\", zone = \"UTC\" }\n"),
            "rules.toml:8: rules[0].time: from and to are equal: the window is empty (leave "
            "time out for all day)");
  EXPECT_EQ(ErrorOf(base + "time = { from = \"07:00\", to = \"22:00\" }\n")
                .rfind("rules.toml:8: rules[0].time.zone: is required", 0),
            0u);
  EXPECT_EQ(
      ErrorOf(base + "time = { from = \"07:00\", to = \"22:00\", zone = \"Europe/Berlim\" }\n"),
      "rules.toml:8: rules[0].time.zone: unknown time zone 'Europe/Berlim' (no "
      "/usr/share/zoneinfo/Europe/Berlim)");
  EXPECT_EQ(
      ErrorOf(base + "time = { from = \"07:00\", to = \"22:00\", zone = \"../../etc/passwd\" }\n"),
      "rules.toml:8: rules[0].time.zone: '../../etc/passwd' is not a time zone name (like "
      "\"Europe/Berlin\")");
  // Valid: "24:00" as the end, seconds, TOML local times, a window over midnight.
  auto ok = ParseConfig(base + "time = { from = 22:30:00, to = \"24:00\", zone = \"UTC\" }\n",
                        "rules.toml");
  ASSERT_OK_R(ok);
  EXPECT_EQ(ok->rules[0].time->from_second, 22 * 3600 + 30 * 60);
  EXPECT_EQ(ok->rules[0].time->to_second, 86400);
  // The whole day, written out, is not an empty window.
  auto day = ParseConfig(base + "time = { from = \"00:00\", to = \"24:00\", zone = \"UTC\" }\n",
                         "rules.toml");
  ASSERT_OK_R(day);
  EXPECT_EQ(day->rules[0].time->to_second - day->rules[0].time->from_second, 86400);
  auto secs = ParseConfig(
      base + "time = { from = \"22:00:15\", to = \"06:00\", zone = \"Europe/Berlin\" }\n",
      "rules.toml");
  ASSERT_OK_R(secs);
  EXPECT_EQ(secs->rules[0].time->from_second, 22 * 3600 + 15);
}

TEST(ConfigTest, SafetyLimits) {
  EXPECT_EQ(ErrorOf("[safety]\nmax_capture_age_seconds = 91\n"),
            "rules.toml:2: safety.max_capture_age_seconds: 91 is above the hard cap of 90 (the "
            "reference's window for a capture)");
  EXPECT_EQ(ErrorOf("[safety]\nmax_capture_age_seconds = 0\n"),
            "rules.toml:2: safety.max_capture_age_seconds: must be a whole number from 1 to 90");
  EXPECT_EQ(ErrorOf("[safety]\non_error = \"approve\"\n"),
            "rules.toml:2: safety.on_error: an error is never an approval: use \"reject\" or "
            "\"escalate\"");
  auto c = ParseConfig(
      "[safety]\non_error = \"reject\"\nmax_capture_age_seconds = 30\n"
      "dry_run = true\n",
      "rules.toml");
  ASSERT_OK_R(c);
  EXPECT_EQ(c->safety.on_error, Verdict::kReject);
  EXPECT_EQ(c->safety.max_capture_age_seconds, 30);
  EXPECT_TRUE(c->safety.dry_run);
  const std::string rule =
      std::string(kDevices) + "\n[[rules]]\naction = \"approve\"\nmax_age_seconds = 120\n";
  EXPECT_EQ(ErrorOf(rule),
            "rules.toml:8: rules[0].max_age_seconds: must be a whole number from 1 to 90");
  const std::string alert =
      std::string(kDevices) + "\n[[rules]]\naction = \"approve\"\nkind = \"alert\"\n";
  EXPECT_EQ(ErrorOf(alert),
            "rules.toml:8: rules[0].kind: an alert is not a request to open: a rule for alerts "
            "can never approve (use \"escalate\" or \"reject\")");
  const std::string failed =
      std::string(kDevices) + "\n[[rules]]\naction = \"approve\"\nanalysis = \"failed\"\n";
  EXPECT_EQ(ErrorOf(failed).rfind("rules.toml:8: rules[0].analysis: a rule for failed analysis "
                                  "can never approve",
                                  0),
            0u);
}

TEST(ConfigTest, DeviceMistakes) {
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"door\"\ntype = \"wifi_access_control\"\n"),
            "rules.toml:1: devices[0].channel: is required for type \"wifi_access_control\" (the "
            "channel to unlock)");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"door\"\ntype = \"wifi\"\nchannel = 2\n"),
            "rules.toml:4: devices[0].channel: only applies to type \"wifi_access_control\"");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"door\"\ntype = \"wifi_access_control\"\nchannel = 0\n"),
            "rules.toml:4: devices[0].channel: must be a whole number >= 1");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"door\"\ntype = \"wifi_camera\"\n"),
            "rules.toml:3: devices[0].type: unknown lock type \"wifi_camera\" (one of \"wifi\", "
            "\"zigbee\", \"bluetooth\", \"wifi_all_in_one\", \"zigbee_all_in_one\", "
            "\"zigbee_hotel\", \"wifi_keepalive\", \"wifi_video\", \"wifi_access_control\")");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"a\"\ntype = \"wifi\"\n\n"
                    "[[devices]]\nid = \"a\"\ntype = \"zigbee\"\n"),
            "rules.toml:6: devices[1].id: duplicate device id \"a\" (first at line 1)");
  EXPECT_EQ(ErrorOf("[[devices]]\ntype = \"wifi\"\n"), "rules.toml:1: devices[0].id: is required");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"a\"\n"), "rules.toml:1: devices[0].type: is required");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"a\"\ntype = \"zigbee\"\npassword_file = \"p\"\n"
                    "password_env = \"P\"\n"),
            "rules.toml:5: devices[0].password_env: give either password_file or password_env, "
            "not both");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"door\"\ntype = \"wifi_access_control\"\n"
                    "channel = 99999999999\n"),
            "rules.toml:4: devices[0].channel: must be a whole number from 1 to 2147483647");
  // A space, a newline or a path in an id is a typo or a forged log line.
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"door \"\ntype = \"wifi\"\n"),
            "rules.toml:2: devices[0].id: \"door \" is not a device id: at most 128 letters, "
            "digits and - _ . :");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"a\\nb\"\ntype = \"wifi\"\n"),
            "rules.toml:2: devices[0].id: \"a?b\" is not a device id: at most 128 letters, "
            "digits and - _ . :");
  EXPECT_NE(ErrorOf("[[devices]]\nid = \"../x\"\ntype = \"wifi\"\n"), "");
  EXPECT_EQ(ErrorOf("[[devices]]\nid = \"vdevo1600-00_0.3:a\"\ntype = \"wifi\"\n"), "");
  auto c = ParseConfig("[[devices]]\nid = \"a\"\ntype = \"zigbee\"\npassword_file = \"pw\"\n",
                       "/etc/lockpipe/rules.toml");
  ASSERT_OK_R(c);
  ASSERT_TRUE(c->devices[0].password.has_value());
  EXPECT_EQ(c->devices[0].password->file, "/etc/lockpipe/pw");
}

TEST(ConfigTest, RuleReferences) {
  const std::string base = std::string(kDevices) + "\n[[rules]]\naction = \"approve\"\n";
  EXPECT_EQ(ErrorOf(base + "devices = [\"d1\", \"d2\"]\n"),
            "rules.toml:8: rules[0].devices[1]: unknown device \"d2\" (not in [[devices]])");
  EXPECT_EQ(ErrorOf(base + "groups = [\"office\"]\n"),
            "rules.toml:8: rules[0].groups[0]: unknown group \"office\" (no device lists it in "
            "its groups)");
  EXPECT_EQ(ErrorOf(base + "faces = { min = 3, max = 1 }\n"),
            "rules.toml:8: rules[0].faces: min is greater than max: the rule could never match");
  EXPECT_EQ(ErrorOf(base + "min_face_score = 0.9\n"),
            "rules.toml:8: rules[0].min_face_score: the \"cascade\" detector gives no scores, so "
            "this could never match (use detector.kind = \"yunet\")");
  // An empty list names no device: it must not mean every device.
  EXPECT_EQ(ErrorOf(base + "devices = []\n"),
            "rules.toml:8: rules[0].devices: is empty: list at least one device, or leave "
            "devices out for every device");
  EXPECT_EQ(ErrorOf(base + "groups = []\n"),
            "rules.toml:8: rules[0].groups: is empty: list at least one group, or leave groups "
            "out for every device");
  EXPECT_EQ(
      ErrorOf(std::string(kDevices) +
              "\n[[rules]]\naction = \"reject\"\nrate_limit = { count = 3, per_seconds = 60 }\n"),
      "rules.toml:8: rules[0].rate_limit: limits approvals, and this rule does not "
      "approve: it would never apply (move it to an approving rule, or remove it)");
  EXPECT_EQ(ErrorOf(base + "rate_limit = { count = 3 }\n"),
            "rules.toml:8: rules[0].rate_limit.per_seconds: is required");
  EXPECT_EQ(ErrorOf(base + "name = \"a\"\n[[rules]]\nname = \"a\"\naction = \"reject\"\n"),
            "rules.toml:10: rules[1].name: duplicate rule name \"a\" (first at line 6)");
}

TEST(ConfigTest, EveryMistakeIsListed) {
  // Three independent mistakes: all three are reported, in file order.
  const std::string text = std::string(kDevices) +
                           "\n[[rules]]\naction = \"aprove\"\nkind = \"unlock\"\n"
                           "faces = { min = -2 }\n[safety]\ndry_run = 1\n";
  const std::string err = ErrorOf(text);
  EXPECT_EQ(err,
            "rules.toml:7: rules[0].action: \"aprove\" is not one of \"approve\", \"reject\", "
            "\"escalate\"\n"
            "rules.toml:9: rules[0].faces.min: must be a whole number from 0 to 1000\n"
            "rules.toml:11: safety.dry_run: must be true or false");
}

TEST(ConfigTest, CloudSection) {
  auto c = ParseConfig(
      "[cloud]\nendpoint = \"http://127.0.0.1:8080/\"\ncredentials = \"creds.json\"\n"
      "ca_file = \"/etc/ca.pem\"\ninsecure = true\n",
      "conf/rules.toml");
  ASSERT_OK_R(c);
  EXPECT_EQ(c->cloud.endpoint, "http://127.0.0.1:8080");
  EXPECT_EQ(c->cloud.region, "");
  EXPECT_FALSE(c->cloud.credentials_from_env);
  EXPECT_EQ(c->cloud.credentials_file, "conf/creds.json");
  EXPECT_EQ(c->cloud.ca_file, "/etc/ca.pem");
  EXPECT_TRUE(c->cloud.insecure);
  EXPECT_EQ(ErrorOf("[cloud]\nendpoint = \"ftp://x\"\n"),
            "rules.toml:2: cloud.endpoint: \"ftp://x\" must start with https:// (or http:// for "
            "a local emulator)");
  EXPECT_EQ(ErrorOf("[cloud]\nendpoint = \"https://x\"\nregion = \"eu\"\n"),
            "rules.toml:3: cloud.region: give either endpoint or region, not both");
  EXPECT_EQ(ErrorOf("[cloud]\ncredentials = \"env\"\n"),
            "rules.toml:1: cloud: needs endpoint = \"https://...\" or region = \"eu\"");
  EXPECT_EQ(ErrorOf("[detector]\nkind = \"yunet\"\n"),
            "rules.toml:2: detector.model: kind \"yunet\" needs model = "
            "\"path/to/face_detection_yunet.onnx\"");
}

}  // namespace
}  // namespace lockpipe
