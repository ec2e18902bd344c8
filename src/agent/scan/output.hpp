// Output of the one-shot scan command: JSON lines (one event per line, the ECS fields of the
// event plus short keys `rule`, `file` or `pid`, and `warning` for finding-less warnings) or a
// human table (findings on stdout, warnings on stderr).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "agent/scan/progress.hpp"
#include "common/schema.hpp"

namespace vigil::agent::scan {

enum class OutputFormat { kTable, kJson };

nlohmann::ordered_json ScanEventJson(const v1::Event& event);
void WriteEvent(const v1::Event& event, OutputFormat format, std::ostream& out, std::ostream& err);
// One line "files 120/4000 bytes 1.2/80.0 GB ... eta 3m20s" for progress on a terminal.
std::string ProgressLine(const Progress& p);

}  // namespace vigil::agent::scan
