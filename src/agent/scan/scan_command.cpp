// CLI11 front end of the one-shot scan; see scan_command.hpp.
#include "agent/scan/scan_command.hpp"

#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/enrich/hash_cache.hpp"
#include "agent/scan/file_scanner.hpp"
#include "agent/scan/memory_scanner.hpp"
#include "agent/scan/output.hpp"
#include "common/cli_lists.hpp"
#include "common/host_info.hpp"
#include "common/time.hpp"

namespace vigil::agent::scan {
namespace {

namespace fs = std::filesystem;

struct CommonArgs {
  std::vector<std::string> rules;
  double cpu = 5.0;
  int threads = 1;
  int timeout = 60;
  std::string format = "table";
  bool progress = false;
};

void AddCommon(CLI::App* cmd, CommonArgs& a) {
  AddListOption(cmd, "--rules", a.rules, "YARA rule files or directories (*.yar, *.yara)")
      ->required();
  cmd->add_option("--cpu", a.cpu, "CPU cap in percent of one core, all threads together (0: none)")
      ->capture_default_str();
  cmd->add_option("--threads", a.threads, "Scanner threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  cmd->add_option("--timeout", a.timeout, "Per file/process budget in seconds of CPU (0: none)")
      ->capture_default_str();
  cmd->add_option("--format", a.format, "table or json (one event per line)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->add_flag("--progress", a.progress, "Report progress on stderr every second");
}

std::string RandomId() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

// Cancels the scan on SIGINT/SIGTERM: the signals are blocked in every thread and taken by
// sigwait in a watcher thread, which may then lock like any thread.
class SignalCanceller {
 public:
  explicit SignalCanceller(ScanControl& control) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // used to wake the watcher at the end
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    watcher_ = std::thread([this, &control] {
      int sig = 0;
      sigwait(&set_, &sig);
      if (sig != SIGUSR1) {
        std::cerr << "scan: cancelling\n";
        control.Cancel();
      }
    });
  }
  ~SignalCanceller() {
    pthread_kill(watcher_.native_handle(), SIGUSR1);
    watcher_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalCanceller(const SignalCanceller&) = delete;
  SignalCanceller& operator=(const SignalCanceller&) = delete;

 private:
  sigset_t set_{}, old_{};
  std::thread watcher_;
};

int Finish(const Result<ScanSummary>& summary, std::uint64_t findings) {
  if (!summary) {
    std::cerr << "scan: " << summary.error().message << '\n';
    return 2;
  }
  const auto& p = summary->progress;
  std::fprintf(stderr, "scan: %s%s; cpu %.2f s, throttled %.2f s, wall %.2f s\n",
               ProgressLine(p).c_str(), summary->cancelled ? " (cancelled)" : "",
               std::chrono::duration<double>(summary->cpu).count(),
               std::chrono::duration<double>(summary->throttled).count(),
               std::chrono::duration<double>(summary->wall).count());
  return findings > 0 ? 1 : 0;
}

}  // namespace

int RunScanCommand(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  if (!args.empty() && args.front() == "scan") args.erase(args.begin());
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order

  CLI::App app("Local one-shot YARA scan of files or process memory", "vigil-agent scan");
  app.require_subcommand(1);
  CommonArgs common;
  auto* files = app.add_subcommand("files", "Scan files and directories");
  auto* memory = app.add_subcommand("memory", "Scan the memory of running processes");
  AddCommon(files, common);
  AddCommon(memory, common);

  std::vector<std::string> paths, excludes;
  double max_size_mb = 100, io_mbps = 0;
  bool one_fs = false, no_cache = false;
  std::string window, splay = "0", state_dir = "/var/lib/vigil-agent";
  AddListOption(files, "--paths", paths, "Files, directories or globs")->required();
  AddListOption(files, "--exclude", excludes, "Globs of paths or names to skip");
  files->add_option("--max-size", max_size_mb, "Skip files larger than this (MB; 0: no limit)")
      ->capture_default_str();
  files->add_flag("--one-fs", one_fs, "Stay on the file system of each path");
  files->add_option("--io", io_mbps, "I/O cap in MB/s (0: none)")->capture_default_str();
  files->add_option("--window", window, "Only scan between these local times, e.g. 01:00-05:00");
  files->add_option("--splay", splay, "Random delay before starting, e.g. 30m")
      ->capture_default_str();
  files->add_option("--state-dir", state_dir, "Where the unchanged-file cache is kept")
      ->capture_default_str();
  files->add_flag("--no-cache", no_cache, "Neither use nor update the unchanged-file cache");

  std::vector<pid_t> pids;
  double max_region_mb = 1024;
  AddListOption(memory, "--pids", pids, "Processes to scan (default: all)");
  memory->add_option("--max-region", max_region_mb, "Skip memory regions larger than this (MB)")
      ->capture_default_str();

  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  std::vector<fs::path> rule_paths(common.rules.begin(), common.rules.end());
  auto rules = RuleSet::Load(rule_paths);
  if (!rules) {
    std::cerr << "scan: " << rules.error().message << '\n';
    return 2;
  }
  for (const auto& w : (*rules)->warnings()) std::cerr << "warning: " << w << '\n';

  const HostInfo host = ReadHostInfo();
  ScanContext context{RandomId(), (*rules)->version(), host.host_id, host.hostname, host.boot_id};
  const OutputFormat format = common.format == "json" ? OutputFormat::kJson : OutputFormat::kTable;
  std::uint64_t findings = 0;
  auto sink = [&](const v1::Event& e) {
    if (e.event_action() == kActionMatch) ++findings;
    WriteEvent(e, format, std::cout, std::cerr);
    std::cout.flush();
  };
  ProgressCallback progress;
  if (common.progress) progress = [](const Progress& p) { std::cerr << ProgressLine(p) << '\n'; };

  GovernorOptions governor;
  governor.cpu_percent = common.cpu;
  ScanControl control;
  SystemClock clock;
  SignalCanceller canceller(control);

  if (files->parsed()) {
    governor.io_mbps = io_mbps;
    if (!window.empty()) {
      auto w = ParseWindow(window);
      if (!w) {
        std::cerr << "scan: " << w.error().message << '\n';
        return 2;
      }
      governor.schedule.window = *w;
    }
    auto splay_ns = ParseDurationNs(splay);
    if (!splay_ns) {
      std::cerr << "scan: --splay: " << splay_ns.error().message << '\n';
      return 2;
    }
    governor.schedule.splay = std::chrono::seconds(*splay_ns / 1'000'000'000);

    FileScanOptions options;
    options.walk.paths = paths;
    options.walk.excludes = excludes;
    options.walk.max_size = static_cast<std::uint64_t>(max_size_mb * 1e6);
    options.walk.one_fs = one_fs;
    options.threads = common.threads;
    options.timeout_seconds = common.timeout;
    options.governor = governor;
    ScanCache cache;
    const fs::path cache_file = fs::path(state_dir) / "scan" / "file-cache.bin";
    if (!no_cache) {
      if (auto loaded = cache.Load(cache_file); !loaded)
        std::cerr << "warning: " << loaded.error().message << " (starting empty)\n";
      options.cache = &cache;
    }
    HashCache hashes(4096);
    options.hashes = &hashes;
    FileScanner scanner(*rules, std::move(options), context);
    auto summary = scanner.Run(control, clock, sink, progress);
    if (!no_cache) {
      if (auto saved = cache.Save(cache_file); !saved)
        std::cerr << "warning: unchanged-file cache not saved: " << saved.error().message << '\n';
    }
    return Finish(summary, findings);
  }

  MemoryScanOptions options;
  options.pids = pids;
  options.threads = common.threads;
  options.timeout_seconds = common.timeout;
  options.max_region_size = static_cast<std::uint64_t>(max_region_mb * 1e6);
  options.governor = governor;
  MemoryScanner scanner(*rules, std::move(options), context);
  auto summary = scanner.Run(control, clock, sink, progress);
  return Finish(summary, findings);
}

}  // namespace vigil::agent::scan
