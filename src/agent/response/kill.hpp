// The "kill" command: SIGKILL a process, or its whole tree, named by entity id. The pid comes from
// the enricher's process table (else a /proc scan); before signalling, the process is pinned with a
// pidfd and its start time re-read from /proc/PID/stat: the entity id recomputed from (pid, start
// time) must be the one asked for, so a reused pid is never hit. Signals go through the pidfd.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/host_info.hpp"

namespace vigil::agent::response {

struct ProcessRef {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;
};

// entity id -> where the agent last saw that process (nullopt: not known).
using EntityLookup = std::function<std::optional<ProcessRef>(const std::string& entity_id)>;

struct KillRequest {
  std::string entity_id;
  bool tree = false;
};

// Result: {"killed": [{"pid", "name", "entity_id"}...]}; an error when the process is gone, the
// pid now belongs to another process, or it is the agent itself or pid 1.
Result<nlohmann::json> Kill(const KillRequest& request, const HostInfo& host,
                            const EntityLookup& lookup);

}  // namespace vigil::agent::response
