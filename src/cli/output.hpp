// Output of CLI results: aligned tables for people, JSON Lines for programs.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil::cli {

enum class Format { Table, Json };

// Prints rows (JSON objects with dotted keys) as a table with the given columns, cutting cells at
// max_width characters.
void PrintTable(std::ostream& out, const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows, std::size_t max_width = 80);
std::string Cell(const nlohmann::json& object, const std::string& key);

// One event as table cells: time, host, category, action, pid, ppid, process, sha256, detail.
// full keeps whole timestamps and hashes (for CSV).
std::vector<std::string> EventCells(const nlohmann::json& event, bool full);
const std::vector<std::string>& EventHeaders();

}  // namespace vigil::cli
