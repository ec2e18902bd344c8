// vigil ioc sweep sha256 VALUE... --paths P,... [--hosts all|H,...]: a live hash sweep — agents
// hash the files under the paths (reusing their hash cache, so unchanged files are not read
// again) and report every file whose SHA-256 is on the list, whether or not it ever ran. A sweep
// is a scan job of kind hash (POST /api/scans); progress and findings as for `vigil scan`.
// `vigil ioc find` (the history search) is in hunt_commands.cpp.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "agent/scan/hash_list.hpp"
#include "cli/command.hpp"
#include "cli/scan_follow.hpp"
#include "common/cli_lists.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

struct SweepOptions {
  std::string kind, reason, window, splay, format = "table";
  std::vector<std::string> values, hosts{"all"}, paths, exclude;
  double max_size_mb = 100, cpu = 5, io = 0;
  bool one_fs = false, no_wait = false;
  int threads = 1;
};

int Sweep(const Connection& c, const SweepOptions& o) {
  auto list = agent::scan::ParseSha256List(o.values);
  if (!list) return std::cerr << "vigil: " << list.error().message << "\n", 2;
  json body{{"kind", "hash"},       {"sha256", *list},      {"hosts", o.hosts},
            {"paths", o.paths},     {"exclude", o.exclude}, {"max_size_mb", o.max_size_mb},
            {"one_fs", o.one_fs},   {"cpu", o.cpu},         {"io", o.io},
            {"threads", o.threads}, {"reason", o.reason}};
  if (!o.window.empty()) body["window"] = o.window;
  if (!o.splay.empty()) body["splay"] = o.splay;
  auto reply = Request(c, "POST", "/api/scans", body.dump(), "application/json");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  json job = json::parse(reply->body);
  const std::int64_t id = job["id"];
  if (o.format == "json" && o.no_wait) return std::cout << job.dump() << "\n", 0;
  if (o.format != "json")
    std::cout << "sweep " << id << " for " << list->size() << " SHA-256 value(s) sent to "
              << job["hosts"].size() << " host(s)\n";
  if (o.no_wait) return 0;
  if (int rc = FollowScan(c, id, o.format); rc != 0) return rc;
  return PrintScanFindings(c, id, o.format);
}

}  // namespace

void RegisterSweepCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* ioc = IocCommand(app);
  auto o = std::make_shared<SweepOptions>();
  auto* sweep = ioc->add_subcommand(
      "sweep",
      "Live sweep: agents hash the files under --paths (unchanged files come from their hash "
      "cache) and report every file whose SHA-256 is one of the values, under a CPU cap, with "
      "progress per host; then the files found (host, path, size, hash). `ioc find` searches "
      "the history instead");
  sweep->add_option("kind", o->kind, "What the values are (sha256)")
      ->required()
      ->check(CLI::IsMember({"sha256"}));
  sweep->add_option("values", o->values, "SHA-256 values, 64 hex digits each")->required();
  AddListOption(sweep, "--paths", o->paths, "Absolute directories, files or globs")->required();
  AddListOption(sweep, "--hosts", o->hosts, "all, or host names / agent ids")
      ->capture_default_str();
  AddListOption(sweep, "--exclude", o->exclude, "Globs of paths or names to skip");
  sweep->add_option("--max-size", o->max_size_mb, "Skip files larger than this (MB; 0: no limit)")
      ->capture_default_str();
  sweep->add_flag("--one-fs", o->one_fs, "Stay on the file system of each path");
  sweep->add_option("--cpu", o->cpu, "CPU cap, % of one core, per host (0: none)")
      ->capture_default_str();
  sweep->add_option("--io", o->io, "I/O cap in MB/s per host (0: none)")->capture_default_str();
  sweep->add_option("--threads", o->threads, "Hashing threads per host")->capture_default_str();
  sweep->add_option("--window", o->window,
                    "Only sweep between these local times, e.g. 01:00-05:00");
  sweep->add_option("--splay", o->splay, "Random delay per host before starting, e.g. 30m");
  sweep->add_option("--reason", o->reason, "Why (kept in the audit log)");
  sweep->add_flag("--no-wait", o->no_wait, "Return once the sweep is sent (vigil scan follow ID)");
  sweep
      ->add_option("--format", o->format,
                   "table (progress bars, then the files found) or json (status objects while "
                   "it runs, then one finding event per line)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  sweep->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection([&](const Connection& c) { return Sweep(c, *o); });
    };
  });
}

}  // namespace vigil::cli
