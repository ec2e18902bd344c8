// IOC set validation and the EQL each set compiles to (see ioc.hpp).
#include "detect/ioc.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace vigil::detect {
namespace {

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool IsCidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return IsIp(s);
  std::string ip = s.substr(0, slash), bits = s.substr(slash + 1);
  if (!IsIp(ip) || bits.empty() || bits.size() > 3 ||
      bits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const int n = std::stoi(bits);
  return n <= (ip.find(':') == std::string::npos ? 32 : 128);
}

bool IsDomain(const std::string& s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') return false;
  return s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") == std::string::npos &&
         s.find("..") == std::string::npos;
}

std::string List(const std::vector<std::string>& items, const std::string& prefix = "") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + nlohmann::json(prefix + i).dump();
  return out;
}

}  // namespace

Result<void> AddIndicator(store::IocSet& set, std::string_view raw) {
  std::string v(raw);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.erase(0, 1);
  if (v.empty()) return {};
  const bool hex = v.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (v.size() == 64 && hex) {
    std::ranges::transform(v, v.begin(), [](unsigned char c) { return std::tolower(c); });
    set.sha256.push_back(v);
  } else if (hex && v.size() >= 32) {
    // A mistyped SHA-256 (or an MD5/SHA-1) would otherwise pass as a one-label domain.
    return Fail("'" + v + "' looks like a hash but is not a SHA-256 (64 hex digits, it has " +
                std::to_string(v.size()) + ")");
  } else if (IsCidr(v)) {
    set.ips.push_back(v);
  } else {
    std::ranges::transform(v, v.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!v.empty() && v.back() == '.') v.pop_back();
    if (!IsDomain(v))
      return Fail("'" + std::string(raw) + "' is not a SHA-256, an IP address, a CIDR or a domain");
    set.domains.push_back(v);
  }
  return {};
}

Result<void> ValidateIocSet(const store::IocSet& set) {
  if (set.name.empty() || set.name.size() > 64 ||
      set.name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
    return Fail("an IOC set name is 1-64 letters, digits, '.', '_' or '-'");
  if (set.sha256.empty() && set.ips.empty() && set.domains.empty())
    return Fail("IOC set " + set.name + " has no indicators");
  store::IocSet check{.name = set.name};
  for (const auto* list : {&set.sha256, &set.ips, &set.domains})
    for (const auto& i : *list)
      if (auto r = AddIndicator(check, i); !r) return r;
  if (check.sha256 != set.sha256 || check.ips != set.ips || check.domains != set.domains)
    return Fail("IOC set " + set.name + ": an indicator is in the wrong list");
  return {};
}

std::string IocRuleId(const store::IocSet& set) { return "ioc-" + set.name; }

std::string IocQuery(const store::IocSet& set) {
  std::vector<std::string> terms;
  if (!set.sha256.empty()) {
    const auto l = List(set.sha256);
    terms.push_back("process.hash.sha256 in (" + l + ")");
    terms.push_back("file.hash.sha256 in (" + l + ")");
  }
  if (!set.ips.empty()) {
    std::vector<std::string> cidrs;
    for (const auto& ip : set.ips)
      cidrs.push_back(ip.find('/') != std::string::npos   ? ip
                      : ip.find(':') != std::string::npos ? ip + "/128"
                                                          : ip + "/32");
    const auto l = List(cidrs);
    terms.push_back("cidrMatch(destination.ip, " + l + ")");
    terms.push_back("cidrMatch(source.ip, " + l + ")");
    terms.push_back("cidrMatch(dns.resolved_ip, " + l + ")");
  }
  if (!set.domains.empty()) {
    std::vector<std::string> patterns = set.domains;
    for (const auto& d : set.domains) patterns.push_back("*." + d);
    const auto l = List(patterns);
    terms.push_back("dns.question.name : (" + l + ")");
    terms.push_back("destination.domain : (" + l + ")");
  }
  std::string q = "// id: " + IocRuleId(set) + "\n// name: IOC match: " + set.name +
                  (set.source.empty() ? "" : " (" + set.source + ")") +
                  "\n// severity: high\n// tags: ioc\nany where ";
  for (std::size_t i = 0; i < terms.size(); ++i) q += (i ? "\n  or " : "") + terms[i];
  return q + "\n";
}

}  // namespace vigil::detect
