#include "common/entity_id.hpp"

#include <string>

#include "common/sha256.hpp"

namespace vigil {

std::string ProcessEntityId(std::string_view host_id, std::string_view boot_id, std::int64_t pid,
                            std::uint64_t start_ticks) {
  std::string key;
  key.reserve(host_id.size() + boot_id.size() + 48);
  key.append(host_id).append("|").append(boot_id).append("|");
  key.append(std::to_string(pid)).append("|").append(std::to_string(start_ticks));
  // 128 bits of SHA-256 in hex: collision-free for any fleet, and short to type.
  return Sha256Hex(key).substr(0, 32);
}

}  // namespace vigil
