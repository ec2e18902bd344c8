#include "cli/output.hpp"

#include <algorithm>
#include <ostream>

namespace vigil::cli {

std::string Cell(const nlohmann::json& object, const std::string& key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string out;
    for (const auto& v : *it)
      out += (out.empty() ? "" : ",") + (v.is_string() ? v.get<std::string>() : v.dump());
    return out;
  }
  return it->dump();
}

void PrintTable(std::ostream& out, const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows, std::size_t max_width) {
  std::vector<std::size_t> width(headers.size());
  auto cut = [&](const std::string& s) {
    return s.size() > max_width ? s.substr(0, max_width - 1) + "~" : s;
  };
  for (std::size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], cut(row[i]).size());
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      std::string c = cut(cells[i]);
      out << c;
      if (i + 1 < cells.size()) out << std::string(width[i] - c.size() + 2, ' ');
    }
    out << '\n';
  };
  line(headers);
  for (const auto& row : rows) line(row);
}

// The most telling detail of an event, per category, for the table view.
static std::string Detail(const nlohmann::json& e) {
  for (const char* key :
       {"process.command_line", "dns.question.name", "file.path", "yara.rule", "rule.name"}) {
    auto v = Cell(e, key);
    if (!v.empty()) {
      if (std::string(key) == "file.path" && !Cell(e, "file.target_path").empty())
        v += " -> " + Cell(e, "file.target_path");
      return v;
    }
  }
  if (!Cell(e, "destination.ip").empty())
    return Cell(e, "source.ip") + ":" + Cell(e, "source.port") + " -> " +
           Cell(e, "destination.ip") + ":" + Cell(e, "destination.port");
  return "";
}

std::vector<std::string> EventCells(const nlohmann::json& e, bool full) {
  std::string sha = Cell(e, "process.hash.sha256");
  return {Cell(e, "@timestamp").substr(0, full ? std::string::npos : 23),
          Cell(e, "host.name"),
          Cell(e, "event.category"),
          Cell(e, "event.action"),
          Cell(e, "process.pid"),
          Cell(e, "process.parent.pid"),
          Cell(e, "process.name"),
          full ? sha : sha.substr(0, 12),
          Detail(e)};
}

const std::vector<std::string>& EventHeaders() {
  static const std::vector<std::string> headers{"TIME", "HOST",    "CATEGORY", "ACTION", "PID",
                                                "PPID", "PROCESS", "SHA256",   "DETAIL"};
  return headers;
}

}  // namespace vigil::cli
