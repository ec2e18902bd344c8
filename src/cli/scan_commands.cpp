// vigil scan files|memory|list|show|follow|pause|resume|cancel: YARA scan jobs across the fleet,
// with live progress bars per host (from the job's server-sent event stream). FollowScan and
// PrintScanFindings also serve hash sweeps (`vigil ioc sweep`, sweep_commands.cpp).
#include <unistd.h>

#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/scan_follow.hpp"
#include "common/cli_lists.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

struct ScanOptions {
  std::string kind, rules, reason, window, splay, every, format = "table";
  std::int64_t rules_version = 0;
  std::vector<std::string> hosts{"all"}, paths, exclude;
  std::vector<int> pids;
  double max_size_mb = 100, cpu = 5, io = 0;
  bool one_fs = false, no_wait = false, findings = false;
  int threads = 1, timeout = 60;
  std::int64_t id = 0;
};

int Failed(const Result<HttpReply>& reply) {
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
}

std::string Bytes(std::int64_t n) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  std::ostringstream out;
  out.precision(u ? 1 : 0);
  out << std::fixed << v << " " << units[u];
  return out.str();
}

// One host's line: name, a bar, counts, findings, ETA or the final state.
std::string HostLine(const json& h, const std::string& kind) {
  const bool files = kind != "memory";
  const auto total =
      files ? h.value("bytes_total", std::int64_t{0}) : h.value("processes_total", std::int64_t{0});
  const auto done =
      files ? h.value("bytes_done", std::int64_t{0}) : h.value("processes_done", std::int64_t{0});
  const double fraction = total > 0 ? std::min(1.0, static_cast<double>(done) / total) : 0.0;
  const std::string status = h.value("status", "");
  constexpr int kWidth = 24;
  const int filled = status == "done" ? kWidth : static_cast<int>(fraction * kWidth);
  std::ostringstream out;
  std::string name = h.value("host.name", "");
  if (name.empty()) name = h.value("agent.id", "").substr(0, 12);
  out << name.substr(0, 20) << std::string(21 - std::min<std::size_t>(name.size(), 20), ' ') << "["
      << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] ";
  out.precision(0);
  out << std::fixed << (status == "done" ? 100.0 : fraction * 100) << "%  ";
  if (files)
    out << h.value("files_done", 0) << "/" << h.value("files_total", 0) << " files, " << Bytes(done)
        << "/" << Bytes(total);
  else
    out << done << "/" << total << " processes";
  if (kind == "hash")
    out << " (" << h.value("files_hashed", 0) << " hashed, " << h.value("files_cached", 0)
        << " from the cache)";
  out << ", " << h.value("findings", 0) << " finding(s)  " << status;
  if (h.contains("eta_seconds") && status == "running")
    out << ", ~" << h["eta_seconds"] << " s left";
  if (h.contains("error")) out << ": " << h["error"].get<std::string>();
  return out.str();
}

}  // namespace

int FollowScan(const Connection& c, std::int64_t id, const std::string& format) {
  const bool tty = ::isatty(STDOUT_FILENO) && format != "json";
  std::size_t drawn = 0;
  json last;
  auto r = StreamEvents(c, "/api/scans/" + std::to_string(id) + "/stream",
                        [&](const std::string& event, const std::string& data) {
                          if (event == "end") return false;
                          if (event == "error") {
                            std::cerr << "vigil: " << data << "\n";
                            return false;
                          }
                          last = json::parse(data, nullptr, false);
                          if (last.is_discarded()) return true;
                          if (format == "json") {
                            std::cout << last.dump() << "\n" << std::flush;
                            return true;
                          }
                          if (tty && drawn) std::cout << "\x1b[" << drawn << "A";
                          drawn = 0;
                          for (const auto& h : last["hosts"]) {
                            std::cout << (tty ? "\x1b[2K" : "") << HostLine(h, last["kind"])
                                      << "\n";
                            ++drawn;
                          }
                          std::cout << std::flush;
                          return true;
                        });
  if (!r) return std::cerr << "vigil: " << r.error().message << "\n", 1;
  if (last.is_object() && format != "json") {
    std::int64_t findings = 0, failed = 0;
    for (const auto& h : last["hosts"]) {
      findings += h.value("findings", std::int64_t{0});
      failed += h.value("status", "") == "failed";
    }
    std::cout << "scan " << id << ": " << findings << " finding(s) on " << last["hosts"].size()
              << " host(s)" << (failed ? ", " + std::to_string(failed) + " failed" : "")
              << " (vigil scan show " << id << " --findings)\n";
  }
  return 0;
}

int PrintScanFindings(const Connection& c, std::int64_t id, const std::string& format) {
  auto reply = Request(c, "GET", "/api/scans/" + std::to_string(id) + "/findings");
  if (!reply || reply->status != 200) return Failed(reply);
  std::istringstream lines(reply->body);
  std::string line;
  std::vector<std::vector<std::string>> rows, hash_rows;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (format == "json") {
      std::cout << line << "\n";
      continue;
    }
    json e = json::parse(line);
    if (Cell(e, "event.action") == "hash_match") {
      hash_rows.push_back({Cell(e, "host.name"), Cell(e, "file.path"), Cell(e, "file.size"),
                           Cell(e, "file.hash.sha256"), Cell(e, "vigil.scan.id")});
      continue;
    }
    std::string where = Cell(e, "file.path");
    if (where.empty())
      where = "pid " + Cell(e, "process.pid") + " " + Cell(e, "process.executable");
    rows.push_back({Cell(e, "host.name"), Cell(e, "yara.rule"), Cell(e, "yara.namespace"), where,
                    Cell(e, "vigil.scan.id")});
  }
  if (format == "json") return 0;
  if (!rows.empty() || hash_rows.empty())
    PrintTable(std::cout, {"HOST", "RULE", "NAMESPACE", "WHERE", "RUN"}, rows);
  if (!hash_rows.empty())
    PrintTable(std::cout, {"HOST", "PATH", "SIZE", "SHA256", "RUN"}, hash_rows);
  return 0;
}

namespace {

int StartScan(const Connection& c, const ScanOptions& o) {
  json body{{"kind", o.kind},    {"rules", o.rules},     {"hosts", o.hosts},
            {"cpu", o.cpu},      {"threads", o.threads}, {"timeout_seconds", o.timeout},
            {"reason", o.reason}};
  if (o.rules_version) body["rules_version"] = o.rules_version;
  if (o.kind == "files") {
    body["paths"] = o.paths;
    body["exclude"] = o.exclude;
    body["max_size_mb"] = o.max_size_mb;
    body["one_fs"] = o.one_fs;
    body["io"] = o.io;
  } else {
    body["pids"] = o.pids;
  }
  if (!o.window.empty()) body["window"] = o.window;
  if (!o.splay.empty()) body["splay"] = o.splay;
  if (!o.every.empty()) body["every"] = o.every;
  auto reply = Request(c, "POST", "/api/scans", body.dump(), "application/json");
  if (!reply || reply->status != 200) return Failed(reply);
  json job = json::parse(reply->body);
  const std::int64_t id = job["id"];
  if (o.format == "json" && o.no_wait) return std::cout << job.dump() << "\n", 0;
  if (o.format != "json")
    std::cout << "scan job " << id << " (" << o.kind << ", rules " << o.rules << " v"
              << job["rules_version"] << ") sent to " << job["hosts"].size() << " host(s)"
              << (o.every.empty() ? "" : ", every " + o.every) << "\n";
  if (o.no_wait) return 0;
  return FollowScan(c, id, o.format);
}

int ListScans(const Connection& c, const std::string& format) {
  auto reply = Request(c, "GET", "/api/scans");
  if (!reply || reply->status != 200) return Failed(reply);
  json jobs = json::parse(reply->body);
  if (format == "json") {
    for (const auto& j : jobs) std::cout << j.dump() << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& j : jobs) {
    std::size_t finished = 0;
    std::int64_t findings = 0;
    for (const auto& h : j["hosts"]) {
      const std::string s = h.value("status", "");
      finished += s == "done" || s == "failed" || s == "cancelled";
      findings += h.value("findings", std::int64_t{0});
    }
    rows.push_back({Cell(j, "id"), Cell(j, "kind"),
                    Cell(j, "rules") + " v" + Cell(j, "rules_version"), Cell(j, "status"),
                    std::to_string(finished) + "/" + std::to_string(j["hosts"].size()),
                    std::to_string(findings), Cell(j, "runs"),
                    j.value("every_seconds", 0) ? Cell(j, "every_seconds") + " s" : "once",
                    Cell(j, "owner"), Cell(j, "created").substr(0, 19)});
  }
  PrintTable(std::cout,
             {"ID", "KIND", "RULES", "STATUS", "HOSTS DONE", "FINDINGS", "RUNS", "EVERY", "OWNER",
              "CREATED"},
             rows);
  return 0;
}

int ShowScan(const Connection& c, std::int64_t id, bool findings, const std::string& format) {
  auto reply = Request(c, "GET", "/api/scans/" + std::to_string(id));
  if (!reply || reply->status != 200) return Failed(reply);
  json job = json::parse(reply->body);
  if (format == "json") {
    std::cout << job.dump() << "\n";
  } else {
    std::cout << "scan job " << id << ": " << Cell(job, "kind") << " with " << Cell(job, "rules")
              << " v" << Cell(job, "rules_version") << ", " << Cell(job, "status") << ", run "
              << Cell(job, "run") << " started " << Cell(job, "started") << "\n";
    for (const auto& h : job["hosts"]) std::cout << "  " << HostLine(h, job["kind"]) << "\n";
  }
  return findings ? PrintScanFindings(c, id, format) : 0;
}

int ControlScan(const Connection& c, std::int64_t id, const std::string& op) {
  auto reply =
      Request(c, "POST", "/api/scans/" + std::to_string(id) + "/" + op, "{}", "application/json");
  if (!reply || reply->status != 200) return Failed(reply);
  std::cout << "scan " << id << ": " << op << " sent\n";
  return 0;
}

void AddJobOptions(CLI::App* cmd, ScanOptions& o) {
  AddListOption(cmd, "--hosts", o.hosts, "all, or host names / agent ids")->capture_default_str();
  cmd->add_option("--rules", o.rules, "YARA rule set (vigil yara list)")->required();
  cmd->add_option("--rules-version", o.rules_version, "Rule set version (default: the latest)");
  cmd->add_option("--cpu", o.cpu, "CPU cap, % of one core, per host")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Scanner threads per host")->capture_default_str();
  cmd->add_option("--timeout", o.timeout, "YARA budget per file or process, seconds")
      ->capture_default_str();
  cmd->add_option("--window", o.window, "Only scan between these local times, e.g. 01:00-05:00");
  cmd->add_option("--splay", o.splay, "Random delay per host before starting, e.g. 30m");
  cmd->add_option("--every", o.every, "Repeat the scan with this period, e.g. 24h");
  cmd->add_option("--reason", o.reason, "Why (kept in the audit log)");
  cmd->add_flag("--no-wait", o.no_wait, "Return once the job is sent, without following it");
  cmd->add_option("--format", o.format, "table (progress bars) or json (status objects)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

}  // namespace

void RegisterScanCommands(CLI::App& app, CliContext& ctx) {
  auto o = std::make_shared<ScanOptions>();
  auto* scan = app.add_subcommand(
      "scan", "YARA scan jobs on hosts: files, memory, list, show, pause, resume, cancel");
  scan->require_subcommand(1);
  auto run = [&ctx](std::function<int(const Connection&)> body) {
    return [&ctx, body] { ctx.run = [&ctx, body] { return ctx.WithConnection(body); }; };
  };

  auto* files = scan->add_subcommand("files", "Scan files on hosts and follow the progress");
  AddJobOptions(files, *o);
  AddListOption(files, "--paths", o->paths, "Absolute paths or globs")->required();
  AddListOption(files, "--exclude", o->exclude, "Globs of paths or names to skip");
  files->add_option("--max-size", o->max_size_mb, "Skip files larger than this (MB)")
      ->capture_default_str();
  files->add_flag("--one-fs", o->one_fs, "Stay on the file system of each path");
  files->add_option("--io", o->io, "I/O cap in MB/s per host (0: none)")->capture_default_str();
  files->callback(run([o](const Connection& c) {
    o->kind = "files";
    return StartScan(c, *o);
  }));

  auto* memory = scan->add_subcommand("memory", "Scan process memory on hosts");
  AddJobOptions(memory, *o);
  AddListOption(memory, "--pids", o->pids, "Processes to scan (default: all)");
  memory->callback(run([o](const Connection& c) {
    o->kind = "memory";
    return StartScan(c, *o);
  }));

  auto* list = scan->add_subcommand("list", "Scan jobs, newest first");
  AddFormatOption(list, &o->format);
  list->callback(run([o](const Connection& c) { return ListScans(c, o->format); }));

  auto* show = scan->add_subcommand("show", "A job's state per host (and --findings)");
  show->add_option("id", o->id, "Scan job id")->required();
  show->add_flag("--findings", o->findings, "Also list its findings");
  AddFormatOption(show, &o->format);
  show->callback(
      run([o](const Connection& c) { return ShowScan(c, o->id, o->findings, o->format); }));

  auto* follow = scan->add_subcommand("follow", "Follow a job's progress until it ends");
  follow->add_option("id", o->id, "Scan job id")->required();
  AddFormatOption(follow, &o->format);
  follow->callback(run([o](const Connection& c) { return FollowScan(c, o->id, o->format); }));

  const std::pair<const char*, const char*> controls[] = {
      {"pause", "Pause a running scan job on its hosts (resume continues it)"},
      {"resume", "Resume a paused scan job on its hosts"},
      {"cancel", "Cancel a scan job on its hosts (a recurring job stops recurring)"}};
  for (const auto& [op, help] : controls) {
    auto* cmd = scan->add_subcommand(op, help);
    cmd->add_option("id", o->id, "Scan job id")->required();
    cmd->callback(
        run([o, op = std::string(op)](const Connection& c) { return ControlScan(c, o->id, op); }));
  }
}

}  // namespace vigil::cli
