#include "cli/rules_test.hpp"

#include <filesystem>
#include <iostream>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "common/event_json.hpp"
#include "common/pki/pki.hpp"
#include "hunt/evtx_reader.hpp"
#include "hunt/hunt.hpp"
#include "hunt/matcher.hpp"
#include "hunt/sigma/sigma.hpp"
#include "hunt/windows_mapping.hpp"

namespace vigil::cli {
namespace {

bool IsWindowsRecord(const nlohmann::json& record) {
  return record.is_object() && (record.contains("Event") || record.contains("System"));
}

}  // namespace

int RulesTest(const std::string& rule_file, const std::string& events_file, bool as_json) {
  auto fail = [](const std::string& message, int code = 2) {
    std::cerr << "vigil: " << message << "\n";
    return code;
  };
  auto rule_text = pki::ReadFile(rule_file);
  if (!rule_text) return fail(rule_text.error().message);
  const std::string ext = std::filesystem::path(rule_file).extension().string();
  hunt::Query query;
  std::string title = rule_file;
  if (ext == ".yml" || ext == ".yaml") {
    auto rule = hunt::sigma::Compile(*rule_text);
    if (!rule) return fail(rule_file + ": " + rule.error().message);
    title = rule->title.empty() ? rule->id : rule->title;
    query = std::move(rule->query);
  } else {
    auto parsed = hunt::Parse(*rule_text);
    if (!parsed) return fail(rule_file + ":" + parsed.error().message);
    query = std::move(*parsed);
  }
  auto matcher = hunt::Matcher::Compile(query);
  if (!matcher) return fail(rule_file + ": " + matcher.error().message);

  std::vector<nlohmann::json> records;
  std::size_t skipped = 0;
  if (std::filesystem::path(events_file).extension() == ".evtx") {
    auto contents = hunt::ReadEvtxFile(events_file);
    if (!contents) return fail(events_file + ": " + contents.error().message);
    for (const auto& e : contents->errors)
      std::cerr << "vigil: " << events_file << ": " << e << " (skipped)\n";
    skipped = contents->error_count;
    records = std::move(contents->records);
  } else {
    auto text = pki::ReadFile(events_file);
    if (!text) return fail(text.error().message);
    auto parsed = hunt::ParseWindowsRecords(*text);
    if (!parsed) return fail(events_file + ": " + parsed.error().message);
    records = std::move(*parsed);
  }

  std::size_t matches = 0;
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& record = records[i];
    auto event = IsWindowsRecord(record) ? hunt::MapWindowsEvent(record) : EventFromJson(record);
    if (!event) {
      ++skipped;
      std::cerr << "vigil: " << events_file << ": record " << i + 1
                << " skipped: " << event.error().message << "\n";
      continue;
    }
    if (!matcher->Matches(*event)) continue;
    ++matches;
    auto json = EventToJson(*event);
    if (as_json) {
      std::cout << json.dump() << "\n";
    } else {
      rows.push_back({Cell(json, "@timestamp"), Cell(json, "host.name"),
                      Cell(json, "event.category"), Cell(json, "process.executable"),
                      Cell(json, "process.command_line")});
    }
  }
  if (as_json) {
    std::cout << nlohmann::json{{"rule", title},
                                {"matches", matches},
                                {"events", records.size()},
                                {"skipped", skipped}}
                     .dump()
              << "\n";
  } else {
    PrintTable(std::cout, {"TIME", "HOST", "CATEGORY", "EXECUTABLE", "COMMAND LINE"}, rows, 80);
    std::cout << title << ": " << matches << " match(es) in " << records.size() << " event(s)\n";
  }
  return 0;
}

}  // namespace vigil::cli
