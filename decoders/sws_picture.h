// Pictures laid out the way libswscale needs them. Internal to decoders/.
//
// sws_scale's SIMD converters work in whole blocks of pixels: FFmpeg 5.1's
// SSSE3 yuv420p-to-BGR24 converter writes 16 pixels (48 bytes) a step, at
// least one step per row, and its readers of packed RGB rows load whole
// vectors, which can reach past a row's end the same way. FFmpeg's own frames (av_frame_get_buffer)
// have rows padded for that and slack after the last; a cv::Mat of the exact size has neither, so a
// picture narrower than a block (2x2, 4x4, 8x8 clips) had sws_scale write
// past the end of its heap buffer. Every cv::Mat handed to sws_scale goes
// through these.
#pragma once

#include <opencv2/core.hpp>

namespace lockpipe::media {

// Rows handed to sws_scale are padded to a multiple of this many pixels: the
// padding av_frame_get_buffer gives a packed 24-bit frame (STRIDE_ALIGN 32),
// which covers the 16-pixel blocks above and 32-pixel AVX2 ones.
inline constexpr int kSwsBlockPixels = 32;

// A width x height buffer of `type` (CV_8UC3 or CV_8UC1) for sws_scale to
// write into: its rows padded to a multiple of kSwsBlockPixels pixels, and one
// spare row beneath the last. Write through data and step[0].
cv::Mat NewSwsBuffer(int width, int height, int type);

// The width x height picture that sws_scale wrote into `buffer` (from
// NewSwsBuffer) as a continuous cv::Mat of exactly that size, which the rest
// of lockpipe may assume (hashing, encoding). When the width is a whole number
// of blocks (1920, 1280, 640: the usual camera sizes) the rows carry no
// padding and this is a view of the buffer, no copy; otherwise a copy.
cv::Mat SwsPicture(const cv::Mat& buffer, int width, int height);

// `image` as sws_scale may read it (whole blocks per row, slack after the
// last): `image` itself when its width is a whole number of blocks, else a
// padded copy. Only the first image.cols x image.rows pixels are meaningful.
cv::Mat SwsReadable(const cv::Mat& image);

}  // namespace lockpipe::media
