// process.entity_id: one id per process lifetime across the fleet. A pid is reused; (host, boot,
// pid, start time) is not. The id is the start time (10 hex digits of clock ticks since boot, so
// ids sort by process start on a host) followed by 22 hex digits of a hash of all four.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil {

// start_ticks: the process start time as the kernel reports it (clock ticks since boot, field 22 of
// /proc/PID/stat, or the eBPF sensor's converted value) — the same on every observation of it.
std::string ProcessEntityId(std::string_view host_id, std::string_view boot_id, std::int64_t pid,
                            std::uint64_t start_ticks);

}  // namespace vigil
