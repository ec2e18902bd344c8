// Per-host state derived from the response audit log, for GET /api/hosts/state: a host's network
// isolation is the last isolate or release its agent confirmed, plus one still on its way.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "server/store/action_store.hpp"

namespace vigil::server {

struct HostIsolation {
  bool isolated = false;
  std::int64_t since_ns = 0;  // when the last confirmed isolate/release was done
  std::int64_t action = 0;    // that action's id
  std::string pending;        // "isolate" or "release" sent after it, not answered yet
  std::int64_t pending_action = 0;
  std::string failed;  // the newest isolate/release failed on this host: its error
};

// By agent id, from actions oldest first (ActionStore::List order).
std::map<std::string, HostIsolation> DeriveIsolation(
    const std::vector<store::ActionRecord>& actions);

}  // namespace vigil::server
