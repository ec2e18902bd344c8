// vigil ioc add-set | sets | remove-set: IOC sets that the server matches live (/api/ioc/sets),
// and the shared `ioc` subcommand. `vigil ioc find` (a retro-hunt for single values) is in
// hunt_commands.cpp, `vigil ioc sweep` (files on the hosts now) in sweep_commands.cpp.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/command.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

int AddSet(const Connection& c, const std::string& name, const std::vector<std::string>& files,
           const std::string& source, const std::string& expires, bool as_json) {
  json indicators = json::array();
  std::vector<std::string> origins;  // FILE:LINE of each indicator, for the server's errors
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) return std::cerr << "vigil: cannot read " << f << "\n", 2;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
      auto hash = line.find('#');
      if (hash != std::string::npos) line.erase(hash);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
        line.pop_back();
      if (line.empty()) continue;
      indicators.push_back(line);
      origins.push_back(f + ":" + std::to_string(number));
    }
  }
  json body{{"name", name}, {"source", source}, {"indicators", indicators}};
  if (!expires.empty()) body["expires"] = expires;
  auto reply = Request(c, "POST", "/api/ioc/sets", body.dump(), "application/json");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) {
    // "indicators[N]: why" (N from 1) names the file and line instead.
    std::string error = ErrorText(*reply);
    std::size_t n = 0;
    int end = 0;
    if (error.starts_with("indicators[") &&
        std::sscanf(error.c_str(), "indicators[%zu]%n", &n, &end) == 1 && end > 0 && n >= 1 &&
        n <= origins.size())
      error = origins[n - 1] + error.substr(static_cast<std::size_t>(end));
    return std::cerr << "vigil: " << error << "\n", 1;
  }
  auto r = json::parse(reply->body);
  if (as_json) return std::cout << r.dump() << "\n", 0;
  std::cout << "IOC set " << name << ": " << r["sha256"] << " sha256, " << r["ips"]
            << " IPs/CIDRs, " << r["domains"] << " domains; alerts as rule " << Cell(r, "rule_id")
            << (Cell(r, "expires").empty() ? "" : ", expires " + Cell(r, "expires")) << "\n";
  return 0;
}

int ListSets(const Connection& c, bool as_json) {
  auto reply = Request(c, "GET", "/api/ioc/sets");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  auto sets = json::parse(reply->body);
  if (as_json) {
    for (const auto& s : sets) std::cout << s.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : sets)
    rows.push_back({Cell(s, "name"), Cell(s, "source"), std::to_string(s["sha256"].size()),
                    std::to_string(s["ips"].size()), std::to_string(s["domains"].size()),
                    s.value("expired", false) ? "expired" : Cell(s, "expires")});
  PrintTable(std::cout, {"NAME", "SOURCE", "SHA256", "IPS", "DOMAINS", "EXPIRES"}, rows);
  return 0;
}

int RemoveSet(const Connection& c, const std::string& name) {
  auto reply = Request(c, "DELETE", "/api/ioc/sets/" + name);
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  std::cout << "removed IOC set " << name << "\n";
  return 0;
}

}  // namespace

CLI::App* IocCommand(CLI::App& app) {
  for (auto* sub : app.get_subcommands([](CLI::App* a) { return a->get_name() == "ioc"; }))
    return sub;
  auto* ioc = app.add_subcommand("ioc",
                                 "Indicators of compromise: find (history), sweep (files "
                                 "on the hosts now), and the IOC sets matched live");
  ioc->require_subcommand(1);
  return ioc;
}

void RegisterIocSetCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* ioc = IocCommand(app);
  struct Args {
    std::string name, source, expires, format = "table";
    std::vector<std::string> files;
  };
  auto a = std::make_shared<Args>();
  auto* add = ioc->add_subcommand(
      "add-set",
      "Add (or replace) a named IOC set matched live on every event: files with one indicator "
      "per line (SHA-256, IP, CIDR or domain, which also matches its subdomains; # comments)");
  add->add_option("name", a->name, "Set name (alerts come from rule ioc-NAME)")->required();
  add->add_option("files", a->files, "Indicator files")->required()->check(CLI::ExistingFile);
  add->add_option("--source", a->source, "Where the indicators come from (feed, report)");
  add->add_option("--expires", a->expires,
                  "Stop matching after this: a duration (30d) or RFC 3339");
  AddFormatOption(add, &a->format);
  add->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      return ctx.WithConnection([&](const Connection& c) {
        return AddSet(c, a->name, a->files, a->source, a->expires, a->format == "json");
      });
    };
  });
  auto list_format = std::make_shared<std::string>("table");
  auto* list = ioc->add_subcommand("sets", "IOC sets with their sizes and expiry");
  AddFormatOption(list, list_format.get());
  list->callback([&ctx, list_format] {
    ctx.run = [&ctx, list_format] {
      return ctx.WithConnection(
          [&](const Connection& c) { return ListSets(c, *list_format == "json"); });
    };
  });
  auto remove_name = std::make_shared<std::string>();
  auto* remove = ioc->add_subcommand("remove-set", "Remove an IOC set (its alerts stay)");
  remove->add_option("name", *remove_name, "Set name")->required();
  remove->callback([&ctx, remove_name] {
    ctx.run = [&ctx, remove_name] {
      return ctx.WithConnection([&](const Connection& c) { return RemoveSet(c, *remove_name); });
    };
  });
}

}  // namespace vigil::cli
