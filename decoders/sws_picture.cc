#include "decoders/sws_picture.h"

namespace lockpipe::media {
namespace {

int PaddedWidth(int width) {
  return (width + kSwsBlockPixels - 1) / kSwsBlockPixels * kSwsBlockPixels;
}

}  // namespace

cv::Mat NewSwsBuffer(int width, int height, int type) {
  // The spare row is the slack FFmpeg leaves after a frame's last row.
  return cv::Mat(height + 1, PaddedWidth(width), type);
}

cv::Mat SwsPicture(const cv::Mat& buffer, int width, int height) {
  if (PaddedWidth(width) == width) {
    // All rows but the spare one: a whole-width row range is continuous.
    return buffer.rowRange(0, height);
  }
  return buffer(cv::Rect(0, 0, width, height)).clone();
}

cv::Mat SwsReadable(const cv::Mat& image) {
  if (PaddedWidth(image.cols) == image.cols) return image;
  cv::Mat padded = NewSwsBuffer(image.cols, image.rows, image.type());
  image.copyTo(padded(cv::Rect(0, 0, image.cols, image.rows)));
  return padded;
}

}  // namespace lockpipe::media
