// Windows / Sysmon events mapped to the Vigil schema: the one table of Sysmon and Windows Security
// field names → schema fields per event type, the conversion of an event record (the JSON shape of
// evtx_dump / the Sigma regression samples) into a v1::Event, and the lookups the Sigma compiler
// uses to resolve Sigma field names (which are the Sysmon names). See docs/detection.md.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"

namespace vigil::hunt {

// The kinds of Windows events with a schema mapping.
enum class WindowsKind : std::uint8_t {
  Process,
  Network,
  File,
  Dns,
  Registry,
  Authentication,
  Other
};

// Sysmon 1 / Security 4688 → Process, 3 → Network, 11/23/26 → File, 22 → Dns, 12/13/14 →
// Registry; Security 4624 / 4625 / 4648 (logon, failed logon, explicit credentials) →
// Authentication; everything else Other.
WindowsKind KindOf(std::string_view provider, int event_id);

// The schema field a Windows field name maps to for the kind (nullptr: kept in extra under its
// own name). A mapped field is stored in the schema field only when the event's category carries
// it (registry events outside autostart locations are `other`: everything in extra).
const schema::FieldDef* MappedField(WindowsKind kind, std::string_view windows_name);

// Windows fields whose value is transformed when mapped (Hashes → sha256, QueryResults → lists):
// their raw value is kept in extra under the Windows name too, and Sigma matches the raw value.
// Authentication events keep every field raw in extra as well (Sigma's Security rules match the
// Windows names and values, such as IpAddress "-"), besides the schema fields they map to.
bool KeepsRawValue(std::string_view windows_name);
bool KeepsRawValues(WindowsKind kind);

// True when the registry key (TargetObject) is an autostart location (Run/RunOnce, services,
// Winlogon, ...): such events are `persistence`, other registry events `other`.
bool IsAutostartKey(std::string_view key);

// One record ({"Event": {"System": ..., "EventData": ...}} or the inner object) → an event:
// host.id/host.name = Computer, @timestamp = TimeCreated, event.dataset sysmon / windows.security
// / windows.<channel>, extra EventID, Channel, Provider and every unmapped field.
Result<v1::Event> MapWindowsEvent(const nlohmann::json& record);

// Every record of a file's text: one JSON value, an array, or concatenated / line-separated values.
// Bad JSON is an error "LINE:COLUMN: bad JSON: why", placed in the whole text.
Result<std::vector<nlohmann::json>> ParseWindowsRecords(std::string_view text);

}  // namespace vigil::hunt
