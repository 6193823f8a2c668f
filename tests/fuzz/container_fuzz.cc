// libFuzzer target: the header parser, the streaming decryptor (fed in
// fuzzer-chosen chunk sizes) and the random-access reader on arbitrary bytes.
// Whatever the input, these must return a Status, never crash, and agree.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "decoders/media_container.h"

using namespace lockpipe;  // NOLINT: a fuzz entry point, not library code

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // First byte picks the chunk size; the rest is the container.
  std::size_t chunk = 1 + data[0] % 97;
  std::span<const std::uint8_t> body(data + 1, size - 1);
  const Secret key("u8kstrtjm7qun83q");

  (void)media::ParseHeader(body, "fuzz");

  auto dec = media::StreamDecryptor::Create(key, "fuzz");
  if (!dec.ok()) std::abort();
  std::vector<std::uint8_t> streamed;
  Status st;
  for (std::size_t i = 0; i < body.size() && st.ok(); i += chunk) {
    st = dec->Update(body.subspan(i, std::min(chunk, body.size() - i)), &streamed);
  }
  if (st.ok()) st = dec->Finish(&streamed);

  auto ra = media::RandomAccessDecryptor::Open(
      std::make_unique<MemorySource>(std::vector<std::uint8_t>(body.begin(), body.end())), key);
  // Both readers must reach the same verdict, and the same bytes.
  if (st.ok() != ra.ok()) std::abort();
  if (ra.ok()) {
    std::vector<std::uint8_t> whole((*ra)->size());
    auto n = (*ra)->ReadAt(0, whole);
    if (!n.ok() || *n != whole.size() || whole != streamed) std::abort();
    if (!whole.empty()) {
      std::vector<std::uint8_t> piece(7);
      std::uint64_t off = data[0] % whole.size();
      auto m = (*ra)->ReadAt(off, piece);
      if (!m.ok()) std::abort();
      for (std::size_t i = 0; i < *m; ++i)
        if (piece[i] != whole[off + i]) std::abort();
    }
  }
  return 0;
}
