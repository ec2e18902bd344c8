// POST /api/hunt and the saved hunts (/api/hunts): EQL over the store, streamed as JSON Lines.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "hunt/hunt.hpp"
#include "server/api/api_context.hpp"
#include "server/api/hunt_stream.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
using nlohmann::json;
namespace {
constexpr std::int64_t kMaxHuntTimeoutNs = 600'000'000'000;  // a hunt's "timeout" at most 10 min
}  // namespace

void RegisterHuntRoutes(httplib::Server& http, ApiContext& ctx) {
  http.Get("/api/hunts", [&ctx](const httplib::Request&, httplib::Response& res) {
    auto hunts = ctx.store.ListHunts();
    if (!hunts) return SendError(res, 500, hunts.error().message);
    json out = json::array();
    for (const auto& h : *hunts)
      out.push_back({{"name", h.name},
                     {"query", h.query},
                     {"description", h.description},
                     {"owner", h.owner},
                     {"created", FormatRfc3339(h.created_ns)},
                     {"updated", FormatRfc3339(h.updated_ns)}});
    res.set_content(out.dump() + "\n", "application/json");
  });

  // Body: {"name": "...", "query": "EQL", "description": "..."}; the query must parse. Saving a
  // name again replaces it. The owner is the name of the API token that saves it.
  http.Post("/api/hunts", [&ctx](const httplib::Request& req, httplib::Response& res) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const std::exception& e) {
      return SendError(res, 400, std::string("body is not JSON: ") + e.what());
    }
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string() ||
        !body.contains("query") || !body["query"].is_string())
      return SendError(res, 400,
                       "body must be {\"name\": ..., \"query\": ..., \"description\": ...}");
    std::string name = body["name"];
    if (name.empty() || name.size() > 64 ||
        name.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            std::string::npos)
      return SendError(res, 400, "a hunt name is 1-64 letters, digits, '.', '_' or '-'");
    if (auto parsed = hunt::Parse(body["query"].get<std::string>()); !parsed)
      return SendError(res, 400, parsed.error().message);
    auto who = Caller(ctx, req);
    store::SavedHunt hunt{.name = name,
                          .query = body["query"],
                          .description = body.value("description", ""),
                          .owner = who ? who->name : "",
                          .created_ns = 0,
                          .updated_ns = 0};
    if (auto r = ctx.store.SaveHunt(hunt); !r) return SendError(res, 500, r.error().message);
    res.set_content(json{{"saved", name}}.dump() + "\n", "application/json");
  });

  http.Delete(R"(/api/hunts/([A-Za-z0-9._-]+))", [&ctx](const httplib::Request& req,
                                                        httplib::Response& res) {
    auto deleted = ctx.store.DeleteHunt(req.matches[1]);
    if (!deleted) return SendError(res, 500, deleted.error().message);
    if (!*deleted)
      return SendError(res, 404, "no saved hunt named '" + std::string(req.matches[1]) + "'");
    res.set_content(json{{"deleted", std::string(req.matches[1])}}.dump() + "\n",
                    "application/json");
  });

  // Body: {"query": "EQL" or "name": "saved hunt", "since": "7d", "until": "...", "host": "...",
  // "limit": N, "timeout": "30s", "explain": false}. Streams JSON Lines: events, {"sequence":
  // [...]}, or count rows; with explain, {"sql": "..."}. A bad query is a 400 whose error says
  // line:column and why.
  http.Post("/api/hunt", [&ctx](const httplib::Request& req, httplib::Response& res) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const std::exception& e) {
      return SendError(res, 400, std::string("body is not JSON: ") + e.what());
    }
    if (!body.is_object()) return SendError(res, 400, "body must be a JSON object");
    std::string text;
    if (body.contains("name") && body["name"].is_string()) {
      auto saved = ctx.store.GetHunt(body["name"].get<std::string>());
      if (!saved) return SendError(res, 500, saved.error().message);
      if (!*saved)
        return SendError(res, 404, "no saved hunt named '" + body["name"].get<std::string>() + "'");
      text = (*saved)->query;
    } else if (body.contains("query") && body["query"].is_string()) {
      text = body["query"].get<std::string>();
    } else {
      return SendError(res, 400, "body needs a \"query\" string or the \"name\" of a saved hunt");
    }
    auto query = hunt::Parse(text);
    if (!query) return SendError(res, 400, query.error().message);
    auto window = HuntOptionsFromBody(ctx, body, res);
    if (!window) return;
    hunt::HuntOptions options = std::move(*window);
    if (body.contains("timeout")) {  // per query, "500ms" .. "10m" (default 30 s)
      if (!body["timeout"].is_string())
        return SendError(res, 400, "timeout must be a duration string like \"30s\"");
      auto ns = ParseDurationNs(body["timeout"].get<std::string>());
      if (!ns) return SendError(res, 400, "timeout: " + ns.error().message);
      if (*ns <= 0 || *ns > kMaxHuntTimeoutNs)
        return SendError(res, 400, "timeout must be more than 0 and at most 10m");
      options.timeout = std::chrono::milliseconds(std::max<std::int64_t>(1, *ns / 1'000'000));
    }
    if (body.value("explain", false)) {
      auto sql = hunt::Explain(ctx.options.db_path, *query, options);
      if (!sql) return SendError(res, 400, sql.error().message);
      res.set_content(json{{"sql", *sql}}.dump() + "\n", "application/x-ndjson");
      return;
    }
    StreamHunt(res, ctx, std::make_shared<const hunt::Query>(std::move(*query)), options);
  });
}

std::optional<hunt::HuntOptions> HuntOptionsFromBody(ApiContext& ctx, const json& body,
                                                     httplib::Response& res) {
  hunt::HuntOptions options;
  const std::int64_t now = NowNs();
  std::string texts[2] = {"", "now"};
  for (int i = 0; i < 2; ++i) {
    const char* key = i == 0 ? "since" : "until";
    if (!body.contains(key)) continue;
    if (!body[key].is_string()) {
      SendError(res, 400, std::string(key) + " must be a string");
      return std::nullopt;
    }
    texts[i] = body[key].get<std::string>();
    auto t = ParseSinceNs(texts[i], now);
    if (!t) {
      SendError(res, 400, std::string(key) + ": " + t.error().message);
      return std::nullopt;
    }
    (i == 0 ? options.since_ns : options.until_ns) = *t;
  }
  if (auto w = CheckWindow(options.since_ns, texts[0], options.until_ns, texts[1]); !w) {
    SendError(res, 400, w.error().message);
    return std::nullopt;
  }
  if (body.contains("host")) {
    if (!body["host"].is_string()) {
      SendError(res, 400, "host must be a string");
      return std::nullopt;
    }
    options.host = body["host"];
  }
  if (!CheckHostKnown(ctx, options.host, res)) return std::nullopt;
  if (body.contains("limit")) {
    const auto max = ctx.options.max_event_limit;
    if (!body["limit"].is_number_unsigned() || body["limit"].get<std::size_t>() > max) {
      SendError(res, 400,
                "limit must be a whole number from 0 to " + std::to_string(max) + ", not " +
                    body["limit"].dump());
      return std::nullopt;
    }
    options.limit = body["limit"].get<std::size_t>();
  }
  return options;
}

void StreamHunt(httplib::Response& res, ApiContext& ctx, std::shared_ptr<const hunt::Query> query,
                const hunt::HuntOptions& options) {
  res.set_chunked_content_provider(
      "application/x-ndjson", [&ctx, query, options](std::size_t, httplib::DataSink& sink) {
        std::string line;
        auto stats =
            hunt::Run(ctx.options.db_path, *query, options, [&](const nlohmann::ordered_json& row) {
              line = row.dump();
              line += '\n';
              return sink.write(line.data(), line.size());
            });
        if (!stats) {
          line = nlohmann::json{{"error", stats.error().message}}.dump() + "\n";
          sink.write(line.data(), line.size());
        } else if (stats->truncated) {
          line = nlohmann::json{{"truncated", true}, {"limit", options.limit}}.dump() + "\n";
          sink.write(line.data(), line.size());
        }
        sink.done();
        return true;
      });
}

}  // namespace vigil::server
