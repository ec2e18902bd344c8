// vigil alerts: list and follow alerts (GET /api/alerts, the SSE stream /api/alerts/stream) and
// triage them (ack, close, reopen, assign, comment: POST /api/alerts/ID).
#include <iostream>

#include <httplib.h>

#include "cli/command.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

std::vector<std::string> AlertCells(const json& a) {
  return {Cell(a, "id"),       Cell(a, "created"),   Cell(a, "status"),
          Cell(a, "severity"), Cell(a, "host.name"), Cell(a, "rule_id"),
          Cell(a, "count"),    Cell(a, "assignee"),  Cell(a, "rule_name")};
}
const std::vector<std::string> kHeaders = {"ID",   "CREATED", "STATUS",   "SEVERITY", "HOST",
                                           "RULE", "COUNT",   "ASSIGNEE", "NAME"};

void PrintAlert(const json& a, bool as_json) {
  if (as_json) {
    std::cout << a.dump() << std::endl;
    return;
  }
  std::cout << Cell(a, "created") << "  #" << Cell(a, "id") << "  " << Cell(a, "severity") << "  "
            << Cell(a, "host.name") << "  " << Cell(a, "rule_id") << "  " << Cell(a, "rule_name")
            << std::endl;
}

struct ListArgs {
  std::string status, rule, host, severity, since, format = "table";
  std::size_t limit = 100;
  bool follow = false;
};

std::string Encode(const std::string& s) { return httplib::detail::encode_query_param(s); }

int Follow(const Connection& c, const ListArgs& a, std::int64_t after) {
  httplib::Client client(c.url);
  if (!c.ca_file.empty()) client.set_ca_cert_path(c.ca_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_bearer_token_auth(c.token.c_str());
  client.set_connection_timeout(5);
  client.set_read_timeout(60);  // the server sends a keep-alive every 15 s
  const bool as_json = a.format == "json";
  std::string buffer;
  int status = 0;
  auto res =
      client.Get(("/api/alerts/stream?after=" + std::to_string(after)).c_str(), httplib::Headers{},
                 [&](const httplib::Response& r) {
                   status = r.status;
                   return true;
                 },
                 [&](const char* data, std::size_t n) {
                   buffer.append(data, n);
                   std::size_t end;
                   while ((end = buffer.find("\n\n")) != std::string::npos) {
                     std::string event = buffer.substr(0, end);
                     buffer.erase(0, end + 2);
                     if (status != 200) continue;
                     std::size_t pos = 0;
                     while (pos < event.size()) {
                       auto nl = event.find('\n', pos);
                       if (nl == std::string::npos) nl = event.size();
                       std::string_view line(event.data() + pos, nl - pos);
                       pos = nl + 1;
                       if (!line.starts_with("data: ")) continue;
                       auto alert = json::parse(line.substr(6), nullptr, false);
                       if (alert.is_discarded()) continue;
                       if (!a.status.empty() && Cell(alert, "status") != a.status) continue;
                       if (!a.rule.empty() && Cell(alert, "rule_id") != a.rule) continue;
                       if (!a.severity.empty() && Cell(alert, "severity") != a.severity) continue;
                       if (!a.host.empty() && Cell(alert, "host.name") != a.host &&
                           Cell(alert, "host.id") != a.host)
                         continue;
                       PrintAlert(alert, as_json);
                     }
                   }
                   return true;
                 });
  if (!res)
    return std::cerr << "vigil: alert stream ended: " << httplib::to_string(res.error()) << "\n", 1;
  if (res->status != 200)
    return std::cerr << "vigil: " << ErrorText({res->status, buffer}) << "\n", 1;
  return 0;
}

int List(const Connection& c, const ListArgs& a) {
  std::string path = "/api/alerts?limit=" + std::to_string(a.limit);
  if (!a.status.empty()) path += "&status=" + Encode(a.status);
  if (!a.rule.empty()) path += "&rule=" + Encode(a.rule);
  if (!a.host.empty()) path += "&host=" + Encode(a.host);
  if (!a.severity.empty()) path += "&severity=" + Encode(a.severity);
  if (!a.since.empty()) path += "&since=" + Encode(a.since);
  auto reply = Request(c, "GET", path);
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  auto alerts = json::parse(reply->body);
  std::int64_t newest = 0;
  for (const auto& al : alerts) newest = std::max<std::int64_t>(newest, al.value("id", 0));
  if (a.format == "json") {
    // Oldest first, as --follow continues.
    for (auto it = alerts.rbegin(); it != alerts.rend(); ++it) std::cout << it->dump() << "\n";
  } else if (!a.follow || !alerts.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (auto it = alerts.rbegin(); it != alerts.rend(); ++it) rows.push_back(AlertCells(*it));
    PrintTable(std::cout, kHeaders, rows, 60);
  }
  std::cout.flush();
  if (!a.follow) return 0;
  return Follow(c, a, newest);
}

int Change(const Connection& c, const std::string& id, const json& body, bool as_json) {
  auto reply = Request(c, "POST", "/api/alerts/" + id, body.dump(), "application/json");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  auto a = json::parse(reply->body);
  if (as_json) return std::cout << a.dump() << "\n", 0;
  std::cout << "alert " << id << ": " << Cell(a, "status")
            << (Cell(a, "assignee").empty() ? "" : ", assigned to " + Cell(a, "assignee")) << ", "
            << a["comments"].size() << " comment(s)\n";
  return 0;
}

int Show(const Connection& c, const std::string& id, bool as_json) {
  auto reply = Request(c, "GET", "/api/alerts/" + id);
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  auto a = json::parse(reply->body);
  if (as_json) return std::cout << a.dump() << "\n", 0;
  for (const char* key : {"id", "rule_id", "rule_name", "severity", "tags", "host.name", "host.id",
                          "process.entity_id", "status", "assignee", "count", "first_seen",
                          "last_seen", "created", "updated"})
    std::cout << key << ": " << Cell(a, key) << "\n";
  for (const auto& cm : a["comments"])
    std::cout << "comment: " << Cell(cm, "time") << " " << Cell(cm, "author") << ": "
              << Cell(cm, "text") << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : a["events"]) rows.push_back(EventCells(e, false));
  PrintTable(std::cout, EventHeaders(), rows);
  return 0;
}

}  // namespace

void RegisterAlertsCommands(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ListArgs>();
  auto* alerts = app.add_subcommand(
      "alerts", "Alerts raised by the live rules: list (newest last), --follow, and triage");
  alerts->require_subcommand(0, 1);
  alerts->add_option("--status", args->status, "new, acknowledged or closed")
      ->check(CLI::IsMember({"new", "acknowledged", "closed"}));
  alerts->add_option("--rule", args->rule, "Only this rule id");
  alerts->add_option("--host", args->host, "Only this host (id or name)");
  alerts->add_option("--severity", args->severity, "Only this severity");
  alerts->add_option("--since", args->since, "Raised since: a duration back (24h) or RFC 3339");
  alerts->add_option("--limit", args->limit, "At most this many (newest)")->capture_default_str();
  alerts->add_flag("--follow,-f", args->follow, "Keep printing new alerts as they are raised");
  AddFormatOption(alerts, &args->format);
  alerts->callback([&ctx, args] {
    if (ctx.run) return;  // a subcommand was chosen
    ctx.run = [&ctx, args] {
      return ctx.WithConnection([&](const Connection& c) { return List(c, *args); });
    };
  });

  struct ChangeArgs {
    std::string id, user, comment, format = "table";
  };
  auto add_change = [&](const char* name, const char* help, const char* status, bool assign) {
    auto a = std::make_shared<ChangeArgs>();
    auto* cmd = alerts->add_subcommand(name, help);
    cmd->add_option("id", a->id, "Alert id")->required()->check(CLI::PositiveNumber);
    if (assign) cmd->add_option("user", a->user, "Who takes it")->required();
    cmd->add_option("--comment,-m", a->comment, "Add this comment");
    AddFormatOption(cmd, &a->format);
    cmd->callback([&ctx, a, status = std::string(status), assign] {
      ctx.run = [&ctx, a, status, assign] {
        json body = json::object();
        if (!status.empty()) body["status"] = status;
        if (assign) body["assignee"] = a->user;
        if (!a->comment.empty()) body["comment"] = a->comment;
        if (body.empty()) return std::cerr << "vigil: nothing to change (add --comment)\n", 2;
        return ctx.WithConnection(
            [&](const Connection& c) { return Change(c, a->id, body, a->format == "json"); });
      };
    });
  };
  add_change("ack", "Acknowledge an alert (someone is on it)", "acknowledged", false);
  add_change("close", "Close an alert", "closed", false);
  add_change("reopen", "Set an alert back to new", "new", false);
  add_change("assign", "Assign an alert to someone", "", true);
  add_change("comment", "Comment on an alert (with --comment)", "", false);

  auto show = std::make_shared<ChangeArgs>();
  auto* show_cmd = alerts->add_subcommand("show", "One alert with its matching events");
  show_cmd->add_option("id", show->id, "Alert id")->required()->check(CLI::PositiveNumber);
  AddFormatOption(show_cmd, &show->format);
  show_cmd->callback([&ctx, show] {
    ctx.run = [&ctx, show] {
      return ctx.WithConnection(
          [&](const Connection& c) { return Show(c, show->id, show->format == "json"); });
    };
  });
}

}  // namespace vigil::cli
