// Building scan events; see finding_event.hpp.
#include "agent/scan/finding_event.hpp"

#include <cstdio>

#include "common/time.hpp"

namespace vigil::agent::scan {
namespace {

v1::Event Base(const ScanContext& ctx, std::string_view action) {
  v1::Event e;
  e.set_timestamp(NowNs());
  e.set_event_category("scan");
  e.set_event_type("info");
  e.set_event_action(std::string(action));
  e.set_event_outcome(action == kActionMatch || action == kActionHashMatch ? "success" : "failure");
  if (!ctx.host_id.empty()) e.set_host_id(ctx.host_id);
  if (!ctx.host_name.empty()) e.set_host_name(ctx.host_name);
  if (!ctx.scan_id.empty()) e.set_vigil_scan_id(ctx.scan_id);
  if (!ctx.rules_version.empty()) e.set_vigil_scan_rules_version(ctx.rules_version);
  return e;
}

void SetMatch(v1::Event& e, const RuleMatch& m) {
  e.set_yara_rule(m.rule);
  e.set_yara_namespace(m.name_space);
  for (const auto& t : m.tags) e.add_yara_tags(t);
  for (const auto& s : m.strings) e.add_yara_strings(s);
}

void SetFile(v1::Event& e, const std::string& path, std::uint64_t size) {
  e.set_file_path(path);
  const auto slash = path.rfind('/');
  e.set_file_name(slash == std::string::npos ? path : path.substr(slash + 1));
  e.set_file_size(static_cast<std::int64_t>(size));
}

void SetProcess(v1::Event& e, const ProcessInfo& p) {
  e.set_process_pid(p.pid);
  if (!p.entity_id.empty()) e.set_process_entity_id(p.entity_id);
  if (!p.executable.empty()) e.set_process_executable(p.executable);
  if (!p.name.empty()) e.set_process_name(p.name);
}

}  // namespace

v1::Event FileFinding(const ScanContext& ctx, const RuleMatch& match, const std::string& path,
                      std::uint64_t size, const std::string& sha256) {
  auto e = Base(ctx, kActionMatch);
  SetMatch(e, match);
  SetFile(e, path, size);
  if (!sha256.empty()) e.set_file_hash_sha256(sha256);
  return e;
}

v1::Event MemoryFinding(const ScanContext& ctx, const RuleMatch& match, const ProcessInfo& process,
                        const std::optional<RegionInfo>& region) {
  auto e = Base(ctx, kActionMatch);
  SetMatch(e, match);
  SetProcess(e, process);
  if (region) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(region->start));
    e.set_vigil_memory_address(buf);
    e.set_vigil_memory_size(static_cast<std::int64_t>(region->size));
    e.set_vigil_memory_permissions(region->permissions);
    e.set_vigil_memory_file_backed(region->file_backed);
    if (region->file_backed && !region->path.empty()) e.set_file_path(region->path);
  }
  return e;
}

v1::Event HashFinding(const ScanContext& ctx, const std::string& path, std::uint64_t size,
                      const std::string& sha256) {
  auto e = Base(ctx, kActionHashMatch);
  SetFile(e, path, size);
  e.set_file_hash_sha256(sha256);
  (*e.mutable_extra())[std::string(kExtraIoc)] = "sha256:" + sha256;
  return e;
}

v1::Event FileWarning(const ScanContext& ctx, std::string_view action, const std::string& path,
                      std::uint64_t size, const std::string& message) {
  auto e = Base(ctx, action);
  SetFile(e, path, size);
  e.set_error_message(message);
  return e;
}

v1::Event ProcessWarning(const ScanContext& ctx, std::string_view action,
                         const ProcessInfo& process, const std::string& message) {
  auto e = Base(ctx, action);
  SetProcess(e, process);
  e.set_error_message(message);
  return e;
}

}  // namespace vigil::agent::scan
