#include "cli/rules_test.hpp"

#include <filesystem>
#include <iostream>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "common/event_json.hpp"
#include "common/pki/pki.hpp"
#include "detect/engine.hpp"
#include "detect/rule.hpp"
#include "hunt/evtx_reader.hpp"
#include "hunt/windows_mapping.hpp"

namespace vigil::cli {
namespace {

// "sample" for sample rules, else "sequence" (the key `vigil hunt` uses for grouped events).
std::string live_kind(const detect::RuleSpec& spec) {
  return spec.query && std::holds_alternative<hunt::Sample>(spec.query->body) ? "sample"
                                                                              : "sequence";
}

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
  // The rule runs in the live engine, as on the server: sequences, samples, relationships and
  // the live pipes included, and refused with the same reason when it cannot run live.
  const std::filesystem::path rule_path(rule_file);
  const detect::RuleKind kind = detect::KindFromFileName(rule_path.filename().string());
  auto spec = detect::ParseRule(*rule_text, kind, rule_path.stem().string());
  if (!spec) {
    return fail(rule_file + (kind == detect::RuleKind::Eql ? ":" : ": ") + spec.error().message);
  }
  // An EQL file without a `// name:` line is shown by its path.
  const std::string title = spec->name == rule_path.stem().string() ? rule_file : spec->name;
  auto live = detect::CompileLive(*spec);
  if (!live) return fail(rule_file + ": " + live.error().message);
  detect::Engine engine;
  std::vector<detect::LiveRule> rules;
  rules.push_back(std::move(*live));
  engine.SetRules(std::move(rules));

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
    if (!parsed) return fail(events_file + ":" + parsed.error().message);  // FILE:LINE:COLUMN: why
    records = std::move(*parsed);
  }

  std::size_t matches = 0;
  std::vector<std::vector<std::string>> rows;
  std::vector<detect::EngineMatch> found;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& record = records[i];
    auto event = IsWindowsRecord(record) ? hunt::MapWindowsEvent(record) : EventFromJson(record);
    if (!event) {
      ++skipped;
      std::cerr << "vigil: " << events_file << ": record " << i + 1
                << " skipped: " << event.error().message << "\n";
      continue;
    }
    found.clear();
    engine.Evaluate(*event, found);
    for (const auto& match : found) {
      ++matches;
      nlohmann::ordered_json events = nlohmann::ordered_json::array();
      for (const auto& e : match.events) {
        auto json = EventToJson(e);
        if (!as_json) {
          rows.push_back({std::to_string(matches), Cell(json, "@timestamp"),
                          Cell(json, "host.name"), Cell(json, "event.category"),
                          Cell(json, "process.executable"), Cell(json, "process.command_line")});
        }
        events.push_back(std::move(json));
      }
      if (!as_json) continue;
      // One event per line, like `vigil hunt`; a sequence or sample as one object.
      if (events.size() == 1) {
        std::cout << events[0].dump() << "\n";
      } else {
        std::cout << nlohmann::ordered_json{{live_kind(*spec), std::move(events)}}.dump() << "\n";
      }
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
    PrintTable(std::cout, {"MATCH", "TIME", "HOST", "CATEGORY", "EXECUTABLE", "COMMAND LINE"}, rows,
               80);
    std::cout << title << ": " << matches << " match(es) in " << records.size() << " event(s)\n";
  }
  return 0;
}

}  // namespace vigil::cli
