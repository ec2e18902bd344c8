// Import of foreign telemetry into the store: Windows event records (Sysmon, Security; .evtx files
// or the JSON shape of evtx_dump) mapped to the schema, or Vigil's own JSON Lines events. Each
// imported Windows file becomes a host (its Computer). Reports counts per event type and every skip
// with why.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "server/store/host_directory.hpp"
#include "server/store/store.hpp"

namespace vigil::server {

struct ImportReport {
  std::uint64_t records = 0;
  std::uint64_t imported = 0;
  std::uint64_t skipped = 0;
  std::map<std::string, std::uint64_t> by_type;  // "process/exec", "other/sysmon-5", ...
  std::vector<std::string> reasons;              // the first skips: "record 12: why"
};

inline constexpr std::size_t kMaxImportReasons = 100;

// Parses text (one JSON value, an array, or one value per line), maps every record and appends
// them to the store (unsequenced batches: never deduplicated). A record that cannot be mapped is
// skipped and reported; a text that is not JSON at all is an error. hosts (if given) records the
// hosts of the stored events as imported ("import:json"), so the hosts list shows them.
Result<ImportReport> ImportRecords(store::Store& store, std::string_view text,
                                   store::HostDirectory* hosts = nullptr);

// An .evtx file's bytes: every readable record is mapped and appended; a damaged record is
// counted as skipped with its record number, file offset and libevtx's reason. An error only when
// the bytes are not an EVTX file or its header is unreadable. `recovered`: also the records
// libevtx recovers outside the allocated ones (hunt::ReadEvtxFile). Hosts as "import:evtx".
Result<ImportReport> ImportEvtx(store::Store& store, std::string_view bytes, bool recovered = false,
                                store::HostDirectory* hosts = nullptr);

// Maps and appends already parsed records, adding to report (record numbers count from
// report.records); the hosts of every stored batch go to hosts (if given) under source.
Result<void> ImportParsed(store::Store& store, const std::vector<nlohmann::json>& records,
                          ImportReport& report, std::string_view source = "import:json",
                          store::HostDirectory* hosts = nullptr);

}  // namespace vigil::server
