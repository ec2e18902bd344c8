// The quarantine vault: "quarantine" moves a file into STATE_DIR/quarantine (0700, root only) as
// ID.bin — its bytes zstd-compressed, mode 0400, so the vault copy is neither the original bytes
// nor executable — with ID.json holding its metadata (path, owner, mode, times, size, sha256).
// "quarantine-list" lists the vault, "restore" writes the file back byte-identical (checked
// against the sha256) with its owner, mode and times, "quarantine-delete" drops an entry.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace vigil::agent::response {

class Quarantine {
 public:
  explicit Quarantine(std::filesystem::path vault);

  // Files up to max_bytes (default 1 GiB) are accepted.
  Result<nlohmann::json> Add(const std::string& path, std::uint64_t max_bytes = 1ull << 30);
  Result<nlohmann::json> List();
  Result<nlohmann::json> Restore(const std::string& id);
  Result<nlohmann::json> Delete(const std::string& id);

 private:
  Result<void> EnsureVault();
  std::filesystem::path vault_;
};

}  // namespace vigil::agent::response
