// Runs the nft(8) command (real nftables) with a script on its standard input, for the executors
// that own Vigil's tables (isolation, IP and domain blocks). Also the small address helpers they
// share.
#pragma once

#include <string>
#include <vector>

#include "common/error.hpp"

namespace vigil::agent::response {

// `nft -f -` with script on stdin; the error carries nft's message. Atomic: nft applies a script
// as one transaction.
Result<void> NftApply(const std::string& script);
// `nft ARGS...`; returns its standard output.
Result<std::string> Nft(const std::vector<std::string>& args);
// True when the table exists (family inet).
bool NftTableExists(const std::string& table);

// IPv4 or IPv6 (address or CIDR)?
bool IsIpv6(const std::string& address_or_cidr);
// Resolves host (name or literal) to its addresses.
Result<std::vector<std::string>> ResolveHost(const std::string& host);
// nameserver lines of a resolv.conf file.
std::vector<std::string> ReadResolvers(const std::string& path = "/etc/resolv.conf");

}  // namespace vigil::agent::response
