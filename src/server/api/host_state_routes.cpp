// GET /api/hosts/state: per host, what the response log says about it — its network isolation
// (host_state.hpp) — for the console's fleet and host pages. Derived, nothing stored.
#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "server/api/api_context.hpp"
#include "server/api/host_state.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
using nlohmann::json;
namespace {

// Enough for any realistic audit log; isolate/release are rare next to scans and kills.
constexpr std::size_t kMaxActionsRead = 100000;

}  // namespace

std::map<std::string, HostIsolation> DeriveIsolation(
    const std::vector<store::ActionRecord>& actions) {
  std::map<std::string, HostIsolation> hosts;
  for (const auto& a : actions) {  // oldest first: later actions override
    if (a.type != "isolate" && a.type != "release") continue;
    for (const auto& t : a.targets) {
      auto& h = hosts[t.agent_id];
      if (t.status == "done") {
        if (a.id < h.action) continue;  // answers can arrive out of order: the newest wins
        h.isolated = a.type == "isolate";
        h.since_ns = t.done_ns;
        h.action = a.id;
        h.failed.clear();
        if (h.pending_action <= a.id) h.pending.clear();
      } else if (t.status == "failed") {
        h.failed = t.error.empty() ? "failed" : t.error;
        if (h.pending_action <= a.id) h.pending.clear();
      } else if (a.id > h.action) {
        h.pending = a.type;
        h.pending_action = a.id;
      }
    }
  }
  return hosts;
}

void RegisterHostStateRoutes(httplib::Server& http, ApiContext& ctx) {
  http.Get("/api/hosts/state", [&ctx](const httplib::Request&, httplib::Response& res) {
    if (!ctx.actions) return SendError(res, 503, "this server does not run response actions");
    auto actions = ctx.actions->List(0, kMaxActionsRead);
    if (!actions) return SendError(res, 500, actions.error().message);
    json out = json::array();
    for (const auto& [agent, h] : DeriveIsolation(*actions)) {
      json j{{"agent.id", agent},
             {"isolation", h.isolated ? "isolated" : "not isolated"},
             {"isolation_action", h.action},
             {"isolation_since", h.since_ns ? FormatRfc3339(h.since_ns) : ""},
             {"isolation_pending", h.pending}};
      if (!h.failed.empty()) j["isolation_error"] = h.failed;
      out.push_back(std::move(j));
    }
    SendJson(res, out);
  });
}

}  // namespace vigil::server
