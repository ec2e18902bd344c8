// What every API route module gets: the server's options and services, and the shared helpers for
// errors, JSON bodies and the caller's identity. Each module registers its routes explicitly from
// ApiServer::Routes (Register*Routes in routes.hpp).
#pragma once

#include <optional>
#include <string>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "server/api/api_server.hpp"

namespace vigil::server {

struct ApiContext {
  const ApiOptions& options;
  store::Store& store;
  ApiServer::ConnectedAgentsFn connected;
};

void SendError(httplib::Response& res, int status, const std::string& message);
void SendJson(httplib::Response& res, const nlohmann::json& body);
std::string BearerToken(const httplib::Request& req);
// The request body as a JSON object, or a 400 already sent (and nullopt).
std::optional<nlohmann::json> ParseJsonObject(const httplib::Request& req, httplib::Response& res);
// Who calls (the API token's name and role), if authenticated.
std::optional<store::ApiPrincipal> Caller(ApiContext& ctx, const httplib::Request& req);

}  // namespace vigil::server
