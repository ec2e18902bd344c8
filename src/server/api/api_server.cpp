#include "server/api/api_server.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "common/event_json.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "hunt/hunt.hpp"
#include "server/importer/importer.hpp"

namespace vigil::server {
namespace {
using nlohmann::json;

// Bounds a request body (imports are sent in pieces of at most 32 MiB by the CLI).
constexpr std::size_t kMaxBodyBytes = 64u << 20;

void SendError(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", message}}.dump() + "\n", "application/json");
}

std::string BearerToken(const httplib::Request& req) {
  auto header = req.get_header_value("Authorization");
  if (header.rfind("Bearer ", 0) == 0) return header.substr(7);
  return {};
}

}  // namespace

ApiServer::ApiServer(ApiOptions options, store::Store& store, ConnectedAgentsFn connected)
    : options_(std::move(options)), store_(store), connected_(std::move(connected)) {}

ApiServer::~ApiServer() { Stop(); }

Result<void> ApiServer::Start() {
  http_ = std::make_unique<httplib::SSLServer>(options_.pki.server_cert.c_str(),
                                               options_.pki.server_key.c_str());
  if (!http_->is_valid()) return Fail("api: cannot load the server certificate or key");
  http_->set_payload_max_length(kMaxBodyBytes);
  Routes();
  if (!http_->bind_to_port(options_.host, options_.port))
    return Fail("api: cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                " (address in use?)");
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  VLOG_INFO("API listening on https://{}:{}", options_.host, options_.port);
  return {};
}

void ApiServer::Stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void ApiServer::Routes() {
  // Every /api route but health needs a valid bearer token.
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/api/health") return httplib::Server::HandlerResponse::Unhandled;
    auto token = BearerToken(req);
    if (token.empty()) {
      SendError(res, 401, "missing bearer token (Authorization: Bearer TOKEN)");
      return httplib::Server::HandlerResponse::Handled;
    }
    auto role = store_.VerifyApiToken(token);
    if (!role) {
      SendError(res, 401, "invalid API token");
      return httplib::Server::HandlerResponse::Handled;
    }
    // Viewers read; changing anything (imports, saved hunts) takes an analyst or an admin. A hunt
    // is a POST only because its query travels in the body: it reads.
    const bool writes = req.method != "GET" && req.path != "/api/hunt";
    if (writes && *role == store::Role::Viewer) {
      SendError(
          res, 403,
          "the viewer role may not " + req.method + " " + req.path + " (needs analyst or admin)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http_->Get("/api/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"status", "ok"},
                         {"version", VIGIL_VERSION},
                         {"schema_version", schema::kSchemaVersion}}
                            .dump() +
                        "\n",
                    "application/json");
  });

  http_->Get("/api/hosts", [this](const httplib::Request&, httplib::Response& res) {
    auto hosts = store_.ListHosts();
    if (!hosts) return SendError(res, 500, hosts.error().message);
    auto online = connected_();
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

  http_->Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) {
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
      if (!c)
        return SendError(res, 400, "unknown category '" + req.get_param_value("category") + "'");
      query.category = *c;
    }
    if (req.has_param("host")) query.host = req.get_param_value("host");
    if (req.has_param("limit")) {
      try {
        query.limit = std::stoull(req.get_param_value("limit"));
      } catch (const std::exception&) {
        return SendError(res, 400, "limit must be a number");
      }
      if (query.limit > options_.max_event_limit)
        return SendError(res, 400, "limit exceeds " + std::to_string(options_.max_event_limit));
    }
    if (req.has_param("order")) query.newest_first = req.get_param_value("order") != "asc";
    // Streamed: a large limit never builds the whole answer in memory.
    res.set_chunked_content_provider("application/x-ndjson",
                                     [this, query](std::size_t, httplib::DataSink& sink) {
                                       std::string line;
                                       auto r = store_.QueryEvents(query, [&](v1::Event&& e) {
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

  // Body: Windows event records (evtx_dump JSON: one per line, an array, or concatenated) or Vigil
  // JSON Lines events. Answers the counts per event type and the first reasons for skips.
  http_->Post("/api/import", [this](const httplib::Request& req, httplib::Response& res) {
    auto report = ImportRecords(store_, req.body);
    if (!report) {
      bool ours = report.error().message.starts_with("store: ");
      return SendError(res, ours ? 500 : 400, report.error().message);
    }
    json out{{"records", report->records},
             {"imported", report->imported},
             {"skipped", report->skipped},
             {"by_type", report->by_type},
             {"reasons", report->reasons}};
    res.set_content(out.dump() + "\n", "application/json");
  });

  http_->Get("/api/hunts", [this](const httplib::Request&, httplib::Response& res) {
    auto hunts = store_.ListHunts();
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
  http_->Post("/api/hunts", [this](const httplib::Request& req, httplib::Response& res) {
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
    auto who = store_.AuthenticateApiToken(BearerToken(req));
    store::SavedHunt hunt{.name = name,
                          .query = body["query"],
                          .description = body.value("description", ""),
                          .owner = who ? who->name : "",
                          .created_ns = 0,
                          .updated_ns = 0};
    if (auto r = store_.SaveHunt(hunt); !r) return SendError(res, 500, r.error().message);
    res.set_content(json{{"saved", name}}.dump() + "\n", "application/json");
  });

  http_->Delete(R"(/api/hunts/([A-Za-z0-9._-]+))", [this](const httplib::Request& req,
                                                          httplib::Response& res) {
    auto deleted = store_.DeleteHunt(req.matches[1]);
    if (!deleted) return SendError(res, 500, deleted.error().message);
    if (!*deleted)
      return SendError(res, 404, "no saved hunt named '" + std::string(req.matches[1]) + "'");
    res.set_content(json{{"deleted", std::string(req.matches[1])}}.dump() + "\n",
                    "application/json");
  });

  // Body: {"query": "EQL" or "name": "saved hunt", "since": "7d", "until": "...", "host": "...",
  // "limit": N, "explain": false}. Streams JSON Lines: events, {"sequence": [...]}, or count rows;
  // with explain, {"sql": "..."}. A bad query is a 400 whose error says line:column and why.
  http_->Post("/api/hunt", [this](const httplib::Request& req, httplib::Response& res) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const std::exception& e) {
      return SendError(res, 400, std::string("body is not JSON: ") + e.what());
    }
    if (!body.is_object()) return SendError(res, 400, "body must be a JSON object");
    std::string text;
    if (body.contains("name") && body["name"].is_string()) {
      auto saved = store_.GetHunt(body["name"].get<std::string>());
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
    hunt::HuntOptions options;
    const std::int64_t now = NowNs();
    for (const char* key : {"since", "until"}) {
      if (!body.contains(key)) continue;
      if (!body[key].is_string())
        return SendError(res, 400, std::string(key) + " must be a string");
      auto t = ParseSinceNs(body[key].get<std::string>(), now);
      if (!t) return SendError(res, 400, std::string(key) + ": " + t.error().message);
      (std::string_view(key) == "since" ? options.since_ns : options.until_ns) = *t;
    }
    if (body.contains("host") && body["host"].is_string()) options.host = body["host"];
    if (body.contains("limit")) {
      if (!body["limit"].is_number_unsigned()) return SendError(res, 400, "limit must be a number");
      options.limit = body["limit"].get<std::size_t>();
      if (options.limit > options_.max_event_limit)
        return SendError(res, 400, "limit exceeds " + std::to_string(options_.max_event_limit));
    }
    if (body.value("explain", false)) {
      auto sql = hunt::Explain(*query, options);
      if (!sql) return SendError(res, 400, sql.error().message);
      res.set_content(json{{"sql", *sql}}.dump() + "\n", "application/x-ndjson");
      return;
    }
    auto shared_query = std::make_shared<hunt::Query>(std::move(*query));
    res.set_chunked_content_provider(
        "application/x-ndjson",
        [this, shared_query, options](std::size_t, httplib::DataSink& sink) {
          std::string line;
          auto stats = hunt::Run(options_.db_path, *shared_query, options,
                                 [&](const nlohmann::ordered_json& row) {
                                   line = row.dump();
                                   line += '\n';
                                   return sink.write(line.data(), line.size());
                                 });
          if (!stats) {
            // Headers are gone already: the error travels as the last line.
            line = json{{"error", stats.error().message}}.dump() + "\n";
            sink.write(line.data(), line.size());
          } else if (stats->truncated) {
            line = json{{"truncated", true}, {"limit", options.limit}}.dump() + "\n";
            sink.write(line.data(), line.size());
          }
          sink.done();
          return true;
        });
  });
}

}  // namespace vigil::server
