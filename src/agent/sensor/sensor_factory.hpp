// Chooses the agent's event source: the eBPF sensor, or the /proc connector when eBPF cannot run
// (`vigil-agent --sensor auto|ebpf|proc`). See docs/sensor.md, "Choosing the sensor".
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "agent/sensor/ebpf_source.hpp"
#include "agent/sensor/event_source.hpp"
#include "common/error.hpp"

namespace vigil::agent {

struct SensorChoice {
  std::unique_ptr<EventSource> source;
  std::string note;  // why this source runs, for logs and the hosts list
};

// kind: "auto" (eBPF, else /proc with a note saying why), "ebpf" (fails when it cannot load),
// "proc". simulate_no_ebpf makes the eBPF attempt fail as on a kernel without eBPF. `ebpf`: the
// eBPF sensor's options.
Result<SensorChoice> MakeSensor(std::string_view kind, bool simulate_no_ebpf = false,
                                const EbpfSourceOptions& ebpf = {});

}  // namespace vigil::agent
