// One interface for every source of events on the agent: the eBPF sensor, the /proc + netlink
// process connector fallback, and replay of a recorded JSONL file. Sources decode raw records into
// schema events; enrichment (entity ids, hashes, user names) happens once, after the source.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/schema.hpp"

namespace vigil::agent {

using EventSink = std::function<void(v1::Event&&)>;

struct SourceCounters {
  std::uint64_t events = 0;
  std::uint64_t dropped = 0;       // lost before decoding (kernel buffer overruns)
  std::uint64_t parse_errors = 0;  // records that could not be decoded
  std::uint64_t wakeups = 0;       // times the kernel side woke the reader (ebpf)
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual std::string_view Kind() const = 0;  // "ebpf", "proc", "replay"
  // What the hosts list shows: the kind, with what this source leaves out when it runs reduced.
  virtual std::string Description() const { return std::string(Kind()); }
  // Starts delivering events to sink from the source's own thread. sink must be thread-safe.
  virtual Result<void> Start(EventSink sink) = 0;
  // Stops and joins the source's thread; no sink call happens after it returns.
  virtual void Stop() = 0;
  virtual SourceCounters Counters() const = 0;
  // A source that delivers events in groups (each drain of a kernel buffer) calls `end` after
  // every group, from its thread, so that the sink may hold events back and write a group at once.
  // Returns false when the source does not (the sink must then handle each event completely).
  // Call before Start().
  virtual bool SetBatchEnd(std::function<void()> end) {
    (void)end;
    return false;
  }
  // True once a finite source (replay) has delivered everything it will; live sources never finish.
  virtual bool Done() const { return false; }
  // Stops (true) or restarts (false) collection where it starts, in the kernel: while paused, the
  // host runs as if there were no sensor, and what happens meanwhile is not seen. For measuring
  // what the sensor costs other programs (vigil-agent run --pause-signals, bench/sensor/). Sources
  // that cannot pause say so.
  virtual Result<void> SetPaused(bool paused) {
    (void)paused;
    return Fail(std::string(Kind()) + " sensor: cannot pause");
  }
};

}  // namespace vigil::agent
