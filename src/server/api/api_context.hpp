// What every API route module gets: the server's options and services, and the shared helpers for
// errors, JSON bodies and the caller's identity. Each module registers its routes explicitly from
// ApiServer::Routes (Register*Routes in routes.hpp).
#pragma once

#include <optional>
#include <string>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "server/api/api_server.hpp"
#include "server/api/event_hub.hpp"
#include "server/store/user_store.hpp"

namespace vigil::store {
class HostDirectory;
}

namespace vigil::server {

struct ApiContext {
  const ApiOptions& options;
  store::Store& store;
  ApiServer::ConnectedAgentsFn connected;
  store::UserStore* users = nullptr;  // console users and sessions
  EventHub* hub = nullptr;            // live events, fed by the store's commits
  // Response actions (audit log + command queue) and the agents with an open command channel;
  // null/empty when the server runs without them (then /api/actions answers 503).
  store::ActionStore* actions = nullptr;
  ApiServer::ConnectedAgentsFn command_channels = {};
  store::HostDirectory* hosts = nullptr;  // imported hosts, and which host names are known
};

// How a request authenticated: an API bearer token, or a console session cookie.
struct Authenticated {
  store::ApiPrincipal who;
  bool session = false;  // a cookie session: non-GET requests need its CSRF token
  std::string csrf;
};
inline constexpr const char* kSessionCookie = "vigil_session";
inline constexpr const char* kCsrfHeader = "X-CSRF-Token";
// The value of a cookie in the request, or empty.
std::string CookieValue(const httplib::Request& req, std::string_view name);
// Bearer token first, else the session cookie; nullopt when neither is valid.
Result<std::optional<Authenticated>> Authenticate(ApiContext& ctx, const httplib::Request& req);

void SendError(httplib::Response& res, int status, const std::string& message);
void SendJson(httplib::Response& res, const nlohmann::json& body);
std::string BearerToken(const httplib::Request& req);
// The request body as a JSON object, or a 400 already sent (and nullopt).
std::optional<nlohmann::json> ParseJsonObject(const httplib::Request& req, httplib::Response& res);
// Who calls (the API token's or the console user's name, and the role), if authenticated.
std::optional<store::ApiPrincipal> Caller(ApiContext& ctx, const httplib::Request& req);

}  // namespace vigil::server
