// vigil: the analyst's command line over the HTTPS API, and `vigil up` for one machine.
#include <arpa/inet.h>

#include <csignal>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <httplib.h>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "cli/rules_test.hpp"
#include "cli/up.hpp"

using namespace vigil;
using namespace vigil::cli;
using nlohmann::json;

namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

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
  for (const auto& h : hosts)
    rows.push_back({Cell(h, "host.name"), Cell(h, "agent.id"),
                    h.value("online", false) ? "online" : "offline", Cell(h, "sensor"),
                    Cell(h, "last_seen"), Cell(h, "events_received"), Cell(h, "events_dropped"),
                    Cell(h, "agent.version"), Cell(h, "os")});
  PrintTable(
      std::cout,
      {"HOST", "AGENT", "STATE", "SENSOR", "LAST SEEN", "RECEIVED", "DROPPED", "VERSION", "OS"},
      rows, 48);
  return 0;
}

// The most telling detail of an event, per category, for the table view.
std::string Detail(const json& e) {
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

std::vector<std::string> EventCells(const json& e, bool full) {
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
  if (format == Format::Table)
    PrintTable(std::cout,
               {"TIME", "HOST", "CATEGORY", "ACTION", "PID", "PPID", "PROCESS", "SHA256", "DETAIL"},
               rows, 100);
  return 0;
}

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
    auto list = quoted([](std::string v) -> Result<std::string> {
      if (v.size() != 64 || v.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        return Fail("not a SHA-256 (64 hex digits): " + v);
      for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return v;
    });
    if (!list) return list;
    return "any where process.hash.sha256 in (" + *list + ") or file.hash.sha256 in (" + *list +
           ")";
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
      PrintTable(
          std::cout,
          {"TIME", "HOST", "CATEGORY", "ACTION", "PID", "PPID", "PROCESS", "SHA256", "DETAIL"},
          rows, 100);
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

// `vigil import jsonl FILE...`: sends each file to POST /api/import in pieces of at most 32 MiB,
// cut where a line starts a new top-level JSON value, and prints what the server made of it.
int Import(const Connection& c, const std::vector<std::string>& files, bool as_json) {
  constexpr std::size_t kPiece = 32u << 20;
  int status = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "vigil: cannot read " << file << "\n";
      status = 1;
      continue;
    }
    json total{{"file", file},
               {"records", 0},
               {"imported", 0},
               {"skipped", 0},
               {"by_type", json::object()},
               {"reasons", json::array()}};
    std::string piece, line;
    auto send = [&]() -> bool {
      if (piece.find_first_not_of(" \t\r\n") == std::string::npos) return true;
      auto reply = Request(c, "POST", "/api/import", piece, "application/x-ndjson");
      piece.clear();
      if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", false;
      if (reply->status != 200)
        return std::cerr << "vigil: " << file << ": " << ErrorText(*reply) << "\n", false;
      json r = json::parse(reply->body);
      for (const char* k : {"records", "imported", "skipped"})
        total[k] = total[k].get<std::uint64_t>() + r[k].get<std::uint64_t>();
      for (auto it = r["by_type"].begin(); it != r["by_type"].end(); ++it)
        total["by_type"][it.key()] = total["by_type"].value(it.key(), 0) + it->get<std::uint64_t>();
      for (const auto& reason : r["reasons"])
        if (total["reasons"].size() < 100) total["reasons"].push_back(reason);
      return true;
    };
    bool ok = true;
    while (ok && std::getline(in, line)) {
      if (piece.size() + line.size() > kPiece && !line.empty() &&
          (line[0] == '{' || line[0] == '['))
        ok = send();
      piece += line;
      piece += '\n';
    }
    if (ok) ok = send();
    if (!ok) {
      status = 1;
      continue;
    }
    if (as_json) {
      std::cout << total.dump() << "\n";
      continue;
    }
    std::cout << file << ": " << total["imported"] << " of " << total["records"]
              << " records imported, " << total["skipped"] << " skipped\n";
    for (auto it = total["by_type"].begin(); it != total["by_type"].end(); ++it)
      std::cout << "  " << it.key() << ": " << it->get<std::uint64_t>() << "\n";
    for (const auto& reason : total["reasons"])
      std::cout << "  skipped " << reason.get<std::string>() << "\n";
  }
  return status;
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
         std::size_t limit, bool explain, const std::string& format) {
  json body{{"limit", limit}, {"explain", explain}};
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
      headers = {"TIME", "HOST",    "CATEGORY", "ACTION", "PID",
                 "PPID", "PROCESS", "SHA256",   "DETAIL"};
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

int main(int argc, char** argv) {
  // A peer that hangs up mid-write (an HTTPS client, a refused upload) is an error to handle, not a
  // reason to die: TLS writes go through write(2), which raises SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"vigil: hunt, inspect and run Vigil from the shell"};
  app.require_subcommand(1);
  std::string data_dir = EnvOr("VIGIL_DATA_DIR", "/var/lib/vigil");
  std::string server = EnvOr("VIGIL_SERVER", ""), token = EnvOr("VIGIL_TOKEN", "");
  std::string format_name = "table";
  app.add_option("--data-dir", data_dir, "Data directory of a local server (env VIGIL_DATA_DIR)")
      ->capture_default_str();
  app.add_option("--server", server, "API URL, e.g. https://vigil.example:8443 (env VIGIL_SERVER)");
  app.add_option("--token", token, "API bearer token (env VIGIL_TOKEN)");

  UpOptions up_options;
  auto* up = app.add_subcommand("up", "Run server + local agent on this machine (foreground)");
  up->add_option("--data-dir", data_dir, "Data directory (env VIGIL_DATA_DIR)")
      ->capture_default_str();
  up->add_option("--api-port", up_options.api_port, "HTTPS API port")->capture_default_str();
  up->add_option("--agent-port", up_options.agent_port, "Agent gateway port")
      ->capture_default_str();
  up->add_option("--sensor", up_options.sensor,
                 "Local agent's sensor: auto (eBPF, else /proc), ebpf, proc")
      ->capture_default_str();

  auto add_format = [&](CLI::App* cmd) {
    cmd->add_option("--format", format_name, "table or json (one object per line)")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
  };
  auto* hosts = app.add_subcommand(
      "hosts", "Enrolled hosts: state, sensor, last seen, events received and dropped");
  add_format(hosts);

  std::string host, category, since = "1h", until;
  std::size_t limit = 100;
  auto* events = app.add_subcommand("events", "Recent events, newest first");
  events->add_option("--host", host, "Host name or id");
  events->add_option("--category", category, "process, network, dns, file, persistence, ...");
  events->add_option("--since", since, "Start: a duration ago (10m, 24h, 7d) or RFC 3339 time")
      ->capture_default_str();
  events->add_option("--until", until, "End: a duration ago or RFC 3339 time");
  events->add_option("--limit", limit, "At most this many events")->capture_default_str();
  add_format(events);

  std::string query, hunt_since = "7d", hunt_until, hunt_host, hunt_format = "table";
  std::size_t hunt_limit = 1000;
  bool explain = false;
  auto* hunt =
      app.add_subcommand("hunt", "Run an EQL query over the fleet's history (see docs/hunting.md)");
  std::string saved_name;
  auto* query_option =
      hunt->add_option("query", query, "EQL, e.g. 'process where process.name == \"curl\"'");
  hunt->add_option("--saved", saved_name, "Run the saved hunt of this name instead")
      ->excludes(query_option);
  hunt->add_option("--since", hunt_since, "Start: a duration ago (7d) or RFC 3339 time")
      ->capture_default_str();
  hunt->add_option("--until", hunt_until, "End: a duration ago or RFC 3339 time");
  hunt->add_option("--host", hunt_host, "Only this host (name or id)");
  hunt->add_option("--limit", hunt_limit, "At most this many results")->capture_default_str();
  hunt->add_option("--format", hunt_format, "table, json (one object per line) or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  hunt->add_flag("--explain", explain, "Print the SQL the query runs instead of running it");

  auto* ioc = app.add_subcommand("ioc", "Indicators of compromise");
  ioc->require_subcommand(1);
  auto* ioc_find = ioc->add_subcommand(
      "find",
      "Every event in history carrying a SHA-256, IP or domain (and its subdomains), by host");
  std::string ioc_kind, ioc_since = "30d", ioc_format = "table";
  std::vector<std::string> ioc_values;
  std::size_t ioc_limit = 10000;
  ioc_find->add_option("kind", ioc_kind, "sha256, ip or domain")
      ->required()
      ->check(CLI::IsMember({"sha256", "ip", "domain"}));
  ioc_find->add_option("values", ioc_values, "One or more values")->required();
  ioc_find->add_option("--since", ioc_since, "How far back: a duration (30d) or RFC 3339 time")
      ->capture_default_str();
  ioc_find->add_option("--limit", ioc_limit, "At most this many events")->capture_default_str();
  ioc_find->add_option("--format", ioc_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  auto* import = app.add_subcommand(
      "import", "Import foreign telemetry (each Windows file's Computer becomes a host)");
  import->require_subcommand(1);
  std::vector<std::string> import_files;
  auto* import_jsonl = import->add_subcommand(
      "jsonl",
      "Windows/Sysmon event records as JSON (evtx_dump output: per line, array or concatenated), "
      "or Vigil JSON Lines events");
  import_jsonl->add_option("files", import_files, "Files to import")
      ->required()
      ->check(CLI::ExistingFile);
  add_format(import_jsonl);

  auto* rules = app.add_subcommand("rules", "Detection rules");
  rules->require_subcommand(1);
  auto* rules_test = rules->add_subcommand(
      "test", "Evaluate one rule (Sigma .yml or EQL) against events from a file, offline");
  std::string rule_file, events_file;
  rules_test
      ->add_option("rule", rule_file, "Sigma YAML (.yml/.yaml) or a file holding one EQL query")
      ->required()
      ->check(CLI::ExistingFile);
  rules_test
      ->add_option("--events", events_file,
                   "Events: Windows records as JSON (evtx_dump) or Vigil JSON / JSON Lines")
      ->required()
      ->check(CLI::ExistingFile);
  add_format(rules_test);

  auto* hunts = app.add_subcommand(
      "hunts", "Saved hunts: list, save, delete (run one: vigil hunt --saved NAME)");
  hunts->require_subcommand(1);
  auto* hunts_list = hunts->add_subcommand("list", "Saved hunts with their queries and owners");
  add_format(hunts_list);
  std::string hunt_name, hunt_query, hunt_description;
  auto* hunts_save =
      hunts->add_subcommand("save", "Save (or replace) a hunt by name; the query must parse");
  hunts_save->add_option("name", hunt_name, "Name: letters, digits, '.', '_' or '-'")->required();
  hunts_save->add_option("query", hunt_query, "EQL")->required();
  hunts_save->add_option("--description", hunt_description, "What it looks for and why");
  auto* hunts_delete = hunts->add_subcommand("delete", "Delete a saved hunt");
  hunts_delete->add_option("name", hunt_name, "Name")->required();

  CLI11_PARSE(app, argc, argv);
  Format format = format_name == "json" ? Format::Json : Format::Table;

  if (*rules_test) return RulesTest(rule_file, events_file, format == Format::Json);
  if (*up) {
    up_options.data_dir = data_dir;
    return Up(up_options);
  }
  auto connection = ResolveConnection(server, token, data_dir);
  if (!connection) return std::cerr << "vigil: " << connection.error().message << "\n", 1;
  if (*hosts) return Hosts(*connection, format);
  if (*hunts_list || *hunts_save || *hunts_delete)
    return SavedHunts(*connection,
                      *hunts_list   ? "list"
                      : *hunts_save ? "save"
                                    : "delete",
                      hunt_name, hunt_query, hunt_description, format);
  if (*hunt && query.empty() && saved_name.empty())
    return std::cerr << "vigil: hunt needs a QUERY or --saved NAME\n", 2;
  if (*import_jsonl) return Import(*connection, import_files, format == Format::Json);
  if (*ioc_find)
    return IocFind(*connection, ioc_kind, ioc_values, ioc_since, ioc_limit, ioc_format);
  if (*hunt)
    return Hunt(*connection, query, saved_name, hunt_since, hunt_until, hunt_host, hunt_limit,
                explain, hunt_format);
  if (*events) return Events(*connection, host, category, since, until, limit, format);
  return 0;
}
