// CRC-32C (Castagnoli), used to protect spool records: the CPU's crc32 instruction (SSE4.2) when
// there is one, else table-driven slicing-by-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vigil::agent::spool_internal {

// Continues a CRC-32C over `data`; start with crc = 0. Crc32c("123456789") == 0xE3069283.
std::uint32_t Crc32c(std::uint32_t crc, const void* data, std::size_t size);
// The table-driven version alone (what Crc32c uses without SSE4.2); the tests compare the two.
std::uint32_t Crc32cSoftware(std::uint32_t crc, const void* data, std::size_t size);
inline std::uint32_t Crc32c(std::uint32_t crc, std::string_view data) {
  return Crc32c(crc, data.data(), data.size());
}

}  // namespace vigil::agent::spool_internal
