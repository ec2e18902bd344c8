#include "agent/response/isolate.hpp"

#include "agent/response/nft.hpp"
#include "common/pki/pki.hpp"

namespace vigil::agent::response {
namespace {

using nlohmann::json;

std::string Set(const std::vector<std::string>& items) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + " }";
}

std::vector<std::string> Family(const std::vector<std::string>& items, bool v6) {
  std::vector<std::string> out;
  for (const auto& i : items)
    if (IsIpv6(i) == v6) out.push_back(i);
  return out;
}

}  // namespace

std::string IsolationScript(const IsolationRules& r) {
  // Stateless rules on purpose: connections to anything else, even established before, are cut.
  std::string in = "    iif \"lo\" accept\n", out = "    oif \"lo\" accept\n";
  for (bool v6 : {false, true}) {
    const std::string ip = v6 ? "ip6" : "ip";
    if (auto s = Family(r.server_ips, v6); !s.empty()) {
      out += "    " + ip + " daddr " + Set(s) + " tcp dport " + std::to_string(r.server_port) +
             " accept\n";
      in += "    " + ip + " saddr " + Set(s) + " tcp sport " + std::to_string(r.server_port) +
            " accept\n";
    }
    if (auto s = Family(r.resolvers, v6); !s.empty()) {
      out += "    " + ip + " daddr " + Set(s) + " meta l4proto { tcp, udp } th dport 53 accept\n";
      in += "    " + ip + " saddr " + Set(s) + " meta l4proto { tcp, udp } th sport 53 accept\n";
    }
    if (auto s = Family(r.allow, v6); !s.empty()) {
      out += "    " + ip + " daddr " + Set(s) + " accept\n";
      in += "    " + ip + " saddr " + Set(s) + " accept\n";
    }
  }
  // The table is replaced as a whole in one transaction: add (no-op if present), delete, create.
  return std::string("table inet ") + kIsolationTable + " {}\n" + "delete table inet " +
         kIsolationTable + "\n" + "table inet " + kIsolationTable + " {\n" +
         "  chain input {\n    type filter hook input priority -200; policy drop;\n" + in +
         "  }\n" + "  chain output {\n    type filter hook output priority -200; policy drop;\n" +
         out + "  }\n" +
         "  chain forward {\n    type filter hook forward priority -200; policy drop;\n" +
         "  }\n}\n";
}

Isolation::Isolation(std::filesystem::path state_file, std::string server, std::string resolv_conf)
    : state_file_(std::move(state_file)),
      server_(std::move(server)),
      resolv_conf_(std::move(resolv_conf)) {}

Result<json> Isolation::Isolate(const std::vector<std::string>& allow) {
  auto colon = server_.rfind(':');
  if (colon == std::string::npos) return Fail("server address " + server_ + " has no port");
  std::string host = server_.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  IsolationRules rules;
  rules.server_port = std::atoi(server_.c_str() + colon + 1);
  auto ips = ResolveHost(host);
  if (!ips) return std::unexpected(ips.error());
  rules.server_ips = *ips;
  rules.resolvers = ReadResolvers(resolv_conf_);
  rules.allow = allow;
  if (auto r = NftApply(IsolationScript(rules)); !r) return std::unexpected(r.error());
  json state{{"server_ips", rules.server_ips},
             {"server_port", rules.server_port},
             {"resolvers", rules.resolvers},
             {"allow", rules.allow}};
  std::error_code ec;
  std::filesystem::create_directories(state_file_.parent_path(), ec);
  if (auto w = pki::WriteFileAtomic(state_file_, state.dump(2) + "\n", 0600); !w)
    return std::unexpected(w.error());
  return state;
}

Result<json> Isolation::Release() {
  bool existed = NftTableExists(kIsolationTable);
  if (existed) {
    if (auto r = Nft({"delete", "table", "inet", kIsolationTable}); !r)
      return std::unexpected(r.error());
  }
  std::error_code ec;
  bool had_state = std::filesystem::remove(state_file_, ec);
  return json{{"released", existed || had_state}};
}

Result<bool> Isolation::Reapply() {
  std::error_code ec;
  if (!std::filesystem::exists(state_file_, ec)) return false;
  auto text = pki::ReadFile(state_file_);
  if (!text) return std::unexpected(text.error());
  IsolationRules rules;
  try {
    auto j = json::parse(*text);
    rules.server_ips = j.at("server_ips").get<std::vector<std::string>>();
    rules.server_port = j.at("server_port").get<int>();
    rules.resolvers = j.at("resolvers").get<std::vector<std::string>>();
    rules.allow = j.at("allow").get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    return Fail(state_file_.string() + ": " + e.what());
  }
  if (auto r = NftApply(IsolationScript(rules)); !r) return std::unexpected(r.error());
  return true;
}

}  // namespace vigil::agent::response
