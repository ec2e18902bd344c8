#include "agent/uplink/uplink.hpp"

#include <grpcpp/grpcpp.h>

#include <iterator>
#include <random>

#include "agent/uplink/gateway_stub.hpp"
#include "common/log.hpp"
#include "common/zstd.hpp"
#include "vigil/v1/gateway.grpc.pb.h"

namespace vigil::agent {
namespace {

// Appends one record as field 1 (events) of an EventList, without re-parsing the Event.
void AppendEventListEntry(std::string& out, std::string_view event_bytes) {
  out.push_back(static_cast<char>((1 << 3) | 2));  // field 1, length-delimited
  std::uint64_t n = event_bytes.size();
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  out.append(event_bytes);
}

}  // namespace

Uplink::Uplink(UplinkOptions options, Spool& spool) : options_(std::move(options)), spool_(spool) {}

Uplink::~Uplink() { Stop(); }

void Uplink::Start() {
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void Uplink::Stop() {
  if (!running_.exchange(false)) return;
  {
    std::lock_guard lock(mutex_);
    if (active_context_) static_cast<grpc::ClientContext*>(active_context_)->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

UplinkStats Uplink::Stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Uplink::Loop() {
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = std::chrono::milliseconds(250);
  while (running_) {
    auto started = std::chrono::steady_clock::now();
    std::string reason = Session();
    if (!running_) break;
    {
      std::lock_guard lock(mutex_);
      stats_.connected = false;
      stats_.last_error = reason;
      stats_.reconnects++;
    }
    // A session that lasted a while resets the backoff; a failing one doubles it (with jitter so a
    // fleet does not reconnect in lockstep after a server restart).
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(30))
      backoff = std::chrono::milliseconds(250);
    auto jittered = std::chrono::milliseconds(
        std::uniform_int_distribution<long>(backoff.count() / 2, backoff.count())(rng));
    VLOG_WARN("uplink to {}: {}; retrying in {} ms", options_.server, reason, jittered.count());
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, jittered, [&] { return !running_; });
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

std::string Uplink::Session() {
  auto stub =
      GatewayStub({options_.server, options_.ca_pem, options_.cert_pem, options_.key_pem}, false);
  grpc::ClientContext context;
  {
    std::lock_guard lock(mutex_);
    if (!running_) return "stopped";
    active_context_ = &context;
  }
  struct ClearContext {
    Uplink* self;
    ~ClearContext() {
      std::lock_guard lock(self->mutex_);
      self->active_context_ = nullptr;
    }
  } clear_context{this};

  auto stream = stub->Stream(&context);
  v1::AgentMessage hello;
  *hello.mutable_hello() = options_.hello();
  if (!stream->Write(hello)) {
    auto status = stream->Finish();
    return "cannot open stream: " + status.error_message();
  }
  v1::ServerMessage reply;
  if (!stream->Read(&reply) || !reply.has_welcome()) {
    auto status = stream->Finish();
    return "no welcome from server: " + status.error_message();
  }
  std::uint64_t committed = reply.welcome().committed_sequence();
  if (committed) (void)spool_.Ack(committed);
  std::uint64_t sent = std::max(committed, spool_.Stats().acked_sequence);
  {
    std::lock_guard lock(mutex_);
    stats_.connected = true;
  }
  VLOG_INFO("uplink connected to {} as {}; server has up to sequence {}", options_.server,
            reply.welcome().agent_id(), committed);

  std::mutex window_mutex;
  std::condition_variable window_cv;
  int in_flight = 0;
  bool reader_done = false;
  std::thread reader([&] {
    v1::ServerMessage message;
    while (stream->Read(&message)) {
      if (!message.has_ack()) continue;
      const auto& ack = message.ack();
      std::uint64_t last = ack.first_sequence() + ack.count() - 1;
      if (ack.ok()) {
        (void)spool_.Ack(std::max<std::uint64_t>(ack.committed_sequence(), last));
        std::lock_guard lock(mutex_);
        stats_.events_acked += ack.count();
      } else {
        // The server could not decode the batch: resending cannot help. It is dropped and counted
        // on both sides.
        VLOG_ERROR("server rejected batch {}..{}: {}", ack.first_sequence(), last, ack.error());
        (void)spool_.Ack(last);
        std::lock_guard lock(mutex_);
        stats_.batches_rejected++;
        stats_.events_rejected += ack.count();
      }
      std::lock_guard lock(window_mutex);
      in_flight--;
      window_cv.notify_all();
    }
    std::lock_guard lock(window_mutex);
    reader_done = true;
    window_cv.notify_all();
  });

  std::string reason = "stopped";
  auto next_status = std::chrono::steady_clock::now();
  std::string payload;
  while (running_) {
    if (std::chrono::steady_clock::now() >= next_status && options_.status) {
      v1::AgentMessage status;
      *status.mutable_status() = options_.status();
      if (!stream->Write(status)) break;
      next_status = std::chrono::steady_clock::now() + options_.status_interval;
    }
    {
      std::unique_lock lock(window_mutex);
      window_cv.wait_for(lock, options_.idle_wait,
                         [&] { return in_flight < options_.window || reader_done; });
      if (reader_done) break;
      if (in_flight >= options_.window) continue;
    }
    auto records =
        spool_.Read(sent, options_.max_batch_events, options_.max_batch_bytes, options_.idle_wait);
    if (!records) {
      reason = "spool: " + records.error().message;
      break;
    }
    if (records->empty()) continue;
    if (records->size() < options_.max_batch_events && options_.linger.count() > 0) {
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, options_.linger, [&] { return !running_; });
      lock.unlock();
      auto more = spool_.Read(records->back().sequence, options_.max_batch_events - records->size(),
                              options_.max_batch_bytes, std::chrono::milliseconds(0));
      if (more) std::move(more->begin(), more->end(), std::back_inserter(*records));
    }
    // A batch holds consecutive sequences; a gap (records dropped by the spool bound) splits it.
    std::size_t begin = 0;
    bool write_failed = false;
    while (begin < records->size()) {
      std::size_t end = begin + 1;
      while (end < records->size() && (*records)[end].sequence == (*records)[end - 1].sequence + 1)
        ++end;
      payload.clear();
      for (std::size_t i = begin; i < end; ++i)
        AppendEventListEntry(payload, (*records)[i].payload);
      v1::AgentMessage message;
      auto* batch = message.mutable_batch();
      batch->set_first_sequence((*records)[begin].sequence);
      batch->set_count(static_cast<std::uint32_t>(end - begin));
      batch->set_raw_size(static_cast<std::uint32_t>(payload.size()));
      batch->set_events_zstd(ZstdCompress(payload, 1));
      {
        std::lock_guard lock(window_mutex);
        in_flight++;
      }
      if (!stream->Write(message)) {
        write_failed = true;
        break;
      }
      sent = (*records)[end - 1].sequence;
      {
        std::lock_guard lock(mutex_);
        stats_.batches_sent++;
      }
      begin = end;
    }
    if (write_failed) break;
  }
  context.TryCancel();
  reader.join();
  auto status = stream->Finish();
  if (!running_) return "stopped";
  if (!status.ok()) return "stream ended: " + status.error_message();
  return reason == "stopped" ? "stream closed by server" : reason;
}

}  // namespace vigil::agent
