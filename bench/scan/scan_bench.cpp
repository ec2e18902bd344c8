// YARA scan benchmark: a full file scan of a tree with every rule of the given rule paths against
// `yara -r -N -p N` with the same rules and threads in the same run (both end to end: rule
// compilation included), a rescan of the unchanged tree through the unchanged-file cache, and a
// memory scan of every process. Uncapped (--cpu 0) so the numbers measure the scanner itself.
//   bench_scan --rules DIR... --paths PATH... [--threads N] [--skip-yara] [--skip-memory]
#include <stdio.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/scan/file_scanner.hpp"
#include "agent/scan/memory_scanner.hpp"

using namespace vigil::agent::scan;
namespace fs = std::filesystem;

namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

struct Timed {
  double seconds = 0;
  ScanSummary summary;
  std::uint64_t findings = 0;
};

std::shared_ptr<const RuleSet> Compile(const std::vector<fs::path>& rule_paths) {
  auto rules = RuleSet::Load(rule_paths);
  if (!rules) {
    std::fprintf(stderr, "%s\n", rules.error().message.c_str());
    std::exit(2);
  }
  return *rules;
}

Timed FileScan(std::shared_ptr<const RuleSet> rules, const std::vector<std::string>& paths,
               int threads, ScanCache* cache) {
  const auto t0 = std::chrono::steady_clock::now();
  FileScanOptions o;
  o.walk.paths = paths;
  o.threads = threads;
  o.governor.cpu_percent = 0;
  o.governor.idle_io = false;
  o.governor.nice = false;
  o.splay_random = 0;
  o.cache = cache;
  ScanControl control;
  SystemClock clock;
  Timed out;
  FileScanner scanner(std::move(rules), o, {});
  auto s = scanner.Run(control, clock,
                       [&](const vigil::v1::Event& e) {
                         if (e.event_action() == kActionMatch) ++out.findings;
                       },
                       {});
  out.seconds = Since(t0);
  if (s) out.summary = *s;
  return out;
}

// The yara CLI takes one target: compile once with yarac (timed), then `yara -C` per path.
double YaraCli(const std::vector<fs::path>& rule_paths, const std::vector<std::string>& paths,
               int threads, std::uint64_t& lines) {
  const std::string compiled = (fs::temp_directory_path() / "bench_scan_rules.yarc").string();
  std::string cmd = "yarac -w";
  for (const auto& dir : rule_paths)
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() &&
          (e.path().extension() == ".yar" || e.path().extension() == ".yara"))
        cmd += " '" + e.path().string() + "'";
  cmd += " '" + compiled + "'";
  const auto t0 = std::chrono::steady_clock::now();
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "yarac failed\n");
  lines = 0;
  for (const auto& p : paths) {
    const std::string scan = "yara -C -r -N -w -p " + std::to_string(threads) + " '" + compiled +
                             "' '" + p + "' 2>/dev/null";
    FILE* f = popen(scan.c_str(), "r");
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) ++lines;
    pclose(f);
  }
  const double secs = Since(t0);
  fs::remove(compiled);
  return secs;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("YARA scan benchmark");
  std::vector<std::string> rules_in, paths;
  int threads = 2;
  bool skip_yara = false, skip_memory = false;
  app.add_option("--rules", rules_in)->required();
  app.add_option("--paths", paths)->required();
  app.add_option("--threads", threads);
  app.add_flag("--skip-yara", skip_yara);
  app.add_flag("--skip-memory", skip_memory);
  CLI11_PARSE(app, argc, argv);
  std::vector<fs::path> rule_paths(rules_in.begin(), rules_in.end());

  // Warm the page cache (a read with a trivial rule) so no side pays the first cold read.
  {
    auto warm =
        FileScan(*RuleSet::FromString("rule w { condition: false }"), paths, threads, nullptr);
    std::printf("tree: %llu files, %.2f GB (warm-up read %.1f s)\n",
                static_cast<unsigned long long>(warm.summary.progress.files_total),
                warm.summary.progress.bytes_total / 1e9, warm.seconds);
  }
  // End to end like the CLI: compile the rules, walk, scan.
  const auto t0 = std::chrono::steady_clock::now();
  auto rules = Compile(rule_paths);
  const double compile = Since(t0);
  ScanCache cache;
  auto first = FileScan(rules, paths, threads, &cache);
  const double total = compile + first.seconds;
  const double gb = first.summary.progress.bytes_done / 1e9;
  std::printf("rules: %zu from %zu files, compiled in %.2f s\n", rules->rule_count(),
              rules->files().size(), compile);
  std::printf(
      "vigil  full scan: %.2f s end to end (scan %.2f s, %.1f MB/s, %llu findings, cpu %.1f s)\n",
      total, first.seconds, gb * 1e3 / first.seconds,
      static_cast<unsigned long long>(first.findings),
      std::chrono::duration<double>(first.summary.cpu).count());
  std::uint64_t yara_lines = 0;
  if (!skip_yara) {
    const double y = YaraCli(rule_paths, paths, threads, yara_lines);
    std::printf("yarac + yara -C -r -N -p %d: %.2f s end to end (%llu findings)\n", threads, y,
                static_cast<unsigned long long>(yara_lines));
    std::printf("ratio yara/vigil: %.2f (>= 1.0: vigil is as fast or faster)\n", y / total);
  }
  auto again = FileScan(rules, paths, threads, &cache);
  std::printf(
      "vigil  rescan of the unchanged tree: %.3f s, %llu of %llu files skipped; "
      "%.1fx faster than the first scan\n",
      again.seconds, static_cast<unsigned long long>(again.summary.progress.files_cached),
      static_cast<unsigned long long>(again.summary.progress.files_total),
      first.seconds / again.seconds);

  if (!skip_memory) {
    MemoryScanOptions mo;
    mo.threads = threads;
    mo.governor.cpu_percent = 0;
    mo.governor.idle_io = false;
    mo.governor.nice = false;
    mo.splay_random = 0;
    ScanControl control;
    SystemClock clock;
    std::uint64_t findings = 0;
    MemoryScanner scanner(rules, mo, {});
    const auto t1 = std::chrono::steady_clock::now();
    auto s = scanner.Run(control, clock,
                         [&](const vigil::v1::Event& e) {
                           if (e.event_action() == kActionMatch) ++findings;
                         },
                         {});
    const double secs = Since(t1);
    if (s) {
      const double mb = s->progress.bytes_done / 1e6;
      std::printf(
          "memory scan: %llu processes, %.1f MB in %.2f s (%.1f MB/s), %llu findings, "
          "\n",
          static_cast<unsigned long long>(s->progress.processes_done), mb, secs, mb / secs,
          static_cast<unsigned long long>(findings));
    }
  }
  return 0;
}
