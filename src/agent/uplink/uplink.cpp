#include "agent/uplink/uplink.hpp"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "agent/uplink/gateway_stub.hpp"
#include "agent/uplink/reconnect.hpp"
#include "common/log.hpp"
#include "common/tick.hpp"
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
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "vigil-uplink");  // per-thread costs in /proc, perf
    ReconnectLoop{"uplink", options_.server, options_.max_backoff, running_, mutex_, cv_}.Run(
        [this] { return Session(); },
        [this](const std::string& reason) {
          {
            std::lock_guard lock(mutex_);
            stats_.connected = false;
            stats_.last_error = reason;
            stats_.reconnects++;
          }
          if (options_.on_connected) options_.on_connected(false);
        });
    if (options_.on_connected) options_.on_connected(false);
  });
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

void Uplink::AttachCommands(std::function<v1::CommandsRequest()> request,
                            std::function<void(v1::Command)> on_command) {
  std::lock_guard lock(mutex_);
  commands_request_ = std::move(request);
  on_command_ = std::move(on_command);
}

Result<void> Uplink::Report(const v1::CommandResult& result) {
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard lock(mutex_);
    channel = channel_;
  }
  if (!channel) return Fail("not connected to the server");
  v1::CommandResultAck ack;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto status = v1::AgentGateway::NewStub(channel)->ReportResult(&context, result, &ack);
  if (!status.ok()) return Fail(status.error_message());
  return {};
}

namespace {

// Completion queue tags: which operation completed. At most one of each call's operations is
// outstanding at any time (one read and one write of the stream; one of the command call).
enum Op : std::intptr_t { kStart = 1, kWrite, kRead, kFinish, kCmdStart, kCmdRead, kCmdFinish };

void* Tag(Op op) { return reinterpret_cast<void*>(op); }

// The command call of one connection.
struct CommandCall {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientAsyncReader<v1::Command>> reader;
  v1::Command command;
  grpc::Status status;
  std::chrono::steady_clock::time_point started;
};

}  // namespace

std::string Uplink::Session() {
  auto channel =
      GatewayChannel({options_.server, options_.ca_pem, options_.cert_pem, options_.key_pem});
  auto stub = v1::AgentGateway::NewStub(channel);
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
      self->channel_.reset();
    }
  } clear_context{this};

  grpc::CompletionQueue cq;
  auto stream = stub->PrepareAsyncStream(&context, &cq);
  bool read_pending = false, write_pending = false, cmd_pending = false;
  std::unique_ptr<CommandCall> cmd;
  v1::ServerMessage reply;
  v1::AgentMessage out;
  auto op_done = [&](void* tag) {
    auto op = static_cast<Op>(reinterpret_cast<std::intptr_t>(tag));
    if (op == kRead) read_pending = false;
    if (op == kWrite) write_pending = false;
    return op;
  };
  // Waits for the one outstanding operation `op` (handshake only; Stop() cancels the call).
  auto await = [&](Op op) {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && op_done(tag) == op && ok;
  };
  // Ends both calls and drains the queue: no completion may arrive after the calls are gone.
  auto finish = [&](bool cancel) {
    if (cancel) context.TryCancel();
    if (cmd) cmd->context.TryCancel();
    void* tag = nullptr;
    bool ok = false;
    while ((read_pending || write_pending || cmd_pending) && cq.Next(&tag, &ok)) {
      auto op = op_done(tag);
      if (op == kCmdStart || op == kCmdRead) cmd->reader->Finish(&cmd->status, Tag(kCmdFinish));
      if (op == kCmdFinish) cmd_pending = false;
    }
    grpc::Status status;
    stream->Finish(&status, Tag(kFinish));
    while (cq.Next(&tag, &ok) && tag != Tag(kFinish)) {
    }
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  };

  stream->StartCall(Tag(kStart));
  *out.mutable_hello() = options_.hello();
  bool started = await(kStart);
  if (started) {
    stream->Write(out, Tag(kWrite));
    write_pending = true;
  }
  if (!started || !await(kWrite)) return "cannot open stream: " + finish(true).error_message();
  stream->Read(&reply, Tag(kRead));
  read_pending = true;
  if (!await(kRead) || !reply.has_welcome())
    return "no welcome from server: " + finish(true).error_message();
  std::uint64_t committed = reply.welcome().committed_sequence();
  if (committed) (void)spool_.Ack(committed);
  std::uint64_t sent = std::max(committed, spool_.Stats().acked_sequence);
  {
    std::lock_guard lock(mutex_);
    stats_.connected = true;
    channel_ = channel;
  }
  VLOG_INFO("uplink connected to {} as {}; server has up to sequence {}", options_.server,
            reply.welcome().agent_id(), committed);
  if (options_.on_connected) options_.on_connected(true);

  stream->Read(&reply, Tag(kRead));
  read_pending = true;
  int in_flight = 0;
  // When the oldest batch in flight whose ack is overdue is due (max: none is waited for).
  auto ack_due = std::chrono::steady_clock::time_point::max();
  std::string reason = "stopped";
  bool server_closed = false;
  auto now = std::chrono::steady_clock::now();
  auto next_status = options_.status ? now : std::chrono::steady_clock::time_point::max();
  auto next_look = now;
  auto next_tick = options_.on_tick ? now : std::chrono::steady_clock::time_point::max();
  auto next_cmd_start = now;
  Backoff cmd_backoff(options_.max_backoff);
  bool ended = false;
  std::string payload;
  std::vector<SpoolRecord> records;  // read from the spool, not yet written
  std::size_t next_record = 0;
  while (running_ && !ended) {
    now = std::chrono::steady_clock::now();
    // The command call: (re)started when attached and due.
    std::function<v1::CommandsRequest()> cmd_request;
    std::function<void(v1::Command)> on_command;
    {
      std::lock_guard lock(mutex_);
      cmd_request = commands_request_;
      on_command = on_command_;
    }
    if (now >= ack_due) {
      if (options_.on_ack_overdue) options_.on_ack_overdue();
      ack_due = std::chrono::steady_clock::time_point::max();  // the next write waits again
    }
    if (now >= next_tick) {
      options_.on_tick();
      next_tick = NextTick(now, options_.tick_interval, options_.tick_offset);
    }
    if (!cmd && cmd_request && now >= next_cmd_start) {
      cmd = std::make_unique<CommandCall>();
      cmd->started = now;
      cmd->reader = stub->PrepareAsyncCommands(&cmd->context, cmd_request(), &cq);
      cmd->reader->StartCall(Tag(kCmdStart));
      cmd_pending = true;
    }
    // The next write: a status when due, else the next batch of consecutive sequences (a gap,
    // records dropped by the spool bound, splits a batch).
    if (!write_pending) {
      bool have = false;
      if (now >= next_status) {
        out.Clear();
        *out.mutable_status() = options_.status();
        next_status = now + options_.status_interval;
        have = true;
      } else if (in_flight < options_.window) {
        if (next_record == records.size() && now >= next_look) {
          auto got = spool_.Read(sent, options_.max_batch_events, options_.max_batch_bytes, {});
          if (!got) {
            reason = "spool: " + got.error().message;
            break;
          }
          records = std::move(*got);
          next_record = 0;
          // More in the spool than one batch took (by count or by bytes) is a backlog: the next
          // look is at once, once this batch is written.
          bool backlog =
              records.size() >= options_.max_batch_events ||
              (!records.empty() && spool_.Stats().next_sequence > records.back().sequence + 1);
          next_look = backlog           ? now
                      : records.empty() ? NextTick(now, options_.idle_wait, options_.tick_offset)
                                        : NextTick(now, options_.linger, options_.tick_offset);
        }
        if (next_record < records.size()) {
          std::size_t end = next_record + 1;
          while (end < records.size() && records[end].sequence == records[end - 1].sequence + 1)
            ++end;
          payload.clear();
          for (std::size_t i = next_record; i < end; ++i)
            AppendEventListEntry(payload, records[i].payload);
          out.Clear();
          auto* batch = out.mutable_batch();
          batch->set_first_sequence(records[next_record].sequence);
          batch->set_count(static_cast<std::uint32_t>(end - next_record));
          batch->set_raw_size(static_cast<std::uint32_t>(payload.size()));
          batch->set_events_zstd(ZstdCompress(payload, 1));
          sent = records[end - 1].sequence;
          next_record = end;
          if (next_record == records.size()) records.clear(), next_record = 0;
          in_flight++;
          if (options_.on_ack_overdue && ack_due == std::chrono::steady_clock::time_point::max())
            ack_due = now + options_.ack_grace;
          std::lock_guard lock(mutex_);
          stats_.batches_sent++;
          have = true;
        }
      }
      if (have) {
        stream->Write(out, Tag(kWrite));
        write_pending = true;
      }
    }
    // Sleep until an operation completes or the next timer: the tick, the status, the next look
    // at the spool (only when a batch could be written then), the command call's restart.
    auto deadline = now + options_.status_interval;  // while writing, the write's end wakes us
    if (!write_pending) {
      deadline = next_status;
      if (in_flight < options_.window) deadline = std::min(deadline, next_look);
    }
    deadline = std::min({deadline, next_tick, ack_due});
    if (!cmd && cmd_request) deadline = std::min(deadline, next_cmd_start);
    // (gRPC takes system_clock deadlines; the timers above are steady.)
    auto wait =
        std::clamp<std::chrono::steady_clock::duration>(deadline - now, {}, std::chrono::hours(1));
    void* tag = nullptr;
    bool ok = false;
    auto got = cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + wait);
    if (got == grpc::CompletionQueue::SHUTDOWN) break;
    if (got == grpc::CompletionQueue::TIMEOUT) continue;
    switch (op_done(tag)) {
      case kWrite:
        ended = !ok;  // the call is over; the read tells why
        break;
      case kRead:
        if (!ok) {
          server_closed = ended = true;
          break;
        }
        if (reply.has_ack()) {
          const auto& ack = reply.ack();
          std::uint64_t last = ack.first_sequence() + ack.count() - 1;
          if (ack.ok()) {
            (void)spool_.Ack(std::max<std::uint64_t>(ack.committed_sequence(), last));
            std::lock_guard lock(mutex_);
            stats_.events_acked += ack.count();
          } else {
            // The server could not decode the batch: resending cannot help. It is dropped and
            // counted on both sides.
            VLOG_ERROR("server rejected batch {}..{}: {}", ack.first_sequence(), last, ack.error());
            (void)spool_.Ack(last);
            std::lock_guard lock(mutex_);
            stats_.batches_rejected++;
            stats_.events_rejected += ack.count();
          }
          in_flight--;
          if (ack_due != std::chrono::steady_clock::time_point::max())
            ack_due = in_flight ? std::chrono::steady_clock::now() + options_.ack_grace
                                : std::chrono::steady_clock::time_point::max();
        }
        stream->Read(&reply, Tag(kRead));
        read_pending = true;
        break;
      case kCmdStart:
      case kCmdRead:
        if (!ok) {
          cmd->reader->Finish(&cmd->status, Tag(kCmdFinish));
          break;
        }
        if (tag == Tag(kCmdRead) && on_command) on_command(std::move(cmd->command));
        cmd->command.Clear();
        cmd->reader->Read(&cmd->command, Tag(kCmdRead));
        break;
      case kCmdFinish: {
        // The command call ended while the stream lives on: restarted on its own, with backoff.
        cmd_pending = false;
        auto ended_at = std::chrono::steady_clock::now();
        auto wait = cmd_backoff.Next(ended_at - cmd->started);
        VLOG_WARN("command channel to {}: {}; retrying in {} ms", options_.server,
                  cmd->status.ok() ? "closed by the server" : cmd->status.error_message(),
                  wait.count());
        next_cmd_start = ended_at + wait;
        cmd.reset();
        break;
      }
      default:
        break;
    }
  }
  auto status = finish(!server_closed);
  if (!running_) return "stopped";
  if (!status.ok()) return "stream ended: " + status.error_message();
  return reason == "stopped" ? "stream closed by server" : reason;
}

}  // namespace vigil::agent
