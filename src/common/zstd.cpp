#include "common/zstd.hpp"

#include <zstd.h>

#include <memory>

namespace vigil {
namespace {

// One context per thread, reused: creating one per call costs more than compressing a small input.
struct ContextFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* CompressContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, ContextFree> context(ZSTD_createCCtx());
  return context.get();
}

ZSTD_DCtx* DecompressContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, ContextFree> context(ZSTD_createDCtx());
  return context.get();
}

}  // namespace

std::string ZstdCompress(std::string_view input, int level) {
  std::string out;
  ZstdCompressTo(out, input, level);
  return out;
}

std::size_t ZstdCompressTo(std::string& out, std::string_view input, int level) {
  const std::size_t before = out.size();
  std::size_t written = 0;
  // resize_and_overwrite: the bound's bytes are not zeroed first.
  out.resize_and_overwrite(before + ZSTD_compressBound(input.size()), [&](char* p, std::size_t n) {
    const std::size_t r = ZSTD_compressCCtx(CompressContext(), p + before, n - before, input.data(),
                                            input.size(), level);
    written = ZSTD_isError(r) ? 0 : r;
    return before + written;
  });
  return written;
}

Result<std::string> ZstdDecompress(std::string_view input, std::size_t expected_size,
                                   std::size_t max_size) {
  if (expected_size > max_size)
    return Fail("declared size " + std::to_string(expected_size) + " exceeds the limit of " +
                std::to_string(max_size) + " bytes");
  unsigned long long frame = ZSTD_getFrameContentSize(input.data(), input.size());
  if (frame == ZSTD_CONTENTSIZE_ERROR) return Fail("not a zstd frame");
  if (frame != ZSTD_CONTENTSIZE_UNKNOWN && frame != expected_size)
    return Fail("zstd frame holds " + std::to_string(frame) + " bytes, batch declares " +
                std::to_string(expected_size));
  std::string out(expected_size, '\0');
  std::size_t n =
      ZSTD_decompressDCtx(DecompressContext(), out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(n)) return Fail(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != expected_size)
    return Fail("decompressed " + std::to_string(n) + " bytes, batch declares " +
                std::to_string(expected_size));
  return out;
}

}  // namespace vigil
