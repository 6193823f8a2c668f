// A capture's one identity: every route to one storage object names it the
// same way, and nothing else shares that name.
#include "pipeline/capture_job.h"

#include <gtest/gtest.h>

namespace lockpipe {
namespace {

TEST(CaptureKey, AUrlNamesItsStorageObjectWhateverItsSignatureOrHost) {
  EXPECT_EQ(MediaObjectPath("https://b.cos.example/3039e1-30532026.jpg?sign=abc&t=1"),
            "/3039e1-30532026.jpg");
  EXPECT_EQ(MediaObjectPath("https://user:pw@b.cos.example:8443/d/x%20y.jpg#frag"), "/d/x y.jpg");
  EXPECT_EQ(MediaObjectPath("http://127.0.0.1:9/gate/a.mp4"), "/gate/a.mp4");
  EXPECT_EQ(MediaObjectPath("https://b.example"), "/");
  EXPECT_EQ(MediaObjectPath("https://b.example?x=1"), "/");
  EXPECT_EQ(MediaObjectPath("/gate/a.jpg"), "/gate/a.jpg");
  EXPECT_EQ(MediaObjectPath("gate/a.jpg"), "/gate/a.jpg");
  EXPECT_EQ(MediaObjectPath("/a%2"), "/a%2");  // not an escape: kept
}

TEST(CaptureKey, EveryRouteToOneObjectIsOneCapture) {
  CaptureJob polled;  // as the poller and a pushed event describe it
  polled.device_id = "gate";
  polled.where = CaptureJob::Where::kUrl;
  polled.url = "http://127.0.0.1:1/gate/abc.jpg?sign=1";
  polled.file_path = "/gate/abc.jpg";
  CaptureJob listed = polled;  // a batch line with the URL only, freshly signed
  listed.file_path.clear();
  listed.url = "https://other-host.example/gate/abc.jpg?sign=2&expires=3";
  listed.label = "line-7";
  EXPECT_EQ(CaptureKey(polled), "gate|unlock|/gate/abc.jpg");
  EXPECT_EQ(CaptureKey(listed), CaptureKey(polled));
  CaptureJob relative = polled;  // a file_path written without its slash
  relative.file_path = "gate/abc.jpg";
  EXPECT_EQ(CaptureKey(relative), CaptureKey(polled));

  CaptureJob alert = polled;
  alert.kind = MediaKind::kAlert;
  EXPECT_NE(CaptureKey(alert), CaptureKey(polled));
  CaptureJob other_lock = polled;
  other_lock.device_id = "door";
  EXPECT_NE(CaptureKey(other_lock), CaptureKey(polled));
  CaptureJob other_object = listed;
  other_object.url = "https://other-host.example/gate/abd.jpg?sign=2";
  EXPECT_NE(CaptureKey(other_object), CaptureKey(polled));

  CaptureJob file;
  file.device_id = "gate";
  file.where = CaptureJob::Where::kFile;
  file.path = "/gate/abc.jpg";  // a local file is not the cloud's object
  EXPECT_EQ(CaptureKey(file), "gate|unlock|file:/gate/abc.jpg");
  CaptureJob latest;  // not resolved yet: no identity
  latest.device_id = "gate";
  EXPECT_EQ(CaptureKey(latest), "");
}

}  // namespace
}  // namespace lockpipe
