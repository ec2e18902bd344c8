#include "server/api/api_server.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "common/event_json.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

namespace vigil::server {
namespace {
using nlohmann::json;

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
    if (auto role = store_.VerifyApiToken(token); !role) {
      SendError(res, 401, "invalid API token");
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
    std::string body;
    auto r = store_.QueryEvents(query, [&](v1::Event&& e) {
      body += EventToJson(e).dump();
      body += '\n';
      return true;
    });
    if (!r) return SendError(res, 500, r.error().message);
    res.set_content(body, "application/x-ndjson");
  });

  http_->Post("/api/hunt", [](const httplib::Request&, httplib::Response& res) {
    SendError(res, 501, "hunting (EQL) is not available in this version yet");
  });
}

}  // namespace vigil::server
