// The HTTPS API (same CA as the gateway), authenticated by bearer tokens or console session
// cookies (with CSRF tokens): health, hosts, events, hunts, live events, process trees, users, and
// the web console's static files. JSON in, JSON or JSON Lines out, with ECS dotted field names.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "common/pki/pki.hpp"
#include "server/store/action_store.hpp"
#include "server/store/store.hpp"
#include "server/store/user_store.hpp"

namespace httplib {
class SSLServer;
}
namespace vigil::store {
class DetectionStore;
class HostDirectory;
}  // namespace vigil::store
namespace vigil::detect {
class Detector;
}

namespace vigil::server {

struct ApiContext;
class EventHub;

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 8443;
  pki::ServerPki pki;
  std::size_t max_event_limit = 1'000'000;
  std::filesystem::path db_path;      // the store's database file, read by hunts
  std::filesystem::path console_dir;  // the built web console (web/dist); empty: not served
  std::int64_t session_ttl_ns = 12LL * 3600 * 1'000'000'000;  // console sessions end after this
  store::DetectionStore* detection = nullptr;  // rules and alerts (null: routes answer 503)
  detect::Detector* detector = nullptr;        // live engine: reloaded on rule changes
};

class ApiServer {
 public:
  using ConnectedAgentsFn = std::function<std::set<std::string>()>;
  ApiServer(ApiOptions options, store::Store& store, ConnectedAgentsFn connected);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Enables the response actions routes (call before Start).
  void SetActions(store::ActionStore* actions, ConnectedAgentsFn command_channels);
  Result<void> Start();
  void Stop();

 private:
  void Routes();
  ApiOptions options_;
  store::Store& store_;
  ConnectedAgentsFn connected_;
  std::shared_ptr<EventHub> hub_;
  std::unique_ptr<store::UserStore> users_;
  std::unique_ptr<store::HostDirectory> hosts_;
  std::unique_ptr<ApiContext> context_;
  std::unique_ptr<httplib::SSLServer> http_;
  std::thread thread_;
};

}  // namespace vigil::server
