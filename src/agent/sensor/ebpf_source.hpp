// The eBPF sensor: CO-RE tp_btf programs (bpf/sensor.bpf.c) that report process exec/fork/exit,
// TCP connect/accept, UDP flows, DNS messages, file changes and kernel module loads through one BPF
// ring buffer, decoded here into schema events. The default event source; see docs/sensor.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/sensor/event_source.hpp"
#include "common/error.hpp"

namespace vigil::agent {

struct EbpfSourceOptions {
  bool snapshot_at_start = true;      // snapshot events of running processes (from /proc) first
  bool persistence_inventory = true;  // persistence "inventory" events at start
  std::size_t ring_bytes = 8u << 20;  // BPF ring buffer size (a power of two, >= page size)
  // Records are read when this many bytes are waiting or every poll_interval, whichever first.
  // Each read is a wake-up of the agent's threads (source, then the uplink's batch), which costs
  // more here than the events of a trickle do. The timed reads are on the tick grid
  // (common/tick.hpp) at offset 0; the agent sets the uplink's send interval here, so that its
  // looks at the spool come right after the reads.
  std::size_t wakeup_bytes = 64u << 10;
  std::chrono::milliseconds poll_interval{250};
  // File events only for paths starting with one of these (in-kernel LPM filter on the first 64
  // bytes). Empty: every path.
  std::vector<std::string> file_prefixes = DefaultFilePrefixes();
  // Peers in these ranges are internal (vigil.destination.external = false).
  std::vector<std::string> internal_cidrs = DefaultInternalCidrs();
  // One UDP flow event per process and destination per window.
  std::chrono::seconds udp_window{60};
  // The process whose activity is not reported; 0 means this process (the agent).
  pid_t exclude_pid = 0;
  // Processes the kernel side keeps state for (what each one's last record reported, a held
  // fork): ~250 bytes of kernel memory each. A full map forgets the least recently used process,
  // whose next record then carries its paths again. Tests shrink it to exercise that.
  std::uint32_t process_entries = 8192;
  // A fork record is held this long for the child's exec, which then stands for both (one event
  // per fork + exec instead of two); a child that reports anything else, exits, or does not exec
  // within it has its fork event sent then (held_forks.hpp). 0: every fork is an event at once.
  std::chrono::milliseconds fork_hold{1000};
  // DNS and UDP events from the socket layer's tracepoints (sock:sock_send_length and
  // sock_recv_length, kernels 6.3+: every send and receive whatever the syscall, and no syscall
  // hook) where the kernel has them; false, or an older kernel: from the send and receive syscalls,
  // hooked as syscall_hooks says.
  bool socket_tracepoints = true;
  // How the syscalls behind file, accept and module events (and DNS and UDP without the socket
  // layer's tracepoints) are hooked. kTracepoints:
  // per-syscall exit tracepoints (syscalls/sys_exit_X), so only those syscalls run a program;
  // libbpf attaches them through tracefs, which is mounted at /sys/kernel/tracing when absent.
  // kRaw: the raw sys_exit tracepoint, a program on every syscall of the host. Either way the
  // arguments come from the task's saved registers at exit: nothing runs at a syscall's enter.
  // kAuto (the default): tracepoints, else (no tracefs, attach refused) raw. An exec storm pays
  // 23-25 us per exec for the raw programs, 2-3 us for the tracepoints (bench/BENCHMARKS.md,
  // quiet runs of session 8); but a syscall this kernel does not implement has no tracepoint (here
  // init_module/finit_module: no module support), so its attempts are seen only by kRaw. kNone:
  // no syscall is hooked (no file, accept or module events; DNS and UDP only from the socket
  // layer), for hosts where no syscall may take the traced slow path.
  enum class SyscallHooks { kAuto, kTracepoints, kRaw, kNone };
  SyscallHooks syscall_hooks = SyscallHooks::kAuto;

  static std::vector<std::string> DefaultFilePrefixes();
  static std::vector<std::string> DefaultInternalCidrs();
};

// Kind() == "ebpf". Loads, verifies and attaches the programs; fails (with the libbpf reason)
// when the kernel or the process cannot run them.
Result<std::unique_ptr<EventSource>> MakeEbpfSource(const EbpfSourceOptions& options);

// Whether this kernel has sock:sock_send_length and sock_recv_length (6.3+), the source of DNS and
// UDP events when EbpfSourceOptions::socket_tracepoints.
bool KernelHasSocketLayerTracepoints();

// "auto", "tracepoint" or "raw" (the agent's --syscall-hooks).
Result<EbpfSourceOptions::SyscallHooks> ParseSyscallHooks(std::string_view text);

}  // namespace vigil::agent
