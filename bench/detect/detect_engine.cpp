// Live detection throughput: every SigmaHQ Windows process_creation rule (rules/ and
// rules-threat-hunting/) plus the built-in Linux pack, over the events of the EVTX corpus
// (../shared/corpora/evtx) mapped as `vigil import evtx` maps them, repeated to the requested
// count. One thread; events/s from the thread's CPU time (the machine is shared) and wall time. The
// baseline is the same engine and rules without the Vectorscan prefilter, in the same run, over the
// first --baseline-events events; matches are compared over those. See bench/BENCHMARKS.md ("Live
// detection").
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "detect/detector.hpp"
#include "detect/engine.hpp"
#include "hunt/evtx_reader.hpp"
#include "hunt/windows_mapping.hpp"

namespace fs = std::filesystem;
using namespace vigil;

namespace {

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct RunResult {
  double cpu = 0, wall = 0;
  std::uint64_t matches = 0;
  detect::EngineCounters counters;
};

RunResult Run(detect::Engine& engine, const std::vector<v1::Event>& events, std::uint64_t n) {
  std::vector<detect::EngineMatch> out;
  RunResult r;
  const double cpu0 = ThreadCpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    out.clear();
    engine.Evaluate(events[i % events.size()], out);
    r.matches += out.size();
  }
  r.cpu = ThreadCpuSeconds() - cpu0;
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  r.counters = engine.counters();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_detect_engine: live detection events/s with and without the prefilter"};
  std::string corpus = VIGIL_SIGMA_CORPUS, evtx = VIGIL_EVTX_CORPUS;
  std::uint64_t events_n = 5'000'000, baseline_n = 50'000;
  app.add_option("--corpus", corpus, "Sigma corpus (rules/, regression/)")->capture_default_str();
  app.add_option("--evtx", evtx, "Directory of .evtx files replayed")->capture_default_str();
  app.add_option("--events", events_n, "Events evaluated with the prefilter")
      ->capture_default_str();
  app.add_option("--baseline-events", baseline_n, "Events evaluated without it")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::size_t sigma_files = 0, unsupported = 0, sigma_rules = 0;
  auto load_rules = [&]() -> Result<std::vector<detect::LiveRule>> {
    std::vector<detect::LiveRule> rules;
    sigma_files = unsupported = 0;
    std::vector<fs::path> files;
    for (const char* dir : {"rules", "rules-threat-hunting"}) {
      const fs::path root = fs::path(corpus) / dir / "windows/process_creation";
      if (!fs::is_directory(root)) continue;
      for (const auto& f : fs::recursive_directory_iterator(root))
        if (f.path().extension() == ".yml") files.push_back(f.path());
    }
    std::ranges::sort(files);
    for (const auto& path : files) {
      ++sigma_files;
      auto spec = detect::ParseRule(ReadFile(path), detect::RuleKind::Sigma, path.stem().string());
      auto live = spec ? detect::CompileLive(*spec)
                       : Result<detect::LiveRule>(std::unexpected(spec.error()));
      if (!live) {
        ++unsupported;
        continue;
      }
      rules.push_back(std::move(*live));
    }
    sigma_rules = rules.size();
    for (const auto& b : detect::BuiltinRules()) {
      auto spec = detect::ParseRule(b.source, detect::RuleKind::Eql, b.file);
      if (!spec) return Fail(std::string(b.file) + ": " + spec.error().message);
      auto live = detect::CompileLive(*spec);
      if (!live) return Fail(std::string(b.file) + ": " + live.error().message);
      rules.push_back(std::move(*live));
    }
    return rules;
  };
  auto rules = load_rules();
  if (!rules) return std::cerr << rules.error().message << "\n", 1;

  std::vector<v1::Event> events;
  std::size_t process = 0;
  std::vector<fs::path> evtx_files;
  for (const auto& f : fs::recursive_directory_iterator(evtx))
    if (f.path().extension() == ".evtx") evtx_files.push_back(f.path());
  std::ranges::sort(evtx_files);
  for (const auto& path : evtx_files) {
    auto contents = hunt::ReadEvtxFile(path);
    if (!contents) continue;
    for (const auto& rec : contents->records)
      if (auto e = hunt::MapWindowsEvent(rec)) {
        process += e->event_category() == "process";
        events.push_back(std::move(*e));
      }
  }
  if (events.empty()) return std::cerr << "no events under " << evtx << "\n", 1;
  std::cout << "rules: " << sigma_rules << " Sigma process_creation (of " << sigma_files
            << " files; " << unsupported << " not supported) + " << rules->size() - sigma_rules
            << " Linux = " << rules->size() << "\n"
            << "events: " << events.size() << " distinct from " << evtx_files.size()
            << " .evtx files (" << process << " process), replayed to " << events_n << "\n";

  detect::Engine with({.max_partials_per_rule = 100'000, .prefilter = true});
  with.SetRules(std::move(*rules));
  detect::Engine without({.max_partials_per_rule = 100'000, .prefilter = false});
  without.SetRules(std::move(*load_rules()));
  if (!with.prefilter_error().empty()) return std::cerr << with.prefilter_error() << "\n", 1;
  std::cout << "prefilter: " << with.prefiltered_rules() << " rules behind literals\n";

  auto base = Run(without, events, baseline_n);
  detect::Engine check({.max_partials_per_rule = 100'000, .prefilter = true});
  check.SetRules(std::move(*load_rules()));
  auto same = Run(check, events, baseline_n);
  auto fast = Run(with, events, events_n);

  auto rate = [](std::uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  std::printf("%-28s %12s %12s %14s %14s %10s\n", "run", "events", "cpu s", "events/s cpu",
              "events/s wall", "matches");
  std::printf("%-28s %12llu %12.2f %14.0f %14.0f %10llu\n", "no prefilter (baseline)",
              static_cast<unsigned long long>(baseline_n), base.cpu, rate(baseline_n, base.cpu),
              rate(baseline_n, base.wall), static_cast<unsigned long long>(base.matches));
  std::printf("%-28s %12llu %12.2f %14.0f %14.0f %10llu\n", "prefilter, same events",
              static_cast<unsigned long long>(baseline_n), same.cpu, rate(baseline_n, same.cpu),
              rate(baseline_n, same.wall), static_cast<unsigned long long>(same.matches));
  std::printf("%-28s %12llu %12.2f %14.0f %14.0f %10llu\n", "prefilter",
              static_cast<unsigned long long>(events_n), fast.cpu, rate(events_n, fast.cpu),
              rate(events_n, fast.wall), static_cast<unsigned long long>(fast.matches));
  std::printf("rule evaluations per event: %.1f without, %.1f with the prefilter\n",
              static_cast<double>(base.counters.rule_evaluations) / static_cast<double>(baseline_n),
              static_cast<double>(fast.counters.rule_evaluations) / static_cast<double>(events_n));
  std::printf("speed-up (cpu): %.1fx\n", rate(events_n, fast.cpu) / rate(baseline_n, base.cpu));
  if (same.matches != base.matches) {
    std::cerr << "MISMATCH: " << same.matches << " matches with the prefilter, " << base.matches
              << " without\n";
    return 1;
  }
  return 0;
}
