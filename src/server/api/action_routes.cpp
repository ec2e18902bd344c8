// POST /api/actions, GET /api/actions[/ID]: response actions on hosts and their audit log. An
// action is validated here, recorded (who, when, targets, parameters, reason) and queued as one
// command per target agent; the gateway delivers it over the agent's command channel.
#include <arpa/inet.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "server/api/api_context.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
using nlohmann::json;
namespace {

constexpr auto kMaxWait = std::chrono::seconds(60);

bool IsHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// An IPv4/IPv6 address with an optional /prefix.
bool IsIpOrCidr(const std::string& s) {
  auto slash = s.find('/');
  std::string addr = s.substr(0, slash);
  unsigned char buf[16];
  int bits = 0;
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1)
    bits = 32;
  else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1)
    bits = 128;
  else
    return false;
  if (slash == std::string::npos) return true;
  std::string prefix = s.substr(slash + 1);
  if (prefix.empty() || prefix.size() > 3 ||
      prefix.find_first_not_of("0123456789") != std::string::npos)
    return false;
  return std::stoi(prefix) <= bits;
}

bool IsDomain(const std::string& s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '-') return false;
  return s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") == std::string::npos &&
         s.find("..") == std::string::npos;
}

// A list parameter: every element a string that passes check (lower-cased first when asked).
std::optional<std::string> CheckList(json& params, const std::string& key, bool lower,
                                     bool (*check)(const std::string&), const std::string& what) {
  if (!params.contains(key) || !params[key].is_array() || params[key].empty())
    return "params." + key + " must be a non-empty array of " + what;
  for (auto& v : params[key]) {
    if (!v.is_string()) return "params." + key + " must be a non-empty array of " + what;
    std::string s = v;
    if (lower) std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    if (!check(s)) return "params." + key + ": '" + v.get<std::string>() + "' is not " + what;
    v = s;
  }
  return std::nullopt;
}

// Checks (and normalizes) the parameters of an action type; the error says what is wrong.
std::optional<std::string> ValidateParams(const std::string& type, json& params) {
  if (!params.is_object()) return "params must be a JSON object";
  if (type == "kill") {
    if (!params.contains("entity_id") || !params["entity_id"].is_string() ||
        params["entity_id"].get<std::string>().empty())
      return "kill needs params.entity_id (the process's entity id)";
    if (params.contains("tree") && !params["tree"].is_boolean())
      return "params.tree must be true or false";
    params["tree"] = params.value("tree", false);
    return std::nullopt;
  }
  if (type == "isolate") {
    if (params.contains("allow"))
      return CheckList(params, "allow", true, IsIpOrCidr, "an IP address or CIDR");
    return std::nullopt;
  }
  if (type == "release" || type == "quarantine-list") return std::nullopt;
  if (type == "quarantine") {
    if (!params.contains("path") || !params["path"].is_string() ||
        params["path"].get<std::string>().empty() || params["path"].get<std::string>()[0] != '/')
      return "quarantine needs params.path, an absolute path";
    return std::nullopt;
  }
  if (type == "restore" || type == "quarantine-delete") {
    if (!params.contains("id") || !params["id"].is_string() ||
        params["id"].get<std::string>().empty())
      return type + " needs params.id (from quarantine-list)";
    return std::nullopt;
  }
  if (type == "block-hash" || type == "unblock-hash")
    return CheckList(params, "sha256", true, IsHex64, "a SHA-256 (64 hex digits)");
  if (type == "block-ip" || type == "unblock-ip")
    return CheckList(params, "ip", true, IsIpOrCidr, "an IP address or CIDR");
  if (type == "block-domain" || type == "unblock-domain")
    return CheckList(params, "domain", true, IsDomain, "a domain name");
  return "unknown action type '" + type +
         "' (kill, isolate, release, quarantine, quarantine-list, restore, quarantine-delete, "
         "block-hash, unblock-hash, block-ip, unblock-ip, block-domain, unblock-domain)";
}

json ResultJson(const std::string& text) {
  if (text.empty()) return nullptr;
  try {
    return json::parse(text);
  } catch (const std::exception&) {
    return text;
  }
}

json ActionJson(const store::ActionRecord& a, const std::map<std::string, std::string>& names,
                const std::set<std::string>& online) {
  json targets = json::array();
  std::string first_error;
  for (const auto& t : a.targets) {
    auto name = names.find(t.agent_id);
    targets.push_back({{"agent.id", t.agent_id},
                       {"host.name", name == names.end() ? "" : name->second},
                       {"command", t.command_id},
                       {"status", t.status},
                       {"error", t.error},
                       {"result", ResultJson(t.result)},
                       {"online", online.contains(t.agent_id)},
                       {"sent", t.sent_ns ? FormatRfc3339(t.sent_ns) : ""},
                       {"finished", t.done_ns ? FormatRfc3339(t.done_ns) : ""}});
    if (first_error.empty() && !t.error.empty()) first_error = t.error;
  }
  json params = ResultJson(a.params);
  return {{"id", a.id},
          {"time", FormatRfc3339(a.created_ns)},
          {"actor", a.actor},
          {"type", a.type},
          {"params", params.is_null() ? json::object() : params},
          {"reason", a.reason},
          {"status", a.status},
          {"error", first_error},
          {"targets", targets},
          {"seq", a.seq}};
}

std::map<std::string, std::string> HostNames(ApiContext& ctx) {
  std::map<std::string, std::string> out;
  if (auto hosts = ctx.store.ListHosts())
    for (const auto& h : *hosts) out[h.agent_id] = h.hostname;
  return out;
}

// Block lists are standing orders: "--hosts all" also covers hosts that enroll later.
bool IsStandingOrder(const std::string& type) {
  static const std::set<std::string> standing{"block-hash", "unblock-hash", "block-ip",
                                              "unblock-ip", "block-domain", "unblock-domain"};
  return standing.contains(type);
}

}  // namespace

void RegisterActionRoutes(httplib::Server& http, ApiContext& ctx) {
  // Body: {"type": ..., "hosts": ["name or agent id", ...] or "all", "params": {...},
  // "reason": "..."}. Answers the recorded action (status pending) with "offline": the targets
  // without a command channel now (their command waits in the queue).
  http.Post("/api/actions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!ctx.actions) return SendError(res, 503, "this server does not run response actions");
    auto body = ParseJsonObject(req, res);
    if (!body) return;
    if (!body->contains("type") || !(*body)["type"].is_string())
      return SendError(res, 400, "body needs \"type\" (the action)");
    const std::string type = (*body)["type"];
    json params = body->value("params", json::object());
    if (auto bad = ValidateParams(type, params)) return SendError(res, 400, *bad);
    auto who = Caller(ctx, req);
    if (!who) return SendError(res, 401, "invalid API token");
    if (type == "quarantine-delete" && who->role != store::Role::Admin)
      return SendError(res, 403, "deleting from the quarantine vault needs the admin role");
    if (body->contains("reason") && !(*body)["reason"].is_string())
      return SendError(res, 400, "reason must be a string");

    auto hosts = ctx.store.ListHosts();
    if (!hosts) return SendError(res, 500, hosts.error().message);
    std::vector<std::string> agents;
    const json& wanted = body->value("hosts", json());
    const bool fleet_wide =
        wanted.is_string() && wanted.get<std::string>() == "all" && IsStandingOrder(type);
    if (wanted.is_string() && wanted.get<std::string>() == "all") {
      for (const auto& h : *hosts) agents.push_back(h.agent_id);
      if (agents.empty() && !fleet_wide) return SendError(res, 400, "no host is enrolled");
    } else if (wanted.is_array() && !wanted.empty()) {
      for (const auto& w : wanted) {
        if (!w.is_string()) return SendError(res, 400, "hosts must be names or agent ids");
        const std::string name = w;
        std::vector<std::string> matches;
        for (const auto& h : *hosts)
          if (h.agent_id == name || h.hostname == name || h.host_id == name)
            matches.push_back(h.agent_id);
        if (matches.empty()) return SendError(res, 404, "no enrolled host '" + name + "'");
        if (matches.size() > 1)
          return SendError(res, 400,
                           "'" + name + "' names " + std::to_string(matches.size()) +
                               " hosts: use the agent id (vigil hosts)");
        if (std::find(agents.begin(), agents.end(), matches[0]) == agents.end())
          agents.push_back(matches[0]);
      }
    } else {
      return SendError(res, 400,
                       "body needs \"hosts\": a list of host names or agent ids, or \"all\"");
    }

    store::NewAction action{.actor = who->name,
                            .type = type,
                            .params = params.dump(),
                            .reason = body->value("reason", ""),
                            .agent_ids = agents,
                            .payload = {},
                            .fleet_wide = fleet_wide};
    auto created = ctx.actions->Create(action);
    if (!created) return SendError(res, 500, created.error().message);
    auto names = HostNames(ctx);
    auto online = ctx.command_channels ? ctx.command_channels() : std::set<std::string>{};
    json out = ActionJson(*created, names, online);
    json offline = json::array();
    for (const auto& a : agents)
      if (!online.contains(a)) offline.push_back(names[a].empty() ? a : names[a]);
    out["offline"] = offline;
    out["fleet_wide"] = fleet_wide;
    res.status = 201;
    SendJson(res, out);
  });

  // The audit log as JSON Lines, oldest first. ?after=SEQ: only actions whose log changed after
  // that sequence (each line carries its "seq"); ?wait=30s: block until there is one (long poll,
  // for `vigil actions --follow`); ?limit=N (default 1000, the newest).
  http.Get("/api/actions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!ctx.actions) return SendError(res, 503, "this server does not run response actions");
    auto after_param = IntParam(req, "after", 0, 0, std::numeric_limits<std::int64_t>::max());
    if (!after_param) return SendError(res, 400, after_param.error().message);
    auto limit_param = IntParam(req, "limit", 1000, 0, std::numeric_limits<std::int64_t>::max());
    if (!limit_param) return SendError(res, 400, limit_param.error().message);
    auto wait_param = DurationParam(req, "wait", kMaxWait);
    if (!wait_param) return SendError(res, 400, wait_param.error().message);
    const std::int64_t after = *after_param;
    const auto limit = static_cast<std::size_t>(*limit_param);
    const auto wait = *wait_param;
    if (wait.count() > 0 && ctx.actions->Sequence() <= after)
      ctx.actions->WaitForChange(after, wait);
    auto list = ctx.actions->List(after, limit);
    if (!list) return SendError(res, 500, list.error().message);
    auto names = HostNames(ctx);
    auto online = ctx.command_channels ? ctx.command_channels() : std::set<std::string>{};
    std::string out;
    for (const auto& a : *list) out += ActionJson(a, names, online).dump() + "\n";
    res.set_header("X-Vigil-Seq", std::to_string(ctx.actions->Sequence()));
    res.set_content(out, "application/x-ndjson");
  });

  // One action. ?wait=10s: block until every target answered (done or failed) or the time is up.
  http.Get(R"(/api/actions/(\d+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!ctx.actions) return SendError(res, 503, "this server does not run response actions");
    auto id_param = ParseIntParam("action id", req.matches[1].str(), 1,
                                  std::numeric_limits<std::int64_t>::max());
    if (!id_param) return SendError(res, 400, id_param.error().message);
    auto wait = DurationParam(req, "wait", kMaxWait);
    if (!wait) return SendError(res, 400, wait.error().message);
    const std::int64_t id = *id_param;
    auto deadline = std::chrono::steady_clock::now() + *wait;
    while (true) {
      const std::int64_t seen = ctx.actions->Sequence();
      auto action = ctx.actions->Get(id);
      if (!action) return SendError(res, 500, action.error().message);
      if (!*action) return SendError(res, 404, "no action " + std::to_string(id));
      auto now = std::chrono::steady_clock::now();
      if ((*action)->status == "done" || (*action)->status == "failed" || now >= deadline) {
        auto online = ctx.command_channels ? ctx.command_channels() : std::set<std::string>{};
        return SendJson(res, ActionJson(**action, HostNames(ctx), online));
      }
      ctx.actions->WaitForChange(
          seen, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    }
  });
}

}  // namespace vigil::server
