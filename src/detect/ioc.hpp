// IOC sets for live detection: named lists of SHA-256 hashes, IPs/CIDRs and domains (a domain
// matches its subdomains too), with a source and an optional expiry. Each set that has not expired
// runs as one generated EQL rule (`ioc-NAME`), so it matches live and retro-hunts alike; a match
// is an alert like any rule's. See docs/detection.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "server/store/detection_store.hpp"

namespace vigil::detect {

// Sorts indicators into the set's lists (64 hex digits: sha256, lower-cased; an IPv4/IPv6
// address or CIDR: ip; else a domain, lower-cased, without a trailing dot). An indicator that is
// none of these is an error naming it.
Result<void> AddIndicator(store::IocSet& set, std::string_view indicator);
Result<void> ValidateIocSet(const store::IocSet& set);

// The set as one EQL query over hashes, addresses and names in every category that has them.
std::string IocQuery(const store::IocSet& set);
std::string IocRuleId(const store::IocSet& set);  // "ioc-NAME"

}  // namespace vigil::detect
