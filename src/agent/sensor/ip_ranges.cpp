// IpRanges and address formatting; see ip_ranges.hpp.
#include "agent/sensor/ip_ranges.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace vigil::agent {

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, bytes.data(), buf, sizeof buf)) return {};
  return buf;
}

IpAddress IpAddress::Unmapped() const {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family != AF_INET6 || !std::equal(kPrefix, kPrefix + 12, bytes.begin())) return *this;
  IpAddress v4;
  v4.family = AF_INET;
  std::copy(bytes.begin() + 12, bytes.end(), v4.bytes.begin());
  return v4;
}

Result<Cidr> ParseCidr(std::string_view text) {
  auto slash = text.find('/');
  std::string addr(text.substr(0, slash));
  Cidr c;
  if (inet_pton(AF_INET, addr.c_str(), c.base.bytes.data()) == 1) {
    c.base.family = AF_INET;
    c.bits = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.base.bytes.data()) == 1) {
    c.base.family = AF_INET6;
    c.bits = 128;
  } else {
    return Fail("bad CIDR address: " + std::string(text));
  }
  if (slash != std::string_view::npos) {
    auto bits = text.substr(slash + 1);
    int n = -1;
    auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
    if (ec != std::errc() || p != bits.data() + bits.size() || n < 0 || n > c.bits)
      return Fail("bad CIDR prefix length: " + std::string(text));
    c.bits = n;
  }
  return c;
}

Result<IpRanges> IpRanges::Parse(const std::vector<std::string>& cidrs) {
  IpRanges r;
  for (const auto& text : cidrs) {
    auto c = ParseCidr(text);
    if (!c) return std::unexpected(c.error());
    r.ranges_.push_back(*c);
  }
  return r;
}

bool IpRanges::Contains(const IpAddress& raw) const {
  IpAddress ip = raw.Unmapped();
  for (const auto& c : ranges_) {
    if (c.base.family != ip.family) continue;
    int full = c.bits / 8, rest = c.bits % 8;
    if (!std::equal(c.base.bytes.begin(), c.base.bytes.begin() + full, ip.bytes.begin())) continue;
    if (rest) {
      auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
      if ((c.base.bytes[full] & mask) != (ip.bytes[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

}  // namespace vigil::agent
