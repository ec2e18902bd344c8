// LEB128 varints of the store's own binary formats (postings blocks, column blocks): 7 bits per
// byte, low bits first, high bit set on every byte but the last.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::store {

inline void PutVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// Reads a varint at `pos` into `v`; false (pos unspecified) when it is truncated or longer than
// 64 bits.
inline bool ReadVarint(std::string_view in, std::size_t& pos, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size()) return false;
    const auto byte = static_cast<unsigned char>(in[pos++]);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

}  // namespace vigil::store
