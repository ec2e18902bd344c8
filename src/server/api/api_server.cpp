#include "server/api/api_server.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "server/api/api_context.hpp"
#include "server/api/routes.hpp"
#include "server/store/host_directory.hpp"

namespace vigil::server {
namespace {

// Bounds a request body (imports are sent in pieces of at most 32 MiB by the CLI).
constexpr std::size_t kMaxBodyBytes = 64u << 20;
constexpr std::size_t kWorkerThreads = 64;

// The message for an error httplib raised before any route ran.
std::string ApiErrorText(int status, const std::string& method, const std::string& path,
                         std::size_t max_body) {
  switch (status) {
    case 404:
      return "no route " + method + " " + path + " (the routes are in docs/server.md)";
    case 413:
      return "request body larger than " + std::to_string(max_body >> 20) + " MiB";
    case 400:
      return "malformed HTTP request";
    default:
      return "HTTP " + std::to_string(status) + " for " + method + " " + path;
  }
}

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

std::string CookieValue(const httplib::Request& req, std::string_view name) {
  for (std::size_t i = 0, n = req.get_header_value_count("Cookie"); i < n; ++i) {
    const std::string value = req.get_header_value("Cookie", i);
    std::string_view header = value;
    while (!header.empty()) {
      auto semi = header.find(';');
      std::string_view part = header.substr(0, semi);
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      auto eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name)
        return std::string(part.substr(eq + 1));
    }
  }
  return {};
}

Result<std::optional<Authenticated>> Authenticate(ApiContext& ctx, const httplib::Request& req) {
  if (req.has_header("Authorization")) {
    auto token = BearerToken(req);
    if (token.empty()) return std::optional<Authenticated>();
    auto who = ctx.store.AuthenticateApiToken(token);
    if (!who) return std::optional<Authenticated>();
    return std::optional<Authenticated>(Authenticated{*who, false, {}});
  }
  auto cookie = CookieValue(req, kSessionCookie);
  if (cookie.empty() || !ctx.users) return std::optional<Authenticated>();
  auto session = ctx.users->Authenticate(cookie);
  if (!session) return std::unexpected(session.error());
  if (!*session) return std::optional<Authenticated>();
  return std::optional<Authenticated>(
      Authenticated{{(*session)->user, (*session)->role}, true, (*session)->csrf});
}

std::optional<store::ApiPrincipal> Caller(ApiContext& ctx, const httplib::Request& req) {
  auto who = Authenticate(ctx, req);
  if (!who || !*who) return std::nullopt;
  return (*who)->who;
}

ApiServer::ApiServer(ApiOptions options, store::Store& store, ConnectedAgentsFn connected)
    : options_(std::move(options)),
      store_(store),
      connected_(std::move(connected)),
      hub_(std::make_shared<EventHub>()),
      context_(std::make_unique<ApiContext>(ApiContext{options_, store_, connected_})) {
  context_->hub = hub_.get();
  // Shared ownership: the store may outlive this server.
  store_.AddCommitListener([hub = hub_](std::span<const store::IngestBatch> batches,
                                        const std::vector<store::AppendResult>& results) {
    hub->Publish(batches, results);
  });
}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::SetActions(store::ActionStore* actions, ConnectedAgentsFn command_channels) {
  context_->actions = actions;
  context_->command_channels = std::move(command_channels);
}

Result<void> ApiServer::Start() {
  auto users = store::UserStore::Open(options_.db_path);
  if (!users) return Fail("api: " + users.error().message);
  users_ = std::move(*users);
  context_->users = users_.get();
  auto hosts = store::HostDirectory::Open(options_.db_path);
  if (!hosts) return Fail("api: " + hosts.error().message);
  hosts_ = std::move(*hosts);
  context_->hosts = hosts_.get();
  http_ = std::make_unique<httplib::SSLServer>(options_.pki.server_cert.c_str(),
                                               options_.pki.server_key.c_str());
  if (!http_->is_valid()) return Fail("api: cannot load the server certificate or key");
  http_->set_payload_max_length(kMaxBodyBytes);
  // Live streams hold a worker each, and a browser keeps several connections alive: the default
  // pool (8) would run dry with a few consoles open.
  http_->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  Routes();
  if (!http_->bind_to_port(options_.host, options_.port))
    return Fail("api: cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                " (address in use?)");
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  VLOG_INFO("API listening on https://{}:{}", options_.host, options_.port);
  return {};
}

void ApiServer::Stop() {
  hub_->Close();  // live streams end, so their handler threads return
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void ApiServer::Routes() {
  // Every /api route but health and login needs a valid bearer token or session cookie; the
  // console's own files (everything outside /api/) are public and hold no data.
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    using httplib::Server;
    if (req.path.rfind("/api/", 0) != 0) return Server::HandlerResponse::Unhandled;
    // A refusal here leaves the request's body unread on the connection, where httplib would take
    // it for the next request (a browser's next fetch got a 400): such connections end here.
    auto refuse = [&res](int status, const std::string& message) {
      SendError(res, status, message);
      res.set_header("Connection", "close");
      return Server::HandlerResponse::Handled;
    };
    res.set_header("Cache-Control", "no-store");
    if (req.path == "/api/health" || (req.path == "/api/login" && req.method == "POST"))
      return Server::HandlerResponse::Unhandled;
    auto auth = Authenticate(*context_, req);
    if (!auth) return refuse(500, auth.error().message);
    if (!*auth)
      return refuse(401, req.has_header("Authorization")
                             ? "invalid API token"
                             : "not logged in (log in, or send Authorization: Bearer TOKEN)");
    const Authenticated& who = **auth;
    const bool reads = req.method == "GET" || req.method == "HEAD";
    // A cookie travels with any request the browser makes; the CSRF token only with the page's.
    if (who.session && !reads &&
        !store::ConstantTimeEquals(req.get_header_value(kCsrfHeader), who.csrf))
      return refuse(403, std::string("missing or wrong ") + kCsrfHeader + " header");
    if (req.path == "/api/users" || req.path.rfind("/api/users/", 0) == 0) {
      if (who.who.role != store::Role::Admin)
        return refuse(403, "managing users needs the admin role");
      return Server::HandlerResponse::Unhandled;
    }
    // Viewers read; changing anything (imports, saved hunts, actions) takes an analyst or an
    // admin. A hunt (also a stored rule's retro-hunt) is a POST only because its options travel
    // in the body: it reads.
    const bool hunt = req.path == "/api/hunt" ||
                      (req.path.starts_with("/api/rules/") && req.path.ends_with("/hunt"));
    const bool writes = !reads && !hunt && req.path != "/api/logout";
    if (writes && who.who.role == store::Role::Viewer)
      return refuse(403, "the viewer role may not " + req.method + " " + req.path +
                             " (needs analyst or admin)");
    return Server::HandlerResponse::Unhandled;
  });
  // Errors httplib answers itself (no route, body too large, unparsable request) come without a
  // body; API clients get the same {"error": ...} as from every route.
  http_->set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        using httplib::Server;
        if (!res.body.empty() || req.path.rfind("/api/", 0) != 0)
          return Server::HandlerResponse::Unhandled;
        SendError(res, res.status, ApiErrorText(res.status, req.method, req.path, kMaxBodyBytes));
        return Server::HandlerResponse::Handled;
      }));

  ApiContext& ctx = *context_;
  RegisterFleetRoutes(*http_, ctx);
  RegisterImportRoutes(*http_, ctx);
  RegisterHuntRoutes(*http_, ctx);
  RegisterYaraRoutes(*http_, ctx);
  RegisterAuthRoutes(*http_, ctx);
  RegisterLiveRoutes(*http_, ctx);
  RegisterProcessRoutes(*http_, ctx);
  RegisterConsoleRoutes(*http_, ctx);
  RegisterActionRoutes(*http_, ctx);
  RegisterScanRoutes(*http_, ctx);
  RegisterRulesRoutes(*http_, ctx);
  RegisterAlertsRoutes(*http_, ctx);
  RegisterIocRoutes(*http_, ctx);
  RegisterHostStateRoutes(*http_, ctx);
}

}  // namespace vigil::server
