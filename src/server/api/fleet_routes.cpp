// GET /api/health, /api/hosts and /api/events: the fleet and its stored telemetry.
#include <nlohmann/json.hpp>

#include "common/event_json.hpp"
#include "common/schema.hpp"
#include "common/time.hpp"
#include "server/api/api_context.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/routes.hpp"
#include "server/store/host_directory.hpp"

namespace vigil::server {
using nlohmann::json;

void RegisterFleetRoutes(httplib::Server& http, ApiContext& ctx) {
  // Unauthenticated: no paths or sizes here (the server log has them).
  http.Get("/api/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    const bool paused = ctx.store.Disk().ingest_paused;
    json out{{"status", paused ? "degraded" : "ok"},
             {"version", VIGIL_VERSION},
             {"schema_version", schema::kSchemaVersion},
             {"ingest", paused ? "paused" : "ok"}};
    if (paused)
      out["reason"] = "ingest paused: the data directory is low on free space (see the log)";
    res.set_content(out.dump() + "\n", "application/json");
  });

  http.Get("/api/hosts", [&ctx](const httplib::Request&, httplib::Response& res) {
    auto hosts = ctx.store.ListHosts();
    if (!hosts) return SendError(res, 500, hosts.error().message);
    auto online = ctx.connected();
    json out = json::array();
    for (const auto& h : *hosts) {
      out.push_back({{"agent.id", h.agent_id},
                     {"host.id", h.host_id},
                     {"host.name", h.hostname},
                     {"os", h.os},
                     {"agent.version", h.agent_version},
                     {"sensor", h.sensor_kind},
                     {"online", online.contains(h.agent_id)},
                     {"enrolled", h.enrolled_ns ? FormatRfc3339(h.enrolled_ns) : ""},
                     {"last_seen", h.last_seen_ns ? FormatRfc3339(h.last_seen_ns) : ""},
                     {"events_received", h.events_received},
                     {"events_dropped", h.events_dropped},
                     {"batches_rejected", h.batches_rejected}});
    }
    // Hosts known only from imported telemetry: no agent, so no online state and no last contact;
    // what there is, is their events' time span and count.
    if (ctx.hosts) {
      auto imported = ctx.hosts->ListImported();
      if (!imported) return SendError(res, 500, imported.error().message);
      for (const auto& h : *imported)
        out.push_back({{"agent.id", ""},
                       {"host.id", h.host_id},
                       {"host.name", h.hostname},
                       {"os", ""},
                       {"agent.version", ""},
                       {"sensor", h.source},
                       {"imported", true},
                       {"online", nullptr},
                       {"enrolled", ""},
                       {"last_seen", ""},
                       {"first_event", FormatRfc3339(h.first_event_ns)},
                       {"last_event", FormatRfc3339(h.last_event_ns)},
                       {"last_import", FormatRfc3339(h.imported_ns)},
                       {"events_received", h.events},
                       {"events_dropped", 0},
                       {"batches_rejected", 0}});
    }
    res.set_content(out.dump() + "\n", "application/json");
  });

  http.Get("/api/events", [&ctx](const httplib::Request& req, httplib::Response& res) {
    store::EventQuery query;
    const std::int64_t now = NowNs();
    if (req.has_param("since")) {
      auto since = ParseSinceNs(req.get_param_value("since"), now);
      if (!since) return SendError(res, 400, "since: " + since.error().message);
      query.since_ns = *since;
    }
    if (req.has_param("until")) {
      auto until = ParseSinceNs(req.get_param_value("until"), now);
      if (!until) return SendError(res, 400, "until: " + until.error().message);
      query.until_ns = *until;
    }
    if (auto w = CheckWindow(query.since_ns, req.get_param_value("since"), query.until_ns,
                             req.has_param("until") ? req.get_param_value("until") : "now");
        !w)
      return SendError(res, 400, w.error().message);
    if (req.has_param("category")) {
      auto c = schema::ParseCategory(req.get_param_value("category"));
      if (!c) {
        std::string known;
        for (const auto& def : schema::Categories())
          known += (known.empty() ? "" : ", ") + std::string(def.name);
        return SendError(
            res, 400, "unknown category '" + req.get_param_value("category") + "' (" + known + ")");
      }
      query.category = *c;
    }
    if (req.has_param("host")) query.host = req.get_param_value("host");
    if (!CheckHostKnown(ctx, query.host, res)) return;
    auto limit = IntParam(req, "limit", static_cast<std::int64_t>(query.limit), 0,
                          static_cast<std::int64_t>(ctx.options.max_event_limit));
    if (!limit) return SendError(res, 400, limit.error().message);
    query.limit = static_cast<std::size_t>(*limit);
    if (req.has_param("order")) {
      const std::string order = req.get_param_value("order");
      if (order != "asc" && order != "desc")
        return SendError(res, 400, "order must be asc or desc, not '" + order + "'");
      query.newest_first = order == "desc";
    }
    // Streamed: a large limit never builds the whole answer in memory.
    res.set_chunked_content_provider("application/x-ndjson",
                                     [&ctx, query](std::size_t, httplib::DataSink& sink) {
                                       std::string line;
                                       auto r = ctx.store.QueryEvents(query, [&](v1::Event&& e) {
                                         line = EventToJson(e).dump();
                                         line += '\n';
                                         return sink.write(line.data(), line.size());
                                       });
                                       if (!r) {
                                         line = json{{"error", r.error().message}}.dump() + "\n";
                                         sink.write(line.data(), line.size());
                                       }
                                       sink.done();
                                       return true;
                                     });
  });
}

}  // namespace vigil::server
