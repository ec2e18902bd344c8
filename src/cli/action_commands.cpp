// vigil action ... (response actions on hosts) and vigil actions (their audit log). An action is
// POSTed to /api/actions; by default the command waits for the agents' answers (--timeout), and
// says so when a host is offline: the command stays queued until the host returns.
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/command.hpp"
#include "common/cli_lists.hpp"
#include "common/time.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

struct ActionOptions {
  std::string host, entity_id, path, id, reason, format = "table", timeout = "30s";
  std::vector<std::string> values, hosts{"all"}, allow;
  bool tree = false, no_wait = false;
};

std::string JoinNames(const json& list) {
  std::string out;
  for (const auto& n : list) out += (out.empty() ? "" : ", ") + n.get<std::string>();
  return out;
}

std::string TargetName(const json& t) {
  std::string name = t.value("host.name", "");
  return name.empty() ? t.value("agent.id", "?") : name;
}

// A short human summary of one target's result.
std::string Summary(const std::string& type, const json& result) {
  if (result.is_null()) return "";
  if (type == "kill" && result.contains("killed")) {
    std::string out = "killed " + std::to_string(result["killed"].size()) + ":";
    for (const auto& k : result["killed"])
      out += " " + std::to_string(k.value("pid", 0)) + "(" + k.value("name", "") + ")";
    return out;
  }
  if (type == "quarantine" && result.contains("id"))
    return "vault id " + result.value("id", "") + ", sha256 " + result.value("sha256", "");
  return result.dump();
}

void PrintQuarantineList(const json& action, Format format) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : action["targets"]) {
    if (!t["result"].is_object() || !t["result"].contains("entries")) continue;
    for (const auto& e : t["result"]["entries"]) {
      if (format == Format::Json) {
        json line = e;
        line["host.name"] = TargetName(t);
        std::cout << line.dump() << "\n";
        continue;
      }
      rows.push_back({e.value("id", ""), e.value("path", ""), e.value("sha256", ""),
                      std::to_string(e.value("size", 0)), e.value("quarantined", "")});
    }
  }
  if (format == Format::Table)
    PrintTable(std::cout, {"ID", "PATH", "SHA256", "SIZE", "QUARANTINED"}, rows, 72);
}

int RunAction(const Connection& c, const std::string& type, const json& hosts, json params,
              const ActionOptions& o) {
  json body{{"type", type}, {"hosts", hosts}, {"params", std::move(params)}, {"reason", o.reason}};
  auto reply = Request(c, "POST", "/api/actions", body.dump(), "application/json");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 201) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  json action = json::parse(reply->body);
  const auto id = action.value("id", 0);
  const json offline = action.value("offline", json::array());
  if (!offline.empty())
    std::cerr << "action " << id << ": queued, will be delivered when " << JoinNames(offline)
              << (offline.size() > 1 ? " return" : " returns") << "\n";
  if (action.value("fleet_wide", false))
    std::cerr << "action " << id << ": fleet-wide; hosts that enroll later get it too\n";
  if (o.no_wait || offline.size() == action["targets"].size()) {
    if (Format f = ParseFormat(o.format); f == Format::Json)
      std::cout << action.dump() << "\n";
    else if (offline.empty())
      std::cout << "action " << id << ": " << action["status"].get<std::string>() << "\n";
    return 0;
  }
  auto wait = ParseDurationNs(o.timeout);
  if (!wait) return std::cerr << "vigil: --timeout: " << wait.error().message << "\n", 2;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(*wait);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    auto r = Request(c, "GET",
                     "/api/actions/" + std::to_string(id) +
                         "?wait=" + std::to_string(std::min<long>(left.count(), 50000)) + "ms");
    if (!r) return std::cerr << "vigil: " << r.error().message << "\n", 1;
    if (r->status != 200) return std::cerr << "vigil: " << ErrorText(*r) << "\n", 1;
    action = json::parse(r->body);
    const std::string status = action.value("status", "");
    if (status == "done" || status == "failed" || left.count() == 0) break;
  }
  const std::string status = action.value("status", "");
  const Format format = ParseFormat(o.format);
  if (type == "quarantine-list" && status == "done") {
    PrintQuarantineList(action, format);
    return 0;
  }
  if (format == Format::Json) {
    std::cout << action.dump() << "\n";
  } else {
    for (const auto& t : action["targets"]) {
      std::string line = "action " + std::to_string(id) + " " + type + " on " + TargetName(t) +
                         ": " + t.value("status", "");
      if (t.value("status", "") == "failed") line += ": " + t.value("error", "");
      if (t.value("status", "") == "done") {
        std::string s = Summary(type, t["result"]);
        if (!s.empty()) line += " (" + s + ")";
      }
      std::cout << line << "\n";
    }
  }
  if (status == "failed") return 1;
  if (status != "done") {
    std::cerr << "action " << id << ": not every host answered within " << o.timeout
              << "; the command stays queued (vigil actions shows the outcome)\n";
    return 3;
  }
  return 0;
}

void PrintActionRow(const json& a, Format format) {
  if (format == Format::Json) {
    std::cout << a.dump() << "\n";
    return;
  }
  std::string targets;
  for (const auto& t : a["targets"])
    targets += (targets.empty() ? "" : ",") + TargetName(t) + "=" + t.value("status", "");
  std::cout << a.value("time", "").substr(0, 19) << "  #" << a.value("id", 0) << "  "
            << a.value("actor", "") << "  " << a.value("type", "") << "  " << a["params"].dump()
            << "  [" << targets << "]  " << a.value("status", "")
            << (a.value("error", "").empty() ? "" : ": " + a.value("error", ""))
            << (a.value("reason", "").empty() ? "" : "  reason: " + a.value("reason", "")) << "\n";
}

int Actions(const Connection& c, bool follow, std::size_t limit, Format format) {
  std::int64_t after = 0;
  auto r = Request(c, "GET", "/api/actions?limit=" + std::to_string(limit));
  while (true) {
    if (!r) return std::cerr << "vigil: " << r.error().message << "\n", 1;
    if (r->status != 200) return std::cerr << "vigil: " << ErrorText(*r) << "\n", 1;
    std::istringstream lines(r->body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      json a = json::parse(line);
      after = std::max<std::int64_t>(after, a.value("seq", 0));
      PrintActionRow(a, format);
    }
    std::cout.flush();
    if (!follow) return 0;
    r = Request(c, "GET", "/api/actions?after=" + std::to_string(after) + "&wait=30s");
  }
}

}  // namespace

void RegisterActionCommands(CLI::App& app, CliContext& ctx) {
  auto o = std::make_shared<ActionOptions>();
  auto* action = app.add_subcommand(
      "action", "Respond on hosts: isolate, kill, quarantine, block (analyst or admin role)");
  action->require_subcommand(1);

  auto common = [&ctx, o](CLI::App* cmd, bool has_hosts_option) {
    cmd->add_option("--reason", o->reason, "Why (kept in the audit log)");
    cmd->add_option("--timeout", o->timeout, "How long to wait for the hosts' answers")
        ->capture_default_str();
    cmd->add_flag("--no-wait", o->no_wait, "Queue the action and return at once");
    AddFormatOption(cmd, &o->format);
    if (has_hosts_option)
      AddListOption(cmd, "--hosts", o->hosts,
                    "all (a standing order: hosts that enroll later get it too), or host names / "
                    "agent ids")
          ->capture_default_str();
    (void)ctx;
  };
  auto run = [&ctx, o](std::function<int(const Connection&)> body) {
    ctx.run = [&ctx, body] { return ctx.WithConnection(body); };
  };
  auto one_host = [o] { return json::array({o->host}); };
  auto host_list = [o] {
    if (o->hosts.size() == 1 && o->hosts[0] == "all") return json("all");
    return json(o->hosts);
  };

  auto* isolate = action->add_subcommand(
      "isolate", "Cut HOST off the network except loopback, the Vigil server and DNS");
  isolate->add_option("HOST", o->host, "Host name or agent id")->required();
  isolate->add_option("--allow", o->allow, "Also allow these IPs/CIDRs");
  common(isolate, false);
  isolate->callback([=] {
    run([=](const Connection& c) {
      json p = json::object();
      if (!o->allow.empty()) p["allow"] = o->allow;
      return RunAction(c, "isolate", one_host(), p, *o);
    });
  });

  auto* release = action->add_subcommand("release", "Undo isolate on HOST");
  release->add_option("HOST", o->host, "Host name or agent id")->required();
  common(release, false);
  release->callback([=] {
    run([=](const Connection& c) {
      return RunAction(c, "release", one_host(), json::object(), *o);
    });
  });

  auto* kill = action->add_subcommand("kill", "Kill a process (or its tree) by entity id");
  kill->add_option("HOST", o->host, "Host name or agent id")->required();
  kill->add_option("ENTITY_ID", o->entity_id, "process.entity_id of the process")->required();
  kill->add_flag("--tree", o->tree, "Kill its descendants too");
  common(kill, false);
  kill->callback([=] {
    run([=](const Connection& c) {
      return RunAction(c, "kill", one_host(), {{"entity_id", o->entity_id}, {"tree", o->tree}}, *o);
    });
  });

  auto* quarantine = action->add_subcommand(
      "quarantine", "Move a file into the host's quarantine vault (cannot run there)");
  quarantine->add_option("HOST", o->host, "Host name or agent id")->required();
  quarantine->add_option("PATH", o->path, "Absolute path of the file")->required();
  common(quarantine, false);
  quarantine->callback([=] {
    run([=](const Connection& c) {
      return RunAction(c, "quarantine", one_host(), {{"path", o->path}}, *o);
    });
  });

  auto* qlist = action->add_subcommand("quarantine-list", "Files in HOST's quarantine vault");
  qlist->add_option("HOST", o->host, "Host name or agent id")->required();
  common(qlist, false);
  qlist->callback([=] {
    run([=](const Connection& c) {
      return RunAction(c, "quarantine-list", one_host(), json::object(), *o);
    });
  });

  auto* restore = action->add_subcommand(
      "restore", "Put a quarantined file back, byte-identical, with its owner, mode and times");
  restore->add_option("HOST", o->host, "Host name or agent id")->required();
  restore->add_option("ID", o->id, "Vault id (vigil action quarantine-list)")->required();
  common(restore, false);
  restore->callback([=] {
    run([=](const Connection& c) {
      return RunAction(c, "restore", one_host(), {{"id", o->id}}, *o);
    });
  });

  auto* qdelete = action->add_subcommand("quarantine-delete",
                                         "Delete a file from HOST's vault for good (admin role)");
  qdelete->add_option("HOST", o->host, "Host name or agent id")->required();
  qdelete->add_option("ID", o->id, "Vault id (vigil action quarantine-list)")->required();
  common(qdelete, false);
  qdelete->callback([=] {
    run([=](const Connection& c) {
      return RunAction(c, "quarantine-delete", one_host(), {{"id", o->id}}, *o);
    });
  });

  struct ListAction {
    const char* name;
    const char* key;
    const char* what;
    const char* help;
  };
  for (const ListAction& a :
       {ListAction{"block-hash", "sha256", "SHA256",
                   "Deny execution of binaries with these SHA-256s"},
        ListAction{"unblock-hash", "sha256", "SHA256", "Allow these SHA-256s to run again"},
        ListAction{"block-ip", "ip", "IP", "Drop traffic to and from these IPs/CIDRs"},
        ListAction{"unblock-ip", "ip", "IP", "Undo block-ip"},
        ListAction{"block-domain", "domain", "DOMAIN",
                   "Drop traffic to the addresses these domains resolve to"},
        ListAction{"unblock-domain", "domain", "DOMAIN", "Undo block-domain"}}) {
    auto* cmd = action->add_subcommand(a.name, a.help);
    cmd->add_option(a.what, o->values, a.what)->required();
    common(cmd, true);
    std::string type = a.name, key = a.key;
    cmd->callback([=] {
      run([=](const Connection& c) {
        return RunAction(c, type, host_list(), {{key, o->values}}, *o);
      });
    });
  }

  struct LogOptions {
    bool follow = false;
    std::size_t limit = 1000;
    std::string format = "table";
  };
  auto l = std::make_shared<LogOptions>();
  auto* actions = app.add_subcommand("actions", "The audit log of response actions, one per line");
  actions->add_flag("--follow,-f", l->follow, "Keep printing actions as they change");
  actions->add_option("--limit", l->limit, "At most this many (the newest)")->capture_default_str();
  AddFormatOption(actions, &l->format);
  actions->callback([&ctx, l] {
    ctx.run = [&ctx, l] {
      return ctx.WithConnection([&](const Connection& c) {
        return Actions(c, l->follow, l->limit, ParseFormat(l->format));
      });
    };
  });
}

}  // namespace vigil::cli
