// The gateway over real TLS with a real store: enrollment, mTLS identity, exactly-once ingest,
// rejection of bad batches without losing the connection or other data; the agent's uplink
// against it.
#include "server/gateway/gateway.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "agent/spool/spool.hpp"
#include "agent/uplink/uplink.hpp"
#include "common/pki/pki.hpp"
#include "common/zstd.hpp"
#include "vigil/v1/gateway.grpc.pb.h"

namespace fs = std::filesystem;
using namespace vigil;

namespace {

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vigil-gw-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    auto store = store::OpenSqliteStore({.path = dir_ / "vigil.db", .synchronous_full = false});
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    auto pki = pki::EnsureServerPki(dir_);
    ASSERT_TRUE(pki) << pki.error().message;
    pki_ = *pki;
    gateway_ = std::make_unique<server::Gateway>(
        server::GatewayOptions{.listen = "127.0.0.1:0", .pki = pki_}, *store_);
    ASSERT_TRUE(gateway_->Start());
    address_ = "127.0.0.1:" + std::to_string(gateway_->port());
    ca_pem_ = *pki::ReadFile(pki_.ca_cert);
  }
  void TearDown() override {
    gateway_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  std::string Token(std::int64_t ttl_ns = 600'000'000'000) {
    auto secret = store_->CreateEnrollmentToken(ttl_ns);
    EXPECT_TRUE(secret);
    return *secret + "." + *pki::CertFingerprint(ca_pem_);
  }

  grpc::Status Enroll(const std::string& token, pki::KeyAndCsr& key, v1::EnrollResponse& response) {
    key = *pki::MakeKeyAndCsr();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_pem_;
    auto stub = v1::AgentGateway::NewStub(grpc::CreateChannel(address_, grpc::SslCredentials(ssl)));
    v1::EnrollRequest request;
    request.set_token(token);
    request.set_csr_pem(key.csr_pem);
    request.set_hostname("test-host");
    grpc::ClientContext context;
    return stub->Enroll(&context, request, &response);
  }

  std::unique_ptr<v1::AgentGateway::Stub> AgentStub(const std::string& key_pem,
                                                    const std::string& cert_pem) {
    grpc::SslCredentialsOptions ssl{ca_pem_, key_pem, cert_pem};
    return v1::AgentGateway::NewStub(grpc::CreateChannel(address_, grpc::SslCredentials(ssl)));
  }

  static v1::AgentMessage MakeBatch(std::uint64_t first, int count,
                                    const std::string& agent_id = "") {
    v1::EventList list;
    for (int i = 0; i < count; ++i) {
      auto* e = list.add_events();
      e->set_timestamp(1'700'000'000'000'000'000 + static_cast<std::int64_t>(first + i));
      e->set_event_category("process");
      e->set_event_action("exec");
      e->set_process_pid(static_cast<std::int64_t>(first + i));
      e->set_host_id("h1");
      if (!agent_id.empty()) e->set_agent_id(agent_id);
    }
    std::string raw = list.SerializeAsString();
    v1::AgentMessage m;
    m.mutable_batch()->set_first_sequence(first);
    m.mutable_batch()->set_count(static_cast<std::uint32_t>(count));
    m.mutable_batch()->set_raw_size(static_cast<std::uint32_t>(raw.size()));
    m.mutable_batch()->set_events_zstd(ZstdCompress(raw));
    return m;
  }

  static v1::AgentMessage Hello(std::uint64_t epoch) {
    v1::AgentMessage m;
    m.mutable_hello()->set_host_id("h1");
    m.mutable_hello()->set_hostname("test-host");
    m.mutable_hello()->set_sensor_kind("replay");
    m.mutable_hello()->set_spool_epoch(epoch);
    return m;
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  pki::ServerPki pki_;
  std::unique_ptr<server::Gateway> gateway_;
  std::string address_, ca_pem_;
};

TEST_F(GatewayTest, EnrollIssuesCertificateWithAgentIdentityAndTokenIsSingleUse) {
  auto token = Token();
  pki::KeyAndCsr key;
  v1::EnrollResponse response;
  auto status = Enroll(token, key, response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.agent_id().starts_with("agt-"));
  EXPECT_EQ(*pki::CertCommonName(response.certificate_pem()), response.agent_id());
  EXPECT_EQ(response.ca_pem(), ca_pem_);
  EXPECT_TRUE(*store_->AgentExists(response.agent_id()));

  v1::EnrollResponse second;
  status = Enroll(token, key, second);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("already used"), std::string::npos)
      << status.error_message();
}

TEST_F(GatewayTest, ExpiredAndUnknownTokensAreRefused) {
  auto token = Token(1);  // expires after 1 ns
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  pki::KeyAndCsr key;
  v1::EnrollResponse response;
  auto status = Enroll(token, key, response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("expired"), std::string::npos) << status.error_message();
  status = Enroll(std::string(64, 'a') + "." + std::string(64, 'b'), key, response);
  EXPECT_NE(status.error_message().find("unknown"), std::string::npos) << status.error_message();
}

TEST_F(GatewayTest, StreamWithoutClientCertificateIsRefused) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_pem_;
  auto stub = v1::AgentGateway::NewStub(grpc::CreateChannel(address_, grpc::SslCredentials(ssl)));
  grpc::ClientContext context;
  auto stream = stub->Stream(&context);
  stream->Write(Hello(1));
  v1::ServerMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  auto status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GatewayTest, CertificateFromAnotherCaIsRefusedAtHandshake) {
  auto other_dir = dir_ / "other";
  auto other = *pki::EnsureServerPki(other_dir);
  auto key = *pki::MakeKeyAndCsr();
  auto cert = *pki::SignClientCsr(other, key.csr_pem, "agt-forged", 1);
  auto stub = AgentStub(key.key_pem, cert);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->Stream(&context);
  stream->Write(Hello(1));
  v1::ServerMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  EXPECT_FALSE(stream->Finish().ok());
  EXPECT_EQ(*store_->CountEvents(std::nullopt), 0u);
}

TEST_F(GatewayTest,
       BatchesAreAckedAfterCommitDeduplicatedAndBadOnesRejectedWithoutLosingTheStream) {
  pki::KeyAndCsr key;
  v1::EnrollResponse enrolled;
  ASSERT_TRUE(Enroll(Token(), key, enrolled).ok());
  auto stub = AgentStub(key.key_pem, enrolled.certificate_pem());

  grpc::ClientContext context;
  auto stream = stub->Stream(&context);
  ASSERT_TRUE(stream->Write(Hello(42)));
  v1::ServerMessage reply;
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(reply.has_welcome());
  EXPECT_EQ(reply.welcome().committed_sequence(), 0u);
  EXPECT_EQ(reply.welcome().agent_id(), enrolled.agent_id());

  // 1..100 ok
  ASSERT_TRUE(stream->Write(MakeBatch(1, 100)));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_TRUE(reply.ack().ok());
  EXPECT_EQ(reply.ack().committed_sequence(), 100u);

  // garbage payload: rejected, counted, stream stays usable
  v1::AgentMessage bad = MakeBatch(101, 10);
  bad.mutable_batch()->set_events_zstd("this is not zstd");
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_FALSE(reply.ack().ok());
  EXPECT_NE(reply.ack().error().find("decompress"), std::string::npos) << reply.ack().error();

  // an event claiming another agent's identity: the whole batch is rejected
  ASSERT_TRUE(stream->Write(MakeBatch(111, 5, "agt-someone-else")));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_FALSE(reply.ack().ok());
  EXPECT_NE(reply.ack().error().find("claims agent.id"), std::string::npos) << reply.ack().error();

  // resend of 51..150 after a "lost ack": only 116..150 are new (101..115 were rejected, never
  // stored)
  ASSERT_TRUE(stream->Write(MakeBatch(116, 35)));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_TRUE(reply.ack().ok());
  ASSERT_TRUE(stream->Write(MakeBatch(51, 100)));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_TRUE(reply.ack().ok());
  EXPECT_EQ(reply.ack().committed_sequence(), 150u);
  stream->WritesDone();
  stream->Finish();

  EXPECT_EQ(*store_->CountEvents(schema::Category::Process), 135u);  // 100 + 35, no duplicates
  auto counters = gateway_->Counters();
  EXPECT_EQ(counters.batches_rejected, 2u);
  auto hosts = *store_->ListHosts();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].agent_id, enrolled.agent_id());
  EXPECT_EQ(hosts[0].events_received, 135u);
  EXPECT_EQ(hosts[0].batches_rejected, 2u);
  EXPECT_EQ(hosts[0].sensor_kind, "replay");

  // every stored event carries the certificate's agent id
  std::size_t checked = 0;
  store::EventQuery all;
  all.limit = 1000;
  ASSERT_TRUE(store_->QueryEvents(all, [&](v1::Event&& e) {
    EXPECT_EQ(e.agent_id(), enrolled.agent_id());
    ++checked;
    return true;
  }));
  EXPECT_EQ(checked, 135u);
}

// The agent's uplink against the real gateway: a spooled backlog of events too large for one
// batch's byte bound leaves batch after batch without waiting for the linger timer (an hour here),
// every event is acked and stored, and a command call the server refuses (this gateway has no
// command queue) is retried on its own without dropping the event stream.
TEST_F(GatewayTest, UplinkDrainsABacklogAtOnceAndKeepsTheStreamWhenTheCommandCallFails) {
  pki::KeyAndCsr key;
  v1::EnrollResponse enrolled;
  ASSERT_TRUE(Enroll(Token(), key, enrolled).ok());
  auto spool = agent::Spool::Open({.dir = dir_ / "spool"});
  ASSERT_TRUE(spool) << spool.error().message;
  constexpr std::uint64_t kEvents = 3000;  // ~2 KiB each: a 1 MiB batch holds ~500
  for (std::uint64_t i = 1; i <= kEvents; ++i) {
    v1::Event e;
    e.set_timestamp(1'700'000'000'000'000'000 + static_cast<std::int64_t>(i));
    e.set_event_category("process");
    e.set_event_action("exec");
    e.set_process_pid(static_cast<std::int64_t>(i));
    e.set_process_command_line(std::string(2000, 'x'));
    e.set_host_id("h1");
    ASSERT_TRUE((*spool)->Append(e.SerializeAsString()));
  }
  agent::UplinkOptions options;
  options.server = address_;
  options.ca_pem = ca_pem_;
  options.cert_pem = enrolled.certificate_pem();
  options.key_pem = key.key_pem;
  options.linger = std::chrono::hours(1);
  options.idle_wait = std::chrono::hours(1);
  options.hello = [&] { return Hello((*spool)->Stats().epoch).hello(); };
  // The periodic work (the agent syncs the spool there) runs on the uplink's thread, only while
  // connected, and the agent is told when a connection comes and goes.
  std::atomic<int> ticks = 0, ticks_unconnected = 0;
  std::mutex states_mutex;
  std::vector<bool> states;
  std::atomic<bool> connected = false;
  options.tick_interval = std::chrono::milliseconds(100);
  options.on_tick = [&] {
    ++ticks;
    if (!connected) ++ticks_unconnected;
  };
  options.on_connected = [&](bool c) {
    connected = c;
    std::lock_guard lock(states_mutex);
    states.push_back(c);
  };
  agent::Uplink uplink(options, **spool);
  int commands = 0;
  uplink.AttachCommands([] { return v1::CommandsRequest(); }, [&](v1::Command) { ++commands; });
  uplink.Start();
  for (int i = 0; i < 600 && (*spool)->Stats().acked_sequence < kEvents; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 100 && ticks < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto stats = uplink.Stats();
  uplink.Stop();
  EXPECT_GE(ticks, 3);
  EXPECT_EQ(ticks_unconnected, 0);
  EXPECT_EQ(states, (std::vector<bool>{true, false}));
  EXPECT_EQ((*spool)->Stats().acked_sequence, kEvents);
  EXPECT_EQ(stats.events_acked, kEvents);
  EXPECT_GE(stats.batches_sent, 6u);  // the byte bound split the backlog
  EXPECT_EQ(stats.batches_rejected, 0u);
  EXPECT_EQ(stats.reconnects, 0u) << stats.last_error;
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(commands, 0);
  auto committed = store_->CommittedSequence(enrolled.agent_id(), (*spool)->Stats().epoch);
  ASSERT_TRUE(committed);
  EXPECT_EQ(*committed, kEvents);
  auto stored = store_->CountEvents(std::nullopt);
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, kEvents);
}

}  // namespace
