// The store's free-space guard. Ingest pauses while the filesystem holding the database has less
// than a minimum free (a retryable error: agents keep the events in their spools and resend), so
// SQLite never runs out of space in the middle of a transaction, the other writers (alerts,
// actions, detection state) keep room, and retention, whose deletes need free pages too, can still
// run. Ingest resumes by itself once space is back.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>

#include "common/error.hpp"
#include "server/store/store.hpp"

namespace vigil::store {

// The default minimum: 5 % of the filesystem, at least 128 MiB (at most half of a small
// filesystem) and at most 1 GiB.
std::uint64_t DefaultMinFree(std::uint64_t filesystem_bytes);

class FreeSpaceGuard {
 public:
  // dir: the directory holding the database; min_free: nullopt for DefaultMinFree.
  FreeSpaceGuard(std::filesystem::path dir, std::optional<std::uint64_t> min_free);

  // Fails with the reason while below the minimum. Logs once when ingest pauses and once when it
  // resumes. A filesystem that cannot be queried does not pause ingest.
  Result<void> Check();
  DiskStatus Status() const;

 private:
  std::filesystem::path dir_;
  std::optional<std::uint64_t> min_free_;
  std::atomic<bool> paused_{false};
};

}  // namespace vigil::store
