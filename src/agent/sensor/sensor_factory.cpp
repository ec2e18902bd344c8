// MakeSensor: see sensor_factory.hpp.
#include "agent/sensor/sensor_factory.hpp"

#include <utility>

#include "agent/sensor/ebpf_source.hpp"
#include "agent/sensor/proc_source.hpp"
#include "common/log.hpp"

namespace vigil::agent {
namespace {

Result<std::unique_ptr<EventSource>> TryEbpf(bool simulate_no_ebpf,
                                             const EbpfSourceOptions& options) {
  if (simulate_no_ebpf) return Fail("eBPF disabled (simulated kernel without eBPF)");
  return MakeEbpfSource(options);
}

}  // namespace

Result<SensorChoice> MakeSensor(std::string_view kind, bool simulate_no_ebpf,
                                const EbpfSourceOptions& ebpf_options) {
  if (kind == "proc") {
    auto proc = MakeProcSource(ProcSourceOptions{});
    if (!proc) return Fail(proc.error().message);
    return SensorChoice{std::move(*proc), "/proc connector (requested)"};
  }
  if (kind != "auto" && kind != "ebpf") {
    return Fail("unknown sensor kind '" + std::string(kind) + "' (auto, ebpf or proc)");
  }
  auto ebpf = TryEbpf(simulate_no_ebpf, ebpf_options);
  if (ebpf) {
    return SensorChoice{std::move(*ebpf),
                        kind == "ebpf" ? "eBPF sensor (requested)" : "eBPF sensor"};
  }
  if (kind == "ebpf") return Fail("eBPF sensor unavailable: " + ebpf.error().message);
  auto proc = MakeProcSource(ProcSourceOptions{});
  if (!proc) {
    return Fail("eBPF unavailable: " + ebpf.error().message +
                "; /proc connector unavailable: " + proc.error().message);
  }
  std::string note = "eBPF unavailable: " + ebpf.error().message + "; using the /proc connector";
  VLOG_WARN("sensor: {}", note);
  return SensorChoice{std::move(*proc), std::move(note)};
}

}  // namespace vigil::agent
