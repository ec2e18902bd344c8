// "block-ip"/"unblock-ip" and "block-domain"/"unblock-domain": the nftables table
// `inet vigil_block` drops traffic to and from the addresses in its sets. IPs/CIDRs go into the
// interval sets blocked_v4/blocked_v6. For a blocked domain (and its subdomains) the agent resolves
// it when the block arrives and then adds every A/AAAA address that DNS answers seen by the sensor
// give for the name, into the sets dns_v4/dns_v6 with the record's TTL as the element's timeout (at
// least 60 s). The lists are persisted in STATE_DIR/response/net_block.json and re-applied at agent
// start.
#pragma once

#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/schema.hpp"

namespace vigil::agent::response {

inline constexpr const char* kBlockTable = "vigil_block";

class NetBlocker {
 public:
  explicit NetBlocker(std::filesystem::path state_file);

  Result<void> Start();  // re-creates the table from the persisted lists (if any)
  Result<nlohmann::json> BlockIps(const std::vector<std::string>& ips);
  Result<nlohmann::json> UnblockIps(const std::vector<std::string>& ips);
  Result<nlohmann::json> BlockDomains(const std::vector<std::string>& domains);
  Result<nlohmann::json> UnblockDomains(const std::vector<std::string>& domains);
  // A DNS answer from the sensor: adds its addresses when the name is blocked. Cheap otherwise.
  void OnDnsAnswer(const v1::Event& event);

 private:
  Result<void> Persist();
  Result<void> Rebuild();  // the whole table from the lists, one nft transaction
  bool Blocked(std::string name) const;
  Result<void> AddResolved(const std::string& ip, int ttl_s);

  std::filesystem::path state_file_;
  mutable std::mutex mutex_;
  std::set<std::string> ips_;
  std::set<std::string> domains_;
};

}  // namespace vigil::agent::response
