// Windows .evtx files (binary XML event logs) read with libevtx into the record form the Windows
// mapping takes (the JSON shape of evtx_dump: {"Event": {"System": ..., "EventData": {Name:
// value}}}), so `vigil import evtx`, POST /api/import with an .evtx body and `vigil rules test
// --events X.evtx` share one reader. Damaged files keep their good records: a record libevtx cannot
// read, or whose XML is broken, is reported (record number, file offset, why) and skipped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace vigil::hunt {

struct EvtxContents {
  std::vector<nlohmann::json> records;  // readable records, in file order (then recovered ones)
  std::uint64_t total = 0;              // allocated records the file holds
  std::uint64_t recovered = 0;          // recovered records read (not duplicates; when asked)
  std::vector<std::string> errors;      // "record 12 (offset 0x11200): why", at most kMaxEvtxErrors
  std::uint64_t error_count = 0;        // every unreadable record, even past kMaxEvtxErrors
  bool corrupted = false;               // libevtx flagged the file as corrupted
};

inline constexpr std::size_t kMaxEvtxErrors = 100;

// True when the bytes start with the EVTX file signature ("ElfFile\0").
bool LooksLikeEvtx(std::string_view bytes);

// Reads every record of an .evtx file. An error only when the file is not an EVTX file or cannot
// be opened at all (its header is damaged); otherwise damaged records are listed in `errors`.
// With `recovered`, also the records libevtx finds outside the allocated ones (free space, and
// chunks whose checksum fails) that are not duplicates of an allocated record; such leftovers are
// often records a log was filtered of, so they are off by default (as in evtxexport). Recovered
// fragments that cannot be read are not errors (free space holds partial records).
Result<EvtxContents> ReadEvtxFile(const std::filesystem::path& path, bool recovered = false);

// The same for a file's bytes in memory (an upload).
Result<EvtxContents> ReadEvtxBytes(std::string_view bytes, bool recovered = false);

// One record's XML (libevtx's rendering) → the evtx_dump JSON shape. Errors name the byte offset.
Result<nlohmann::json> EvtxXmlToJson(std::string_view xml);

}  // namespace vigil::hunt
