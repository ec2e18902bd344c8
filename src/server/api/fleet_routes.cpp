// GET /api/health, /api/hosts and /api/events: the fleet and its stored telemetry.
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/event_json.hpp"
#include "common/schema.hpp"
#include "common/time.hpp"
#include "server/api/api_context.hpp"
#include "server/api/routes.hpp"

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
    if (req.has_param("limit")) {
      const std::string text = req.get_param_value("limit");
      const std::string bounds = "limit must be a number from 0 to " +
                                 std::to_string(ctx.options.max_event_limit) + ", not '" + text +
                                 "'";
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), query.limit);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty() ||
          query.limit > ctx.options.max_event_limit)
        return SendError(res, 400, bounds);
    }
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
