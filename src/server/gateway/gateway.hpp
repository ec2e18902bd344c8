// The agents' gateway: gRPC over mTLS. Enrolls agents (single-use token + CSR -> certificate whose
// CN is the agent id), receives their event batches, checks every event belongs to the agent that
// sent it, commits each batch durably through the Store and only then acks it. Delivers queued
// response commands over each agent's command channel and records their results (ActionStore).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/error.hpp"
#include "common/pki/pki.hpp"
#include "server/store/action_store.hpp"
#include "server/store/store.hpp"

namespace grpc {
class Server;
}

namespace vigil::server {

struct GatewayOptions {
  std::string listen = "0.0.0.0:8444";
  pki::ServerPki pki;
  std::size_t max_batch_bytes = 64u << 20;  // uncompressed bound per batch
  int client_cert_days = 365;
};

struct GatewayCounters {
  std::uint64_t batches = 0;
  std::uint64_t events_stored = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t batches_rejected = 0;
  std::uint64_t enrollments = 0;
};

class Gateway {
 public:
  // actions may be null: then the command channel answers UNAVAILABLE.
  Gateway(GatewayOptions options, store::Store& store, store::ActionStore* actions = nullptr);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds and starts serving; a port in use is an error that names it.
  Result<void> Start();
  void Shutdown();
  int port() const { return port_; }

  std::set<std::string> ConnectedAgents() const;
  // Agents that can take a command now: command channel and event stream both open.
  std::set<std::string> CommandChannels() const;
  GatewayCounters Counters() const;

  class Service;

 private:
  GatewayOptions options_;
  store::Store& store_;
  store::ActionStore* actions_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace vigil::server
