// The agent's connection to the server: a gRPC stream over mTLS that sends the spool's records in
// zstd-compressed batches (several in flight) and acknowledges them in the spool only when the
// server says they are durably stored. Reconnects with exponential backoff and jitter.
//
// One thread does everything: it drives the stream with gRPC's async API on its own completion
// queue (writes, the acks' reads, status messages), looks at the spool on a timer, and runs the
// command channel's call (AttachCommands) on the same channel and queue. With no reader thread and
// no thread blocked in a sync call, a network event is taken by the thread that handles it instead
// of being handed between threads (each hand-off is a wake-up), and one TCP/TLS connection serves
// both calls.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/channel.h>

#include "agent/spool/spool.hpp"
#include "common/error.hpp"
#include "vigil/v1/gateway.pb.h"

namespace vigil::agent {

struct UplinkOptions {
  std::string server;  // host:port of the gateway
  std::string ca_pem, cert_pem, key_pem;
  std::size_t max_batch_events = 1000;
  std::size_t max_batch_bytes = 1u << 20;
  int window = 8;  // batches in flight before waiting for acks
  // How often the spool is looked at while events arrive: a trickle then costs one message per
  // linger instead of one per event, for at most this much extra latency. Each batch is a TLS
  // round trip and an ack, a wake-up of the agent and of the server: at 100 execs/s the batches,
  // not the events, were most of the agent's CPU. A full batch is sent at once.
  std::chrono::milliseconds linger{250};
  // How often the spool is looked at when the last look found nothing.
  std::chrono::milliseconds idle_wait{500};
  // The looks are on the agent's tick grid (common/tick.hpp) at this offset: the eBPF source reads
  // its ring on the same grid at offset 0, so what it read is in the spool by the look.
  std::chrono::milliseconds tick_offset{20};
  // Runs on the uplink's thread every tick_interval on the same grid while connected, before the
  // look at the spool (the agent syncs the spool there: no thread of its own wakes for it). With
  // tick_interval == linger (or a divisor of it) the looks come at ticks.
  std::function<void()> on_tick;
  std::chrono::milliseconds tick_interval{500};
  // Runs on the uplink's thread when a batch's ack has not come `ack_grace` after the batch was
  // written (a slow or stalled server; the agent syncs the spool there, since it does not sync
  // records that the server acknowledges within a tick). Once per overdue batch.
  std::function<void()> on_ack_overdue;
  std::chrono::milliseconds ack_grace{100};
  // Told when a connection is established (true) and when it ends or the uplink stops (false):
  // on_tick runs only in between.
  std::function<void(bool)> on_connected;
  std::chrono::milliseconds status_interval{5000};
  std::chrono::milliseconds max_backoff{30000};
  std::function<v1::Hello()> hello;         // sent first on every connection
  std::function<v1::AgentStatus()> status;  // sent every status_interval
};

struct UplinkStats {
  bool connected = false;
  std::uint64_t batches_sent = 0;
  std::uint64_t events_acked = 0;
  std::uint64_t batches_rejected = 0;
  std::uint64_t events_rejected = 0;
  std::uint64_t reconnects = 0;
  std::string last_error;
};

class Uplink {
 public:
  Uplink(UplinkOptions options, Spool& spool);
  ~Uplink();
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  void Start();
  void Stop();
  UplinkStats Stats() const;

  // Also runs the Commands call (request from `request`) on each connection and passes every
  // command received to on_command, on the uplink's thread (it must return quickly). A call that
  // ends is restarted with backoff; the event stream is not affected. Thread-safe; once.
  void AttachCommands(std::function<v1::CommandsRequest()> request,
                      std::function<void(v1::Command)> on_command);
  // Sends a command's result on the current connection (a unary call, from the caller's thread).
  Result<void> Report(const v1::CommandResult& result);

 private:
  // One connection's life; returns the reason it ended.
  std::string Session();

  UplinkOptions options_;
  Spool& spool_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  void* active_context_ = nullptr;          // grpc::ClientContext* of the live session, for Stop()
  std::shared_ptr<grpc::Channel> channel_;  // of the live session, for Report()
  std::function<v1::CommandsRequest()> commands_request_;
  std::function<void(v1::Command)> on_command_;
  UplinkStats stats_;
};

}  // namespace vigil::agent
