// /proc-based process descriptions shared by the event sources: the fields of one process read
// from /proc/PID (exec and snapshot events of the proc source, snapshot events of the eBPF
// source), and the ordered snapshot of the processes running at start.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>

#include "agent/sensor/procfs.hpp"
#include "common/schema.hpp"

namespace vigil::agent {

// Everything /proc/PID tells about a process. A process that is already gone yields a partial
// event, never an error. known_stat avoids a second read of /proc/PID/stat.
void FillFromProc(v1::Event& e, pid_t pid, const procfs::Stat* known_stat = nullptr);

// Calls emit with one filled event (category process, type info, action snapshot, the given
// dataset) per running user-space process, parents before children; stops early when
// stop_requested() turns true (checked every 256 processes). Returns the number emitted.
std::size_t SnapshotProcesses(const char* dataset, const std::function<void(v1::Event&&)>& emit,
                              const std::function<bool()>& stop_requested);

}  // namespace vigil::agent
