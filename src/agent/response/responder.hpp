// The agent's response executors, registered on the command channel by command type: kill,
// isolate/release, quarantine (+ list, restore, delete), block/unblock of hashes, IPs and domains.
// Each executor lives in its own file of this folder; this class owns their shared state and
// re-applies what must survive an agent restart (docs/response.md).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "agent/response/exec_block.hpp"
#include "agent/response/isolate.hpp"
#include "agent/response/kill.hpp"
#include "agent/response/net_block.hpp"
#include "agent/response/quarantine.hpp"
#include "agent/uplink/command_channel.hpp"
#include "common/error.hpp"
#include "common/host_info.hpp"
#include "common/schema.hpp"

namespace vigil::agent {
class HashCache;
}

namespace vigil::agent::response {

struct ResponderOptions {
  std::filesystem::path state_dir;  // the agent's state dir; executors keep their state below it
  HostInfo host;
  std::string server;   // the gateway's host:port (isolation keeps it reachable)
  EntityLookup lookup;  // entity id -> pid, from the enricher's process table
  HashCache* hashes = nullptr;
  std::function<void(v1::Event&&)> emit;         // events the executors produce (e.g. exec denied)
  std::string resolv_conf = "/etc/resolv.conf";  // DNS servers isolation keeps reachable
};

class Responder {
 public:
  explicit Responder(ResponderOptions options);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // Re-applies the persisted state (isolation, block lists); failures are logged, not fatal.
  void Start();
  void Stop();
  void Register(CommandChannel& channel);
  // Every event of the pipeline passes here (DNS answers feed the domain block list).
  void OnEvent(const v1::Event& event);

 private:
  ResponderOptions options_;
  std::unique_ptr<HashCache> own_hashes_;  // when the options bring none
  Isolation isolation_;
  Quarantine quarantine_;
  std::unique_ptr<ExecBlocker> exec_block_;
  NetBlocker net_block_;
};

}  // namespace vigil::agent::response
