#include "server/api/api_server.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "server/api/api_context.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
namespace {

// Bounds a request body (imports are sent in pieces of at most 32 MiB by the CLI).
constexpr std::size_t kMaxBodyBytes = 64u << 20;

}  // namespace

void SendError(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", message}}.dump() + "\n", "application/json");
}

void SendJson(httplib::Response& res, const nlohmann::json& body) {
  res.set_content(body.dump() + "\n", "application/json");
}

std::string BearerToken(const httplib::Request& req) {
  auto header = req.get_header_value("Authorization");
  if (header.rfind("Bearer ", 0) == 0) return header.substr(7);
  return {};
}

std::optional<nlohmann::json> ParseJsonObject(const httplib::Request& req, httplib::Response& res) {
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(req.body);
  } catch (const std::exception& e) {
    SendError(res, 400, std::string("body is not JSON: ") + e.what());
    return std::nullopt;
  }
  if (!body.is_object()) {
    SendError(res, 400, "body must be a JSON object");
    return std::nullopt;
  }
  return body;
}

std::optional<store::ApiPrincipal> Caller(ApiContext& ctx, const httplib::Request& req) {
  auto who = ctx.store.AuthenticateApiToken(BearerToken(req));
  if (!who) return std::nullopt;
  return *who;
}

ApiServer::ApiServer(ApiOptions options, store::Store& store, ConnectedAgentsFn connected)
    : options_(std::move(options)),
      store_(store),
      connected_(std::move(connected)),
      context_(std::make_unique<ApiContext>(ApiContext{options_, store_, connected_})) {}

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

  ApiContext& ctx = *context_;
  RegisterFleetRoutes(*http_, ctx);
  RegisterImportRoutes(*http_, ctx);
  RegisterHuntRoutes(*http_, ctx);
  RegisterYaraRoutes(*http_, ctx);
}

}  // namespace vigil::server
