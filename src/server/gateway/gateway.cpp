#include "server/gateway/gateway.hpp"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/rand.h>

#include "common/log.hpp"
#include "common/sha256.hpp"
#include "common/time.hpp"
#include "common/zstd.hpp"
#include "vigil/v1/gateway.grpc.pb.h"

namespace vigil::server {
namespace {

std::string NewAgentId() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  return "agt-" + ToHex(bytes, sizeof bytes);
}

// The agent id proven by the peer's verified client certificate, or empty.
std::string PeerAgentId(const grpc::ServerContext& context) {
  auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {};
  auto values = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (values.empty()) return {};
  return std::string(values.front().data(), values.front().size());
}

}  // namespace

class Gateway::Service final : public v1::AgentGateway::Service {
 public:
  Service(const GatewayOptions& options, store::Store& store, store::ActionStore* actions)
      : options_(options), store_(store), actions_(actions) {}

  grpc::Status Enroll(grpc::ServerContext*, const v1::EnrollRequest* request,
                      v1::EnrollResponse* response) override {
    std::string secret = request->token().substr(0, request->token().find('.'));
    if (auto used = store_.ConsumeEnrollmentToken(secret); !used)
      return {grpc::StatusCode::PERMISSION_DENIED, used.error().message};
    std::string agent_id = NewAgentId();
    auto cert =
        pki::SignClientCsr(options_.pki, request->csr_pem(), agent_id, options_.client_cert_days);
    if (!cert) return {grpc::StatusCode::INVALID_ARGUMENT, cert.error().message};
    auto ca = pki::ReadFile(options_.pki.ca_cert);
    if (!ca) return {grpc::StatusCode::INTERNAL, ca.error().message};
    if (auto r = store_.RegisterAgent(agent_id, request->hostname()); !r)
      return {grpc::StatusCode::INTERNAL, r.error().message};
    response->set_agent_id(agent_id);
    response->set_certificate_pem(*cert);
    response->set_ca_pem(*ca);
    enrollments_++;
    VLOG_INFO("enrolled agent {} ({})", agent_id, request->hostname());
    return grpc::Status::OK;
  }

  grpc::Status Stream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ServerMessage, v1::AgentMessage>* stream) override {
    const std::string agent_id = PeerAgentId(*context);
    if (agent_id.empty())
      return {grpc::StatusCode::UNAUTHENTICATED,
              "a client certificate issued by this server is required"};
    if (auto known = store_.AgentExists(agent_id); !known || !*known)
      return {grpc::StatusCode::PERMISSION_DENIED, "agent " + agent_id + " is not enrolled here"};

    v1::AgentMessage message;
    if (!stream->Read(&message) || !message.has_hello())
      return {grpc::StatusCode::INVALID_ARGUMENT, "the first message of a stream must be a Hello"};
    const v1::Hello& hello = message.hello();
    const std::uint64_t epoch = hello.spool_epoch();
    store::HostRecord record;
    record.host_id = hello.host_id();
    record.hostname = hello.hostname();
    record.os = hello.os();
    record.agent_version = hello.agent_version();
    record.sensor_kind = hello.sensor_kind();
    if (auto r = store_.UpdateAgentHello(agent_id, record); !r)
      return {grpc::StatusCode::UNAVAILABLE, r.error().message};
    auto committed = store_.CommittedSequence(agent_id, epoch);
    if (!committed) return {grpc::StatusCode::UNAVAILABLE, committed.error().message};

    v1::ServerMessage welcome;
    welcome.mutable_welcome()->set_committed_sequence(*committed);
    welcome.mutable_welcome()->set_agent_id(agent_id);
    if (!stream->Write(welcome)) return grpc::Status::CANCELLED;

    ConnectionGuard guard(*this, agent_id);
    VLOG_INFO("agent {} connected ({} {}, sensor {}), committed sequence {}", agent_id,
              hello.hostname(), hello.os(), hello.sensor_kind(), *committed);

    while (stream->Read(&message)) {
      if (message.has_status()) {
        const auto& s = message.status();
        store::AgentStatusUpdate update{s.sensor_dropped(), s.spool_dropped(),
                                        s.sensor_parse_errors(), s.spool_discarded_bytes(),
                                        s.sensor_kind()};
        if (auto r = store_.UpdateAgentStatus(agent_id, update); !r)
          VLOG_WARN("agent {}: status not saved: {}", agent_id, r.error().message);
        continue;
      }
      if (!message.has_batch()) continue;
      v1::ServerMessage reply;
      auto* ack = reply.mutable_ack();
      ack->set_first_sequence(message.batch().first_sequence());
      ack->set_count(message.batch().count());
      auto stored = HandleBatch(agent_id, epoch, message.batch());
      if (!stored) {
        if (stored.error().retryable) {
          // Not the agent's fault: close the stream without ack; the agent resends later.
          VLOG_ERROR("agent {}: {}", agent_id, stored.error().message);
          return {grpc::StatusCode::UNAVAILABLE, stored.error().message};
        }
        rejected_++;
        VLOG_WARN("agent {}: batch at sequence {} rejected: {}", agent_id,
                  message.batch().first_sequence(), stored.error().message);
        (void)store_.CountRejectedBatch(agent_id, message.batch().count());
        ack->set_ok(false);
        ack->set_error(stored.error().message);
      } else {
        ack->set_ok(true);
        ack->set_committed_sequence(*stored);
      }
      if (!stream->Write(reply)) break;
    }
    VLOG_INFO("agent {} disconnected", agent_id);
    return grpc::Status::OK;
  }

  grpc::Status Commands(grpc::ServerContext* context, const v1::CommandsRequest* request,
                        grpc::ServerWriter<v1::Command>* writer) override {
    const std::string agent_id = PeerAgentId(*context);
    if (agent_id.empty())
      return {grpc::StatusCode::UNAUTHENTICATED,
              "a client certificate issued by this server is required"};
    if (auto known = store_.AgentExists(agent_id); !known || !*known)
      return {grpc::StatusCode::PERMISSION_DENIED, "agent " + agent_id + " is not enrolled here"};
    if (!actions_) return {grpc::StatusCode::UNAVAILABLE, "this server has no command queue"};
    ChannelGuard guard(*this, agent_id);
    VLOG_INFO("agent {} opened its command channel ({} command types)", agent_id,
              request->supported_types_size());
    if (auto joined = actions_->AdoptFleetWide(agent_id); !joined)
      return {grpc::StatusCode::UNAVAILABLE, joined.error().message};
    else if (*joined > 0)
      VLOG_INFO("agent {} joins {} fleet-wide action(s) taken before it enrolled", agent_id,
                *joined);
    // Everything not acknowledged yet, once; afterwards only what is queued meanwhile.
    bool only_pending = false;
    while (!context->IsCancelled()) {
      const std::int64_t seen = actions_->Sequence();
      auto queued = actions_->Undelivered(agent_id, only_pending);
      if (!queued) return {grpc::StatusCode::UNAVAILABLE, queued.error().message};
      for (const auto& q : *queued) {
        v1::Command command;
        command.set_id(q.id);
        command.set_type(q.type);
        command.set_payload(q.payload);
        command.set_created_ns(q.created_ns);
        command.set_action_id(std::to_string(q.action_id));
        if (!writer->Write(command)) return grpc::Status::CANCELLED;
        if (auto r = actions_->MarkSent(q.id); !r)
          VLOG_WARN("command {}: not marked sent: {}", q.id, r.error().message);
        VLOG_INFO("command {} ({}) sent to agent {}", q.id, q.type, agent_id);
      }
      only_pending = true;
      actions_->WaitForChange(seen, std::chrono::milliseconds(500));
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportResult(grpc::ServerContext* context, const v1::CommandResult* result,
                            v1::CommandResultAck* ack) override {
    const std::string agent_id = PeerAgentId(*context);
    if (agent_id.empty())
      return {grpc::StatusCode::UNAUTHENTICATED,
              "a client certificate issued by this server is required"};
    if (!actions_) return {grpc::StatusCode::UNAVAILABLE, "this server has no command queue"};
    if (result->status() == v1::CommandResult::STATUS_UNSPECIFIED)
      return {grpc::StatusCode::INVALID_ARGUMENT, "a result must be DONE or FAILED"};
    const bool ok = result->status() == v1::CommandResult::DONE;
    auto stored = actions_->Complete(agent_id, result->id(), ok, result->error(), result->result());
    if (!stored) return {grpc::StatusCode::UNAVAILABLE, stored.error().message};
    ack->set_known(*stored);
    if (*stored)
      VLOG_INFO("command {} on agent {}: {}{}", result->id(), agent_id,
                ok ? "done" : "failed: ", result->error());
    else
      VLOG_WARN("agent {} reported a result for unknown command {}", agent_id, result->id());
    return grpc::Status::OK;
  }

  // A command channel counts only while the agent's event stream is up too: a channel whose
  // agent went away is noticed on its next poll (up to 500 ms later), and until then an action
  // must still be reported as queued for an offline host, as `vigil hosts` shows it.
  std::set<std::string> Channels() const {
    std::lock_guard lock(mutex_);
    std::set<std::string> out;
    for (const auto& [id, n] : channels_)
      if (n > 0 && connected_.contains(id)) out.insert(id);
    return out;
  }

  std::set<std::string> Connected() const {
    std::lock_guard lock(mutex_);
    std::set<std::string> out;
    for (const auto& [id, n] : connected_)
      if (n > 0) out.insert(id);
    return out;
  }

  GatewayCounters Counters() const {
    return {batches_.load(), stored_.load(), duplicates_.load(), rejected_.load(),
            enrollments_.load()};
  }

 private:
  struct ConnectionGuard {
    ConnectionGuard(Service& s, std::string id) : service(s), agent_id(std::move(id)) {
      std::lock_guard lock(service.mutex_);
      service.connected_[agent_id]++;
    }
    ~ConnectionGuard() {
      std::lock_guard lock(service.mutex_);
      if (--service.connected_[agent_id] <= 0) service.connected_.erase(agent_id);
    }
    Service& service;
    std::string agent_id;
  };

  struct ChannelGuard {
    ChannelGuard(Service& s, std::string id) : service(s), agent_id(std::move(id)) {
      std::lock_guard lock(service.mutex_);
      service.channels_[agent_id]++;
    }
    ~ChannelGuard() {
      std::lock_guard lock(service.mutex_);
      if (--service.channels_[agent_id] <= 0) service.channels_.erase(agent_id);
    }
    Service& service;
    std::string agent_id;
  };

  struct BatchError {
    std::string message;
    bool retryable = false;  // the server's problem (store): resend later; else the batch is bad
  };
  static std::unexpected<BatchError> Reject(std::string message) {
    return std::unexpected(BatchError{std::move(message), false});
  }

  // Decodes, checks and durably stores one batch; returns the committed sequence.
  std::expected<std::uint64_t, BatchError> HandleBatch(const std::string& agent_id,
                                                       std::uint64_t epoch,
                                                       const v1::Batch& batch) {
    if (batch.count() == 0) return Reject("empty batch");
    if (batch.first_sequence() == 0) return Reject("batch without a sequence number");
    auto raw = ZstdDecompress(batch.events_zstd(), batch.raw_size(), options_.max_batch_bytes);
    if (!raw) return Reject("cannot decompress: " + raw.error().message);
    v1::EventList list;
    if (!list.ParseFromString(*raw)) return Reject("payload is not a valid EventList protobuf");
    if (static_cast<std::uint32_t>(list.events_size()) != batch.count())
      return Reject("batch declares " + std::to_string(batch.count()) + " events but holds " +
                    std::to_string(list.events_size()));
    std::vector<store::IngestBatch> batches(1);
    auto& ingest = batches.front();
    ingest.agent_id = agent_id;
    ingest.spool_epoch = epoch;
    ingest.first_sequence = batch.first_sequence();
    ingest.events.reserve(list.events_size());
    for (int i = 0; i < list.events_size(); ++i) {
      auto* event = list.mutable_events(i);
      if (event->has_agent_id() && event->agent_id() != agent_id)
        return Reject("event " + std::to_string(batch.first_sequence() + i) + " claims agent.id " +
                      event->agent_id() + " but the certificate says " + agent_id);
      event->set_agent_id(agent_id);
      ingest.events.push_back(std::move(*event));
    }
    auto results = store_.Append(batches);
    if (!results) return std::unexpected(BatchError{"store: " + results.error().message, true});
    const auto& r = results->front();
    batches_++;
    stored_ += r.stored;
    duplicates_ += r.duplicates;
    return r.committed_sequence;
  }

  const GatewayOptions& options_;
  store::Store& store_;
  store::ActionStore* actions_;
  mutable std::mutex mutex_;
  std::map<std::string, int> connected_;
  std::map<std::string, int> channels_;
  std::atomic<std::uint64_t> batches_{0}, stored_{0}, duplicates_{0}, rejected_{0}, enrollments_{0};
};

Gateway::Gateway(GatewayOptions options, store::Store& store, store::ActionStore* actions)
    : options_(std::move(options)), store_(store), actions_(actions) {}

Gateway::~Gateway() { Shutdown(); }

Result<void> Gateway::Start() {
  auto cert = pki::ReadFile(options_.pki.server_cert);
  auto key = pki::ReadFile(options_.pki.server_key);
  auto ca = pki::ReadFile(options_.pki.ca_cert);
  if (!cert || !key || !ca) return Fail("gateway: cannot read the server's certificates");
  // Client certificates are requested and verified when presented, but not required: Enroll is
  // called before the agent has one. Stream refuses peers without a verified certificate.
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = *ca;
  // The chain includes the CA so that enrolling agents can pin it by fingerprint.
  ssl.pem_key_cert_pairs.push_back({*key, *cert + *ca});

  service_ = std::make_unique<Service>(options_, store_, actions_);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, grpc::SslServerCredentials(ssl), &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_batch_bytes));
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Agents ping their idle command channel every 20 s; accept that instead of answering GOAWAY.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // No BDP probing, a fixed 8 MiB stream window instead (the agent's uplink has at most 8 batches
  // in flight): with probing, every batch an agent sent cost a PING and its ack, several thread
  // wake-ups on the agent per batch.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0)
    return Fail("gateway: cannot listen on " + options_.listen + " (address in use?)");
  VLOG_INFO("gateway listening for agents on {} (mTLS)", options_.listen);
  return {};
}

void Gateway::Shutdown() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }
}

std::set<std::string> Gateway::ConnectedAgents() const {
  return service_ ? service_->Connected() : std::set<std::string>{};
}

std::set<std::string> Gateway::CommandChannels() const {
  return service_ ? service_->Channels() : std::set<std::string>{};
}

GatewayCounters Gateway::Counters() const {
  return service_ ? service_->Counters() : GatewayCounters{};
}

}  // namespace vigil::server
