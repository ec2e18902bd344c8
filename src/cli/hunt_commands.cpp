// vigil hunt, vigil hunts, vigil ioc find: EQL over the fleet's history through POST /api/hunt.
#include <arpa/inet.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <httplib.h>

#include "agent/scan/hash_list.hpp"
#include "cli/command.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

std::string CsvQuote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct HuntReply {
  std::vector<json> rows;
  bool truncated = false;
};

// POST /api/hunt and collect its JSON Lines; an error line or status becomes the error.
Result<HuntReply> PostHunt(const Connection& c, const json& body) {
  auto reply = Request(c, "POST", "/api/hunt", body.dump(), "application/json");
  if (!reply) return std::unexpected(reply.error());
  if (reply->status != 200) return Fail(ErrorText(*reply));
  HuntReply out;
  std::istringstream lines(reply->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    json row = json::parse(line);
    if (row.contains("error")) return Fail(row["error"].get<std::string>());
    if (row.contains("truncated")) {
      out.truncated = true;
      continue;
    }
    out.rows.push_back(std::move(row));
  }
  return out;
}

// `vigil ioc find sha256|ip|domain VALUE...`: every stored event that carries one of the values,
// grouped by host, through the hunt engine (indexed equality on hashes and IPs).
Result<std::string> IocQuery(const std::string& kind, const std::vector<std::string>& values) {
  auto quoted = [&](auto transform) -> Result<std::string> {
    std::string list;
    for (const auto& raw : values) {
      auto v = transform(raw);
      if (!v) return std::unexpected(v.error());
      list += (list.empty() ? "" : ", ") + json(*v).dump();
    }
    return list;
  };
  if (kind == "sha256") {
    auto hashes = agent::scan::ParseSha256List(values);  // the same check as ioc sweep's
    if (!hashes) return std::unexpected(hashes.error());
    std::string list;
    for (const auto& v : *hashes) list += (list.empty() ? "" : ", ") + json(v).dump();
    return "any where process.hash.sha256 in (" + list + ") or file.hash.sha256 in (" + list + ")";
  }
  if (kind == "ip") {
    auto list = quoted([](std::string v) -> Result<std::string> {
      unsigned char buf[16];
      if (inet_pton(AF_INET, v.c_str(), buf) != 1 && inet_pton(AF_INET6, v.c_str(), buf) != 1)
        return Fail("not an IP address: " + v);
      return v;
    });
    if (!list) return list;
    return "any where source.ip in (" + *list + ") or destination.ip in (" + *list +
           ") or dns.resolved_ip in (" + *list + ")";
  }
  if (kind == "domain") {
    std::vector<std::string> patterns;
    for (auto v : values) {
      if (v.empty() || v.find_first_of(" *?\"\\") != std::string::npos)
        return Fail("not a domain name: " + v);
      for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      patterns.push_back(v);
      patterns.push_back("*." + v);  // subdomains too
    }
    std::string list;
    for (const auto& p : patterns) list += (list.empty() ? "" : ", ") + json(p).dump();
    return "any where dns.question.name : (" + list + ") or destination.domain : (" + list + ")";
  }
  return Fail("unknown IOC kind '" + kind + "' (sha256, ip or domain)");
}

int IocFind(const Connection& c, const std::string& kind, const std::vector<std::string>& values,
            const std::string& since, std::size_t limit, const std::string& format) {
  auto query = IocQuery(kind, values);
  if (!query) return std::cerr << "vigil: " << query.error().message << "\n", 2;
  json body{{"query", *query}, {"limit", limit}};
  if (!since.empty()) body["since"] = since;
  auto reply = PostHunt(c, body);
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (format == "json") {
    for (const auto& r : reply->rows) std::cout << r.dump() << "\n";
  } else {
    std::map<std::string, std::vector<std::vector<std::string>>> by_host;
    for (const auto& r : reply->rows) by_host[Cell(r, "host.name")].push_back(EventCells(r, false));
    for (const auto& [host, rows] : by_host) {
      std::cout << host << ": " << rows.size() << " event(s)\n";
      PrintTable(std::cout, EventHeaders(), rows, 100);
      std::cout << "\n";
    }
    if (by_host.empty())
      std::cout << "no event carries " << (values.size() == 1 ? "this value" : "these values")
                << "\n";
  }
  if (reply->truncated)
    std::cerr << "vigil: stopped at --limit " << limit << "; more events exist\n";
  return 0;
}

// `vigil hunts list|save|delete`.
int SavedHunts(const Connection& c, const std::string& action, const std::string& name,
               const std::string& query, const std::string& description, Format format) {
  Result<HttpReply> reply = Fail("unknown action");
  if (action == "list") reply = Request(c, "GET", "/api/hunts");
  if (action == "save")
    reply = Request(c, "POST", "/api/hunts",
                    json{{"name", name}, {"query", query}, {"description", description}}.dump(),
                    "application/json");
  if (action == "delete") reply = Request(c, "DELETE", "/api/hunts/" + name);
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  if (action != "list") {
    std::cout << (action == "save" ? "saved " : "deleted ") << name << "\n";
    return 0;
  }
  json hunts = json::parse(reply->body);
  if (format == Format::Json) {
    for (const auto& h : hunts) std::cout << h.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : hunts)
    rows.push_back({Cell(h, "name"), Cell(h, "owner"), Cell(h, "updated").substr(0, 19),
                    Cell(h, "description"), Cell(h, "query")});
  PrintTable(std::cout, {"NAME", "OWNER", "UPDATED", "DESCRIPTION", "QUERY"}, rows, 80);
  return 0;
}

int Hunt(const Connection& c, const std::string& query, const std::string& saved,
         const std::string& since, const std::string& until, const std::string& host,
         std::size_t limit, const std::string& timeout, bool explain, const std::string& format) {
  json body{{"limit", limit}, {"explain", explain}};
  if (!timeout.empty()) body["timeout"] = timeout;
  if (!saved.empty())
    body["name"] = saved;
  else
    body["query"] = query;
  if (!since.empty()) body["since"] = since;
  if (!until.empty()) body["until"] = until;
  if (!host.empty()) body["host"] = host;
  auto reply = PostHunt(c, body);
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  auto& rows = reply->rows;
  const bool truncated = reply->truncated;
  if (explain) {
    for (const auto& r : rows) std::cout << r.value("sql", "") << "\n";
    return 0;
  }
  if (format == "json") {
    for (const auto& r : rows) std::cout << r.dump() << "\n";
  } else {
    const bool counts =
        !rows.empty() && rows.front().contains("count") && !rows.front().contains("@timestamp");
    std::vector<std::string> headers;
    std::vector<std::vector<std::string>> table;
    if (counts) {
      for (auto it = rows.front().begin(); it != rows.front().end(); ++it)
        headers.push_back(it.key());
      for (const auto& r : rows) {
        std::vector<std::string> cells;
        for (const auto& h : headers) cells.push_back(Cell(r, h));
        table.push_back(std::move(cells));
      }
    } else {
      headers = EventHeaders();
      const bool grouped =
          !rows.empty() && (rows.front().contains("sequence") || rows.front().contains("sample"));
      if (grouped) headers.insert(headers.begin(), "#");
      std::size_t n = 0;
      for (const auto& r : rows) {
        ++n;
        const json* group = r.contains("sequence") ? &r["sequence"]
                            : r.contains("sample") ? &r["sample"]
                                                   : nullptr;
        if (!group) {
          table.push_back(EventCells(r, format == "csv"));
          continue;
        }
        for (const auto& e : *group) {
          auto cells = EventCells(e, format == "csv");
          cells.insert(cells.begin(), std::to_string(n));
          table.push_back(std::move(cells));
        }
      }
    }
    if (format == "csv") {
      auto print = [](const std::vector<std::string>& cells) {
        for (std::size_t i = 0; i < cells.size(); ++i)
          std::cout << (i ? "," : "") << CsvQuote(cells[i]);
        std::cout << "\n";
      };
      print(headers);
      for (const auto& row : table) print(row);
    } else {
      PrintTable(std::cout, headers, table, 100);
    }
  }
  if (truncated) std::cerr << "vigil: stopped at --limit " << limit << "; more results exist\n";
  return 0;
}
}  // namespace

void RegisterHuntCommands(CLI::App& app, CliContext& ctx) {
  struct Options {
    std::string query, saved, since = "7d", until, host, timeout, format = "table";
    std::size_t limit = 1000;
    bool explain = false;
    std::string ioc_kind, ioc_since = "30d", ioc_format = "table";
    std::vector<std::string> ioc_values;
    std::size_t ioc_limit = 10000;
    std::string name, description, hunts_format = "table";
  };
  auto o = std::make_shared<Options>();

  auto* hunt =
      app.add_subcommand("hunt", "Run an EQL query over the fleet's history (see docs/hunting.md)");
  auto* query_option =
      hunt->add_option("query", o->query, "EQL, e.g. 'process where process.name == \"curl\"'");
  hunt->add_option("--saved", o->saved, "Run the saved hunt of this name instead")
      ->excludes(query_option);
  hunt->add_option("--since", o->since, "Start: a duration ago (7d) or RFC 3339 time")
      ->capture_default_str();
  hunt->add_option("--until", o->until, "End: a duration ago or RFC 3339 time");
  hunt->add_option("--host", o->host, "Only this host (name or id)");
  hunt->add_option("--limit", o->limit, "At most this many results")->capture_default_str();
  hunt->add_option("--timeout", o->timeout,
                   "Stop the query after this long (500ms, 30s, 5m; default 30s, at most 10m)");
  hunt->add_option("--format", o->format, "table, json (one object per line) or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  hunt->add_flag("--explain", o->explain, "Print the SQL the query runs instead of running it");
  hunt->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      if (o->query.empty() && o->saved.empty())
        return std::cerr << "vigil: hunt needs a QUERY or --saved NAME\n", 2;
      return ctx.WithConnection([&](const Connection& c) {
        return Hunt(c, o->query, o->saved, o->since, o->until, o->host, o->limit, o->timeout,
                    o->explain, o->format);
      });
    };
  });

  auto* ioc = IocCommand(app);
  auto* ioc_find = ioc->add_subcommand(
      "find",
      "Every event in history carrying a SHA-256, IP or domain (and its subdomains), by host");
  ioc_find->add_option("kind", o->ioc_kind, "sha256, ip or domain")
      ->required()
      ->check(CLI::IsMember({"sha256", "ip", "domain"}));
  ioc_find->add_option("values", o->ioc_values, "One or more values")->required();
  ioc_find->add_option("--since", o->ioc_since, "How far back: a duration (30d) or RFC 3339 time")
      ->capture_default_str();
  ioc_find->add_option("--limit", o->ioc_limit, "At most this many events")->capture_default_str();
  AddFormatOption(ioc_find, &o->ioc_format);
  ioc_find->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection([&](const Connection& c) {
        return IocFind(c, o->ioc_kind, o->ioc_values, o->ioc_since, o->ioc_limit, o->ioc_format);
      });
    };
  });

  auto* hunts = app.add_subcommand(
      "hunts", "Saved hunts: list, save, delete (run one: vigil hunt --saved NAME)");
  hunts->require_subcommand(1);
  auto saved_hunts = [&ctx, o](std::string action) {
    return [&ctx, o, action] {
      ctx.run = [&ctx, o, action] {
        return ctx.WithConnection([&](const Connection& c) {
          return SavedHunts(c, action, o->name, o->query, o->description,
                            ParseFormat(o->hunts_format));
        });
      };
    };
  };
  auto* list = hunts->add_subcommand("list", "Saved hunts with their queries and owners");
  AddFormatOption(list, &o->hunts_format);
  list->callback(saved_hunts("list"));
  auto* save =
      hunts->add_subcommand("save", "Save (or replace) a hunt by name; the query must parse");
  save->add_option("name", o->name, "Name: letters, digits, '.', '_' or '-'")->required();
  save->add_option("query", o->query, "EQL")->required();
  save->add_option("--description", o->description, "What it looks for and why");
  save->callback(saved_hunts("save"));
  auto* remove = hunts->add_subcommand("delete", "Delete a saved hunt");
  remove->add_option("name", o->name, "Name")->required();
  remove->callback(saved_hunts("delete"));
}

}  // namespace vigil::cli
