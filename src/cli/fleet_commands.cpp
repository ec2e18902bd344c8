// vigil hosts, vigil events: the fleet and its recent telemetry.
#include <arpa/inet.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <httplib.h>

#include "cli/command.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

int Hosts(const Connection& c, Format format) {
  auto reply = Request(c, "GET", "/api/hosts");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  json hosts = json::parse(reply->body);
  if (format == Format::Json) {
    for (const auto& h : hosts) std::cout << h.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : hosts) {
    // An imported host has no agent: no online state, and its last event stands for last seen.
    const bool imported = h.value("imported", false);
    rows.push_back({Cell(h, "host.name"), Cell(h, "agent.id"),
                    imported                   ? "imported"
                    : h.value("online", false) ? "online"
                                               : "offline",
                    Cell(h, "sensor"), Cell(h, imported ? "last_event" : "last_seen"),
                    Cell(h, "events_received"), Cell(h, "events_dropped"), Cell(h, "agent.version"),
                    Cell(h, "os")});
  }
  PrintTable(
      std::cout,
      {"HOST", "AGENT", "STATE", "SENSOR", "LAST SEEN", "RECEIVED", "DROPPED", "VERSION", "OS"},
      rows, 48);
  return 0;
}

int Events(const Connection& c, const std::string& host, const std::string& category,
           const std::string& since, const std::string& until, std::size_t limit, Format format) {
  httplib::Params params{{"limit", std::to_string(limit)}};
  if (!host.empty()) params.emplace("host", host);
  if (!category.empty()) params.emplace("category", category);
  if (!since.empty()) params.emplace("since", since);
  if (!until.empty()) params.emplace("until", until);
  auto reply = Request(c, "GET", httplib::append_query_params("/api/events", params));
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(reply->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    json e = json::parse(line);
    if (e.contains("error") && !e.contains("@timestamp"))  // the stream failed after it started
      return std::cerr << "vigil: " << e["error"].get<std::string>() << "\n", 1;
    if (format == Format::Json) {
      std::cout << line << "\n";
      continue;
    }
    rows.push_back(EventCells(e, false));
  }
  if (format == Format::Table) PrintTable(std::cout, EventHeaders(), rows, 100);
  return 0;
}
}  // namespace

void RegisterFleetCommands(CLI::App& app, CliContext& ctx) {
  struct Options {
    std::string format = "table", host, category, since = "1h", until;
    std::size_t limit = 100;
  };
  auto o = std::make_shared<Options>();
  auto* hosts = app.add_subcommand(
      "hosts",
      "Every host Vigil has data for: enrolled agents (state online/offline, last contact, events "
      "received and dropped) and hosts of imported telemetry (state imported, sensor "
      "import:evtx or import:json, LAST SEEN is their last event, RECEIVED the events imported)");
  AddFormatOption(hosts, &o->format);
  hosts->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection(
          [&](const Connection& c) { return Hosts(c, ParseFormat(o->format)); });
    };
  });

  auto* events = app.add_subcommand("events", "Recent events, newest first");
  events->add_option("--host", o->host,
                     "Host name or id (one `vigil hosts` lists; another is an error)");
  events->add_option("--category", o->category, "process, network, dns, file, persistence, ...");
  events->add_option("--since", o->since, "Start: a duration ago (10m, 24h, 7d) or RFC 3339 time")
      ->capture_default_str();
  events->add_option("--until", o->until, "End: a duration ago or RFC 3339 time");
  events->add_option("--limit", o->limit, "At most this many events")->capture_default_str();
  AddFormatOption(events, &o->format);
  events->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection([&](const Connection& c) {
        return Events(c, o->host, o->category, o->since, o->until, o->limit,
                      ParseFormat(o->format));
      });
    };
  });
}

}  // namespace vigil::cli
