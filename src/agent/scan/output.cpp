// Scan command output formats; see output.hpp.
#include "agent/scan/output.hpp"

#include <cstdio>

#include "agent/scan/finding_event.hpp"
#include "common/event_json.hpp"

namespace vigil::agent::scan {
namespace {

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string Human(std::uint64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0f kB", b / 1e3);
  return buf;
}

}  // namespace

nlohmann::ordered_json ScanEventJson(const v1::Event& e) {
  nlohmann::ordered_json out;
  if (e.event_action() == kActionMatch) {
    out["rule"] = e.yara_rule();
  } else {
    out["warning"] = e.event_action();
    out["message"] = e.error_message();
  }
  if (e.has_process_pid()) out["pid"] = e.process_pid();
  if (e.has_file_path()) out["file"] = e.file_path();
  const auto fields = EventToJson(e);
  for (auto it = fields.begin(); it != fields.end(); ++it) out[it.key()] = *it;
  return out;
}

void WriteEvent(const v1::Event& e, OutputFormat format, std::ostream& out, std::ostream& err) {
  if (format == OutputFormat::kJson) {
    out << ScanEventJson(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    return;
  }
  const std::string target =
      e.has_process_pid()
          ? "pid " + std::to_string(e.process_pid()) + " (" + e.process_executable() + ")" +
                (e.has_vigil_memory_address()
                     ? " " + e.vigil_memory_address() + " " + e.vigil_memory_permissions()
                     : "")
          : e.file_path();
  if (e.event_action() != kActionMatch) {
    err << "warning: " << target << ": " << e.error_message() << '\n';
    return;
  }
  out << e.yara_namespace() << ':' << e.yara_rule();
  if (e.yara_tags_size() > 0) out << " [" << Join(e.yara_tags(), ",") << ']';
  out << "  " << target;
  if (e.has_file_hash_sha256()) out << "  sha256=" << e.file_hash_sha256();
  if (e.yara_strings_size() > 0) out << "  " << Join(e.yara_strings(), " ");
  out << '\n';
}

std::string ProgressLine(const Progress& p) {
  std::string line;
  if (p.files_total > 0) {
    line = "files " + std::to_string(p.files_done) + "/" + std::to_string(p.files_total) +
           " (cached " + std::to_string(p.files_cached) + ")  " + Human(p.bytes_done) + "/" +
           Human(p.bytes_total);
  } else {
    line = "processes " + std::to_string(p.processes_done) + "/" +
           std::to_string(p.processes_total) + "  " + Human(p.bytes_done);
  }
  line += "  findings " + std::to_string(p.findings);
  if (p.errors) line += "  errors " + std::to_string(p.errors);
  if (p.timeouts) line += "  timeouts " + std::to_string(p.timeouts);
  if (p.eta) {
    const auto s = p.eta->count();
    line += "  eta " + (s >= 60 ? std::to_string(s / 60) + "m" : "") + std::to_string(s % 60) + "s";
  }
  return line;
}

}  // namespace vigil::agent::scan
