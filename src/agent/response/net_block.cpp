#include "agent/response/net_block.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <sstream>

#include "agent/response/nft.hpp"
#include "common/log.hpp"
#include "common/pki/pki.hpp"

namespace vigil::agent::response {
namespace {

using nlohmann::json;

constexpr int kMinTimeoutS = 60;

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// A and AAAA records of name with their TTLs, from the system's resolvers (res_query), so a
// domain is blocked before anything on the host looks it up.
std::vector<std::pair<std::string, int>> Lookup(const std::string& name) {
  std::vector<std::pair<std::string, int>> out;
  for (int type : {ns_t_a, ns_t_aaaa}) {
    unsigned char answer[4096];
    int len = ::res_query(name.c_str(), ns_c_in, type, answer, sizeof answer);
    if (len <= 0) continue;
    ns_msg msg;
    if (::ns_initparse(answer, len, &msg) != 0) continue;
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
      ns_rr rr;
      if (::ns_parserr(&msg, ns_s_an, i, &rr) != 0) continue;
      char text[INET6_ADDRSTRLEN] = {};
      if (ns_rr_type(rr) == ns_t_a && ns_rr_rdlen(rr) == 4)
        ::inet_ntop(AF_INET, ns_rr_rdata(rr), text, sizeof text);
      else if (ns_rr_type(rr) == ns_t_aaaa && ns_rr_rdlen(rr) == 16)
        ::inet_ntop(AF_INET6, ns_rr_rdata(rr), text, sizeof text);
      else
        continue;
      out.emplace_back(text, static_cast<int>(ns_rr_ttl(rr)));
    }
  }
  return out;
}

}  // namespace

NetBlocker::NetBlocker(std::filesystem::path state_file) : state_file_(std::move(state_file)) {}

Result<void> NetBlocker::Start() {
  std::error_code ec;
  if (!std::filesystem::exists(state_file_, ec)) return {};
  auto text = pki::ReadFile(state_file_);
  if (!text) return std::unexpected(text.error());
  try {
    auto j = json::parse(*text);
    std::lock_guard lock(mutex_);
    for (const auto& i : j.at("ip")) ips_.insert(i.get<std::string>());
    for (const auto& d : j.at("domain")) domains_.insert(d.get<std::string>());
  } catch (const std::exception& e) {
    return Fail(state_file_.string() + ": " + e.what());
  }
  if (auto r = Rebuild(); !r) return r;
  std::vector<std::string> domains;
  {
    std::lock_guard lock(mutex_);
    domains.assign(domains_.begin(), domains_.end());
  }
  for (const auto& d : domains)
    for (const auto& [ip, ttl] : Lookup(d)) (void)AddResolved(ip, ttl);
  return {};
}

Result<void> NetBlocker::Persist() {
  json j;
  {
    std::lock_guard lock(mutex_);
    j = {{"ip", ips_}, {"domain", domains_}};
  }
  std::error_code ec;
  std::filesystem::create_directories(state_file_.parent_path(), ec);
  return pki::WriteFileAtomic(state_file_, j.dump() + "\n", 0600);
}

Result<void> NetBlocker::Rebuild() {
  std::vector<std::string> v4, v6;
  bool empty;
  {
    std::lock_guard lock(mutex_);
    for (const auto& i : ips_) (IsIpv6(i) ? v6 : v4).push_back(i);
    empty = ips_.empty() && domains_.empty();
  }
  std::string t = kBlockTable;
  std::string script = "table inet " + t + " {}\ndelete table inet " + t + "\n";
  if (!empty) {
    script += "table inet " + t + " {\n";
    script += "  set blocked_v4 { type ipv4_addr; flags interval; auto-merge;" +
              (v4.empty() ? std::string() : " elements = { " + Join(v4) + " };") + " }\n";
    script += "  set blocked_v6 { type ipv6_addr; flags interval; auto-merge;" +
              (v6.empty() ? std::string() : " elements = { " + Join(v6) + " };") + " }\n";
    script += "  set dns_v4 { type ipv4_addr; flags timeout; }\n";
    script += "  set dns_v6 { type ipv6_addr; flags timeout; }\n";
    script +=
        "  chain output {\n    type filter hook output priority -190; policy accept;\n"
        "    ip daddr @blocked_v4 drop\n    ip6 daddr @blocked_v6 drop\n"
        "    ip daddr @dns_v4 drop\n    ip6 daddr @dns_v6 drop\n  }\n";
    script +=
        "  chain input {\n    type filter hook input priority -190; policy accept;\n"
        "    ip saddr @blocked_v4 drop\n    ip6 saddr @blocked_v6 drop\n"
        "    ip saddr @dns_v4 drop\n    ip6 saddr @dns_v6 drop\n  }\n";
    script += "}\n";
  }
  return NftApply(script);
}

Result<json> NetBlocker::BlockIps(const std::vector<std::string>& ips) {
  {
    std::lock_guard lock(mutex_);
    ips_.insert(ips.begin(), ips.end());
  }
  if (auto r = Rebuild(); !r) {
    std::lock_guard lock(mutex_);
    for (const auto& i : ips) ips_.erase(i);
    return std::unexpected(r.error());
  }
  if (auto r = Persist(); !r) return std::unexpected(r.error());
  std::lock_guard lock(mutex_);
  return json{{"blocked", ips}, {"total", ips_.size()}};
}

Result<json> NetBlocker::UnblockIps(const std::vector<std::string>& ips) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& i : ips) ips_.erase(i);
  }
  if (auto r = Rebuild(); !r) return std::unexpected(r.error());
  if (auto r = Persist(); !r) return std::unexpected(r.error());
  std::lock_guard lock(mutex_);
  return json{{"unblocked", ips}, {"total", ips_.size()}};
}

Result<json> NetBlocker::BlockDomains(const std::vector<std::string>& domains) {
  bool had_table;
  {
    std::lock_guard lock(mutex_);
    had_table = !ips_.empty() || !domains_.empty();
    domains_.insert(domains.begin(), domains.end());
  }
  if (!had_table)
    if (auto r = Rebuild(); !r) return std::unexpected(r.error());
  if (auto r = Persist(); !r) return std::unexpected(r.error());
  json resolved = json::array();
  for (const auto& d : domains)
    for (const auto& [ip, ttl] : Lookup(d))
      if (AddResolved(ip, ttl)) resolved.push_back({{"domain", d}, {"ip", ip}, {"ttl", ttl}});
  return json{{"blocked", domains}, {"resolved", resolved}};
}

Result<json> NetBlocker::UnblockDomains(const std::vector<std::string>& domains) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& d : domains) domains_.erase(d);
  }
  // The resolved addresses are not tracked per domain: the table is rebuilt without them.
  if (auto r = Rebuild(); !r) return std::unexpected(r.error());
  if (auto r = Persist(); !r) return std::unexpected(r.error());
  std::vector<std::string> rest;
  {
    std::lock_guard lock(mutex_);
    rest.assign(domains_.begin(), domains_.end());
  }
  for (const auto& d : rest)
    for (const auto& [ip, ttl] : Lookup(d)) (void)AddResolved(ip, ttl);
  return json{{"unblocked", domains}};
}

bool NetBlocker::Blocked(std::string name) const {
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  while (!name.empty() && name.back() == '.') name.pop_back();
  std::lock_guard lock(mutex_);
  if (domains_.empty()) return false;
  // The name or any parent domain of it.
  for (std::size_t pos = 0; pos != std::string::npos;) {
    if (domains_.contains(name.substr(pos))) return true;
    pos = name.find('.', pos);
    if (pos != std::string::npos) ++pos;
  }
  return false;
}

Result<void> NetBlocker::AddResolved(const std::string& ip, int ttl_s) {
  const int timeout = std::max(ttl_s, kMinTimeoutS);
  const std::string set = IsIpv6(ip) ? "dns_v6" : "dns_v4";
  // "add" of an existing element keeps its old timeout: delete first, ignoring absence.
  std::string script = "add element inet " + std::string(kBlockTable) + " " + set + " { " + ip +
                       " timeout " + std::to_string(timeout) + "s }\n";
  (void)Nft({"delete", "element", "inet", kBlockTable, set, "{ " + ip + " }"});
  return NftApply(script);
}

void NetBlocker::OnDnsAnswer(const v1::Event& event) {
  if (event.dns_answers_size() == 0 || !event.has_dns_question_name()) return;
  if (!Blocked(event.dns_question_name())) return;
  for (const auto& answer : event.dns_answers()) {
    // "TYPE data ttl"
    std::istringstream words(answer);
    std::string type, data;
    int ttl = 0;
    words >> type >> data >> ttl;
    if (type != "A" && type != "AAAA") continue;
    if (auto r = AddResolved(data, ttl); !r)
      VLOG_WARN("domain block: cannot add {}: {}", data, r.error().message);
    else
      VLOG_INFO("domain block: {} -> {} blocked for {} s", event.dns_question_name(), data,
                std::max(ttl, kMinTimeoutS));
  }
}

}  // namespace vigil::agent::response
