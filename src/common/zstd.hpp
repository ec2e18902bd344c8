// zstd compression of batch payloads on the agent -> server path, with a hard bound on the
// decompressed size so a hostile or broken peer cannot make the server allocate without limit.
#pragma once

#include <string>
#include <string_view>

#include "common/error.hpp"

namespace vigil {

std::string ZstdCompress(std::string_view input, int level = 3);
// Appends the compressed input to `out` (no intermediate buffer); the bytes appended, 0 when
// compression failed (nothing appended).
std::size_t ZstdCompressTo(std::string& out, std::string_view input, int level = 3);
Result<std::string> ZstdDecompress(std::string_view input, std::size_t expected_size,
                                   std::size_t max_size);

}  // namespace vigil
