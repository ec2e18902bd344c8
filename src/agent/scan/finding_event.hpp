// Scan findings and scan warnings as events (category "scan") of the one schema: file findings
// carry file.*, memory findings process.* and vigil.memory.*, both yara.* and vigil.scan.*.
// Hash sweep findings carry file.* and vigil.scan.ioc (extra). Warnings (timeouts, unreadable
// items) are finding-less events with event.action and error.message.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/scan/yara_match.hpp"
#include "common/schema.hpp"

namespace vigil::agent::scan {

// Fields shared by every event of one scan.
struct ScanContext {
  std::string scan_id;
  std::string rules_version;
  std::string host_id;
  std::string host_name;
  std::string boot_id;
};

struct ProcessInfo {
  pid_t pid = 0;
  std::string entity_id;
  std::string executable;
  std::string name;
};

struct RegionInfo {
  std::uint64_t start = 0;
  std::uint64_t size = 0;
  std::string permissions;
  bool file_backed = false;
  std::string path;  // mapped file ("/x (deleted)", "/memfd:name (deleted)") when file-backed
};

inline constexpr std::string_view kActionMatch = "yara_match";
inline constexpr std::string_view kActionTimeout = "scan_timeout";
inline constexpr std::string_view kActionError = "scan_error";
inline constexpr std::string_view kActionHashMatch = "hash_match";  // a hash sweep's finding
// Sweep fields not (yet) in src/common/schema/events.toml: they travel in the event's extra map.
inline constexpr std::string_view kExtraIoc = "vigil.scan.ioc";
inline constexpr std::string_view kExtraFilesCached = "vigil.scan.files_cached";
inline constexpr std::string_view kExtraFilesHashed = "vigil.scan.files_hashed";

v1::Event FileFinding(const ScanContext& ctx, const RuleMatch& match, const std::string& path,
                      std::uint64_t size, const std::string& sha256);
v1::Event MemoryFinding(const ScanContext& ctx, const RuleMatch& match, const ProcessInfo& process,
                        const std::optional<RegionInfo>& region);
// A file whose SHA-256 is on a hash sweep's list (extra vigil.scan.ioc = "sha256:HEX").
v1::Event HashFinding(const ScanContext& ctx, const std::string& path, std::uint64_t size,
                      const std::string& sha256);
// action: kActionTimeout or kActionError.
v1::Event FileWarning(const ScanContext& ctx, std::string_view action, const std::string& path,
                      std::uint64_t size, const std::string& message);
v1::Event ProcessWarning(const ScanContext& ctx, std::string_view action,
                         const ProcessInfo& process, const std::string& message);

}  // namespace vigil::agent::scan
