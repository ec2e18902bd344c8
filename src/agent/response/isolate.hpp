// The "isolate" and "release" commands: an nftables table owned by Vigil, `inet vigil_isolation`,
// drops every packet in and out except loopback, the Vigil server (its addresses and gateway port),
// DNS (port 53) to the resolvers of /etc/resolv.conf and an optional allow-list. The state is
// persisted in STATE_DIR/response/isolation.json and re-applied when the agent starts; release
// deletes exactly that table and the state.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace vigil::agent::response {

inline constexpr const char* kIsolationTable = "vigil_isolation";

struct IsolationRules {
  std::vector<std::string> server_ips;  // the gateway's addresses
  int server_port = 0;
  std::vector<std::string> resolvers;
  std::vector<std::string> allow;  // IPs or CIDRs
};

// The nft script creating the table (exposed for tests).
std::string IsolationScript(const IsolationRules& rules);

class Isolation {
 public:
  // server: the gateway's host:port as the agent connects to it.
  Isolation(std::filesystem::path state_file, std::string server, std::string resolv_conf);

  Result<nlohmann::json> Isolate(const std::vector<std::string>& allow);
  Result<nlohmann::json> Release();
  // At agent start: re-applies a persisted isolation (nothing when not isolated).
  Result<bool> Reapply();

 private:
  std::filesystem::path state_file_;
  std::string server_;
  std::string resolv_conf_;
};

}  // namespace vigil::agent::response
