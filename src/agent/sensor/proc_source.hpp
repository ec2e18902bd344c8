// The non-eBPF process event source: the kernel's netlink process connector (exec, fork, exit)
// plus /proc/PID reads for the details, and a snapshot of the processes already running at start.
// It is the fallback when the eBPF sensor cannot load. See docs/sensor.md.
#pragma once

#include <memory>

#include "agent/sensor/event_source.hpp"
#include "common/error.hpp"

namespace vigil::agent {

struct ProcSourceOptions {
  bool snapshot_at_start = true;  // one "snapshot" event per running process, parents first
};

// Extra-map keys through which the source hands raw start ticks to the enricher (which removes
// them).
inline constexpr const char* kStartTicksKey = "vigil.process.start_ticks";
inline constexpr const char* kParentStartTicksKey = "vigil.process.parent.start_ticks";
// The executable's identity from the exec itself, "dev:ino:size:mtime_ns:ctime_ns" (stat(2)'s
// dev_t): the enricher keys its hash cache with it without touching /proc (and removes it).
inline constexpr const char* kExeIdKey = "vigil.process.exe_id";

// Kind() == "proc". Start() fails when the connector cannot be opened (needs CAP_NET_ADMIN).
Result<std::unique_ptr<EventSource>> MakeProcSource(const ProcSourceOptions& options);

}  // namespace vigil::agent
