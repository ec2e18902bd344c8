// vigil yara add|list|show|remove: YARA rule sets on the server, compiled and validated on upload
// (errors name file:line and the reason), versioned, sent to agents with scan jobs.
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "agent/scan/rule_set.hpp"
#include "cli/command.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

int PrintReplyError(const Result<HttpReply>& reply) {
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
}

int YaraAdd(const Connection& c, const std::string& name, const std::vector<std::string>& inputs,
            Format format) {
  std::vector<std::filesystem::path> paths(inputs.begin(), inputs.end());
  auto sources = agent::scan::RuleSet::ReadSources(paths);
  if (!sources) return std::cerr << "vigil: " << sources.error().message << "\n", 2;
  json list = json::array();
  for (const auto& s : *sources)
    list.push_back({{"namespace", s.name_space}, {"origin", s.origin}, {"text", s.text}});
  auto reply = Request(c, "POST", "/api/yara", json{{"name", name}, {"sources", list}}.dump(),
                       "application/json");
  if (!reply || reply->status != 200) return PrintReplyError(reply);
  json info = json::parse(reply->body);
  if (format == Format::Json) return std::cout << info.dump() << "\n", 0;
  std::cout << "rule set " << name << " version " << info.value("version", 0) << ": "
            << info.value("rules", 0) << " rules from " << info.value("files", 0)
            << " files (sha256 " << info.value("sha256", "").substr(0, 16) << ")\n";
  for (const auto& w : info.value("warnings", json::array()))
    std::cerr << "warning: " << w.get<std::string>() << "\n";
  return 0;
}

int YaraList(const Connection& c, Format format) {
  auto reply = Request(c, "GET", "/api/yara");
  if (!reply || reply->status != 200) return PrintReplyError(reply);
  json sets = json::parse(reply->body);
  if (format == Format::Json) {
    for (const auto& s : sets) std::cout << s.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : sets)
    rows.push_back({Cell(s, "name"), Cell(s, "version"), Cell(s, "rules"), Cell(s, "files"),
                    Cell(s, "bytes"), Cell(s, "owner"), Cell(s, "created").substr(0, 19),
                    Cell(s, "sha256").substr(0, 16)});
  PrintTable(std::cout,
             {"NAME", "VERSION", "RULES", "FILES", "BYTES", "OWNER", "CREATED", "SHA256"}, rows);
  return 0;
}

int YaraShow(const Connection& c, const std::string& name, bool sources, Format format) {
  auto reply = Request(c, "GET", "/api/yara/" + name + (sources ? "?sources=1" : ""));
  if (!reply || reply->status != 200) return PrintReplyError(reply);
  json set = json::parse(reply->body);
  if (format == Format::Json) return std::cout << set.dump() << "\n", 0;
  std::cout << "name:    " << Cell(set, "name") << "\nversion: " << Cell(set, "version")
            << "\nrules:   " << Cell(set, "rules") << "\nfiles:   " << Cell(set, "files")
            << "\nsha256:  " << Cell(set, "sha256") << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : set["versions"])
    rows.push_back({Cell(v, "version"), Cell(v, "rules"), Cell(v, "files"), Cell(v, "owner"),
                    Cell(v, "created").substr(0, 19), Cell(v, "sha256").substr(0, 16)});
  PrintTable(std::cout, {"VERSION", "RULES", "FILES", "OWNER", "CREATED", "SHA256"}, rows);
  if (sources)
    for (const auto& s : set["sources"])
      std::cout << "\n// " << Cell(s, "namespace") << " (" << Cell(s, "origin") << ")\n"
                << Cell(s, "text");
  return 0;
}

int YaraRemove(const Connection& c, const std::string& name) {
  auto reply = Request(c, "DELETE", "/api/yara/" + name);
  if (!reply || reply->status != 200) return PrintReplyError(reply);
  std::cout << "removed " << name << "\n";
  return 0;
}
}  // namespace

void RegisterYaraCommands(CLI::App& app, CliContext& ctx) {
  struct Options {
    std::string name, format = "table";
    std::vector<std::string> inputs;
    bool sources = false;
  };
  auto o = std::make_shared<Options>();
  auto* yara = app.add_subcommand(
      "yara", "YARA rule sets on the server: add (compiled and versioned), list, show, remove");
  yara->require_subcommand(1);
  auto run = [&ctx, o](std::function<int(const Connection&)> body) {
    return [&ctx, body] { ctx.run = [&ctx, body] { return ctx.WithConnection(body); }; };
  };

  auto* add = yara->add_subcommand(
      "add",
      "Upload rule files and directories (*.yar, *.yara, recursively) as NAME's next version");
  add->add_option("name", o->name, "Rule set name: letters, digits, '.', '_' or '-'")->required();
  add->add_option("inputs", o->inputs, "Rule files or directories")->required();
  AddFormatOption(add, &o->format);
  add->callback(run(
      [o](const Connection& c) { return YaraAdd(c, o->name, o->inputs, ParseFormat(o->format)); }));

  auto* list = yara->add_subcommand("list", "Rule sets with their latest version");
  AddFormatOption(list, &o->format);
  list->callback(run([o](const Connection& c) { return YaraList(c, ParseFormat(o->format)); }));

  auto* show = yara->add_subcommand("show", "A rule set's versions (and --sources: its texts)");
  show->add_option("name", o->name, "Rule set name")->required();
  show->add_flag("--sources", o->sources, "Print the latest version's rule texts");
  AddFormatOption(show, &o->format);
  show->callback(run([o](const Connection& c) {
    return YaraShow(c, o->name, o->sources, ParseFormat(o->format));
  }));

  auto* remove = yara->add_subcommand("remove", "Remove a rule set and all its versions");
  remove->add_option("name", o->name, "Rule set name")->required();
  remove->callback(run([o](const Connection& c) { return YaraRemove(c, o->name); }));
}

}  // namespace vigil::cli
