// The HTTPS API (same CA as the gateway), authenticated by bearer tokens: health, hosts, events,
// and the hunt endpoint. JSON in, JSON or JSON Lines out, with ECS dotted field names.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "common/pki/pki.hpp"
#include "server/store/store.hpp"

namespace httplib {
class SSLServer;
}

namespace vigil::server {

struct ApiContext;

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 8443;
  pki::ServerPki pki;
  std::size_t max_event_limit = 1'000'000;
  std::filesystem::path db_path;  // the store's database file, read by hunts
};

class ApiServer {
 public:
  using ConnectedAgentsFn = std::function<std::set<std::string>()>;
  ApiServer(ApiOptions options, store::Store& store, ConnectedAgentsFn connected);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Result<void> Start();
  void Stop();

 private:
  void Routes();
  ApiOptions options_;
  store::Store& store_;
  ConnectedAgentsFn connected_;
  std::unique_ptr<ApiContext> context_;
  std::unique_ptr<httplib::SSLServer> http_;
  std::thread thread_;
};

}  // namespace vigil::server
