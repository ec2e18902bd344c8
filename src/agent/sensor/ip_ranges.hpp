// Internal address ranges (CIDRs) for vigil.destination.external, and the text form of the
// addresses the eBPF sensor reports (IPv4-mapped IPv6 addresses are shown as IPv4).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace vigil::agent {

struct IpAddress {
  int family = 0;                        // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 in the first 4
  std::string ToString() const;
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes IPv4; others are unchanged.
  IpAddress Unmapped() const;
};

struct Cidr {
  IpAddress base;
  int bits = 0;
};

Result<Cidr> ParseCidr(std::string_view text);  // "10.0.0.0/8", "fe80::/10", "1.2.3.4"

class IpRanges {
 public:
  static Result<IpRanges> Parse(const std::vector<std::string>& cidrs);
  bool Contains(const IpAddress& ip) const;

 private:
  std::vector<Cidr> ranges_;
};

}  // namespace vigil::agent
