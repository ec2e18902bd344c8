// vigil rules: the server's rule registry (add FILE|DIR..., list, show, enable, disable), a stored
// rule's retro-hunt (hunt ID --since 30d) and the offline `rules test` (rules_test.cpp).
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/command.hpp"
#include "cli/rules_test.hpp"
#include "common/pki/pki.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;

bool IsRuleFile(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".eql" || ext == ".yml" || ext == ".yaml";
}

// Every rule file under the arguments (directories recursively, sorted); a named file is taken
// whatever its extension.
Result<std::vector<fs::path>> CollectRuleFiles(const std::vector<std::string>& args) {
  std::vector<fs::path> files;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(a, ec); !ec && it != fs::end(it);
           it.increment(ec))
        if (it->is_regular_file(ec) && IsRuleFile(it->path())) found.push_back(it->path());
      if (ec) return Fail(a + ": " + ec.message());
      std::ranges::sort(found);
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(a, ec)) {
      files.emplace_back(a);
    } else {
      return Fail(a + ": no such file or directory");
    }
  }
  return files;
}

int Add(const Connection& c, const std::vector<std::string>& paths, bool as_json) {
  auto files = CollectRuleFiles(paths);
  if (!files) return std::cerr << "vigil: " << files.error().message << "\n", 2;
  if (files->empty()) return std::cerr << "vigil: no rule files (.eql, .yml, .yaml) found\n", 2;
  std::size_t added = 0, updated = 0, unchanged = 0, failed = 0;
  for (const auto& f : *files) {
    auto text = pki::ReadFile(f);
    json result{{"file", f.string()}};
    if (!text) {
      result["error"] = text.error().message;
    } else {
      auto reply =
          Request(c, "POST", "/api/rules", json{{"source", *text}, {"file", f.string()}}.dump(),
                  "application/json");
      if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
      if (reply->status != 200) {
        result["error"] = ErrorText(*reply);
      } else {
        auto body = json::parse(reply->body);
        result.update(body);
      }
    }
    if (result.contains("error")) {
      ++failed;
    } else {
      const auto outcome = result.value("outcome", "");
      (outcome == "added" ? added : outcome == "updated" ? updated : unchanged)++;
    }
    if (as_json) {
      std::cout << result.dump() << "\n";
    } else if (result.contains("error")) {
      // The server's message already starts with the file name and, for EQL, LINE:COL.
      std::cout << "error  " << result["error"].get<std::string>() << "\n";
    } else {
      std::cout << result.value("outcome", "") << "  " << f.string() << " -> "
                << result.value("id", "") << " (v" << result.value("version", 0) << ")\n";
    }
  }
  if (!as_json)
    std::cout << files->size() << " file(s): " << added << " added, " << updated << " updated, "
              << unchanged << " unchanged, " << failed << " failed\n";
  return failed ? 1 : 0;
}

int List(const Connection& c, bool as_json) {
  auto reply = Request(c, "GET", "/api/rules");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  auto rules = json::parse(reply->body);
  if (as_json) {
    for (const auto& r : rules) std::cout << r.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : rules)
    rows.push_back({Cell(r, "id"), r.value("enabled", false) ? "yes" : "no", Cell(r, "kind"),
                    Cell(r, "severity"), "v" + Cell(r, "version"), Cell(r, "name")});
  PrintTable(std::cout, {"ID", "ENABLED", "KIND", "SEVERITY", "VERSION", "NAME"}, rows, 72);
  return 0;
}

int Show(const Connection& c, const std::string& id, bool as_json) {
  auto reply = Request(c, "GET", "/api/rules/" + id);
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  auto r = json::parse(reply->body);
  if (as_json) return std::cout << r.dump() << "\n", 0;
  for (const char* key : {"id", "name", "kind", "enabled", "severity", "tags", "description",
                          "origin", "version", "created", "updated"})
    std::cout << key << ": " << Cell(r, key) << "\n";
  std::cout << "---\n"
            << r.value("source", "") << (r.value("source", "").ends_with('\n') ? "" : "\n");
  return 0;
}

int SetEnabled(const Connection& c, const std::string& id, bool enable) {
  auto reply = Request(c, "POST", "/api/rules/" + id + (enable ? "/enable" : "/disable"), "{}",
                       "application/json");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  std::cout << (enable ? "enabled " : "disabled ") << id << "\n";
  return 0;
}

struct HuntArgs {
  std::string id, since = "30d", until, host, format = "table";
  std::size_t limit = 1000;
};

int Hunt(const Connection& c, const HuntArgs& a) {
  json body{{"since", a.since}, {"limit", a.limit}};
  if (!a.until.empty()) body["until"] = a.until;
  if (!a.host.empty()) body["host"] = a.host;
  auto reply = Request(c, "POST", "/api/rules/" + a.id + "/hunt", body.dump(), "application/json");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  std::istringstream lines(reply->body);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  std::size_t matches = 0;
  bool truncated = false;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    auto row = json::parse(line);
    if (row.contains("error"))
      return std::cerr << "vigil: " << row["error"].get<std::string>() << "\n", 1;
    if (row.contains("truncated")) {
      truncated = true;
      continue;
    }
    ++matches;
    if (a.format == "json") {
      std::cout << row.dump() << "\n";
      continue;
    }
    if (row.contains("sequence")) {
      for (const auto& e : row["sequence"]) rows.push_back(EventCells(e, false));
      rows.push_back(std::vector<std::string>(EventHeaders().size(), ""));
    } else {
      rows.push_back(EventCells(row, false));
    }
  }
  if (a.format == "json") return 0;
  PrintTable(std::cout, EventHeaders(), rows);
  std::cout << a.id << ": " << matches << " match(es)" << (truncated ? " (truncated)" : "") << "\n";
  return 0;
}

}  // namespace

void RegisterRulesCommands(CLI::App& app, CliContext& ctx) {
  auto* rules =
      app.add_subcommand("rules", "Detection rules: the server's registry, offline tests");
  rules->require_subcommand(1);

  struct AddArgs {
    std::vector<std::string> paths;
    std::string format = "table";
  };
  auto add_args = std::make_shared<AddArgs>();
  auto* add = rules->add_subcommand(
      "add",
      "Add or update rules on the server: EQL (.eql, metadata in `// id:`, `// name:`, "
      "`// severity:`, `// tags:` comments) or Sigma (.yml/.yaml); directories recursively. "
      "Reports each file; a rule that cannot run live is refused with where and why");
  add->add_option("paths", add_args->paths, "Rule files or directories")->required();
  AddFormatOption(add, &add_args->format);
  add->callback([&ctx, add_args] {
    ctx.run = [&ctx, add_args] {
      return ctx.WithConnection(
          [&](const Connection& c) { return Add(c, add_args->paths, add_args->format == "json"); });
    };
  });

  auto list_format = std::make_shared<std::string>("table");
  auto* list = rules->add_subcommand("list", "Rules on the server with their state and version");
  AddFormatOption(list, list_format.get());
  list->callback([&ctx, list_format] {
    ctx.run = [&ctx, list_format] {
      return ctx.WithConnection(
          [&](const Connection& c) { return List(c, *list_format == "json"); });
    };
  });

  struct IdArgs {
    std::string id, format = "table";
  };
  auto show_args = std::make_shared<IdArgs>();
  auto* show = rules->add_subcommand("show", "One rule with its metadata and source");
  show->add_option("id", show_args->id, "Rule id")->required();
  AddFormatOption(show, &show_args->format);
  show->callback([&ctx, show_args] {
    ctx.run = [&ctx, show_args] {
      return ctx.WithConnection(
          [&](const Connection& c) { return Show(c, show_args->id, show_args->format == "json"); });
    };
  });

  for (const char* verb : {"enable", "disable"}) {
    const bool enable = std::string_view(verb) == "enable";
    auto id = std::make_shared<std::string>();
    auto* cmd = rules->add_subcommand(
        verb, enable ? "Run a rule live again" : "Stop running a rule live (it stays stored)");
    cmd->add_option("id", *id, "Rule id")->required();
    cmd->callback([&ctx, id, enable] {
      ctx.run = [&ctx, id, enable] {
        return ctx.WithConnection([&](const Connection& c) { return SetEnabled(c, *id, enable); });
      };
    });
  }

  auto hunt_args = std::make_shared<HuntArgs>();
  auto* hunt = rules->add_subcommand(
      "hunt", "Run a stored rule over history through the SQL path (a retro-hunt)");
  hunt->add_option("id", hunt_args->id, "Rule id")->required();
  hunt->add_option("--since", hunt_args->since, "Start: a duration back (30d) or RFC 3339")
      ->capture_default_str();
  hunt->add_option("--until", hunt_args->until, "End (exclusive)");
  hunt->add_option("--host", hunt_args->host, "Only this host (id or name)");
  hunt->add_option("--limit", hunt_args->limit, "At most this many matches")->capture_default_str();
  AddFormatOption(hunt, &hunt_args->format);
  hunt->callback([&ctx, hunt_args] {
    ctx.run = [&ctx, hunt_args] {
      return ctx.WithConnection([&](const Connection& c) { return Hunt(c, *hunt_args); });
    };
  });

  struct TestArgs {
    std::string rule_file, events_file, format = "table";
  };
  auto o = std::make_shared<TestArgs>();
  auto* test = rules->add_subcommand(
      "test",
      "Evaluate one rule (Sigma .yml or EQL) against events from a file, offline, in the live "
      "engine (sequences, samples and relationships included)");
  test->add_option("rule", o->rule_file, "Sigma YAML (.yml/.yaml) or a file holding one EQL query")
      ->required()
      ->check(CLI::ExistingFile);
  test->add_option("--events", o->events_file,
                   "Events: a Windows .evtx file, Windows records as JSON (evtx_dump) or Vigil "
                   "JSON / JSON Lines")
      ->required()
      ->check(CLI::ExistingFile);
  AddFormatOption(test, &o->format);
  test->callback([&ctx, o] {
    ctx.run = [o] { return RulesTest(o->rule_file, o->events_file, o->format == "json"); };
  });
}

}  // namespace vigil::cli
