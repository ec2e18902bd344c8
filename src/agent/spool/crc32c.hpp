// CRC-32C (Castagnoli), table-driven slicing-by-8, used to protect spool records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vigil::agent::spool_internal {

// Continues a CRC-32C over `data`; start with crc = 0. Crc32c("123456789") == 0xE3069283.
std::uint32_t Crc32c(std::uint32_t crc, const void* data, std::size_t size);
inline std::uint32_t Crc32c(std::uint32_t crc, std::string_view data) {
  return Crc32c(crc, data.data(), data.size());
}

}  // namespace vigil::agent::spool_internal
