// bench_store_ingest: sustained ingest rate of the SQLite store with every index on (the text and
// term postings; with --layout rows also the row tables' B-trees), fed by a generator of realistic
// endpoint telemetry (process exec with parents, network connects, DNS, file events over ~100
// hosts), in batches from a single writer thread. Each batch also goes to a baseline store (rows
// without secondary or postings indexes), the two in alternating order so that both see the same
// machine. The full store has the server's default layout, column blocks
// (SqliteOptions::column_blocks); --layout rows the row layout. --group K hands the store K
// batches (of K different agents) per Append call, one transaction, as the gateway's group commit
// does when K agents' batches queued up during the commit before (default 1: a commit per batch);
// the baseline always commits each batch on its own, the same reference workload for every K.
// --baseline full makes the baseline the full store itself, a commit per batch: what --group gains.
// Usage: bench_store_ingest [--events N] [--batch B] [--group K] [--sync full|normal]
//                           [--no-baseline] [--baseline rows|full] [--no-indexes] [--no-postings]
//                           [--layout rows|blocks] [--dir D] [--keep]
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "server/store/sqlite_tuning.hpp"
#include "server/store/store.hpp"
#include "telemetry_generator.hpp"

namespace {

namespace fs = std::filesystem;
using vigil::store::IngestBatch;
using Clock = std::chrono::steady_clock;
using vigil::bench::Generator;

struct Options {
  std::uint64_t events = 10'000'000;
  std::size_t batch = 1000;
  std::size_t group = 1;  // batches per Append call: what the group commit takes at once
  bool sync_full = true;
  bool baseline = true;
  bool baseline_full = false;  // --baseline full: the full store, a commit per batch (vs --group)
  bool keep = false;
  bool indexes = true;  // of the "full" run: for finding what costs
  bool fts = true;  // the postings (text and term) indexes; --no-postings (or --no-fts) drops them
  bool blocks = true;  // the full run keeps its rows as column blocks (--layout rows: as rows)
  fs::path dir;
};

std::uint64_t DirBytes(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) total += entry.file_size();
  return total;
}

// One store the batches go to, and the time its Append calls took.
struct Target {
  fs::path dir;
  std::unique_ptr<vigil::store::Store> store;
  double seconds = 0, window = 0;
  std::uint64_t bytes = 0;
};

Target Open(const Options& opt, const fs::path& dir, bool full, Generator& gen) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  vigil::store::SqliteTuning tuning;
  tuning.secondary_indexes = full && opt.indexes;
  tuning.full_text = full && opt.fts;
  auto store = vigil::store::OpenSqliteStoreTuned(
      vigil::store::SqliteOptions{dir / "vigil.db", opt.sync_full, full && opt.blocks}, tuning);
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().message.c_str());
    std::exit(1);
  }
  for (const auto& h : gen.hosts())
    if (auto r = (*store)->RegisterAgent(h.agent_id, h.name); !r) std::exit(1);
  return Target{dir, std::move(*store)};
}

void Append(Target& t, std::span<const IngestBatch> batches) {
  const auto t0 = Clock::now();
  auto r = t.store->Append(batches);
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!r) {
    std::fprintf(stderr, "append failed: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  for (std::size_t i = 0; i < batches.size(); ++i)
    if ((*r)[i].stored != batches[i].events.size()) {
      std::fprintf(stderr, "append failed: not all stored\n");
      std::exit(1);
    }
  t.seconds += dt;
  t.window += dt;
}

// The full store, and the baseline (when asked for) fed the same batches in alternating order, so
// both see the same machine: this VM's speed drifts by tens of percent from one minute to the next.
void Run(const Options& opt, Target& full, Target* baseline) {
  Generator gen(42);
  const auto wall_start = Clock::now();
  auto window_wall_start = wall_start;
  std::uint64_t done = 0, window_events = 0, round = 0;
  constexpr std::uint64_t kWindow = 1'000'000;
  while (done < opt.events) {
    std::vector<IngestBatch> batches;
    std::uint64_t n = 0;
    while (batches.size() < opt.group && done + n < opt.events) {
      const auto size =
          static_cast<std::size_t>(std::min<std::uint64_t>(opt.batch, opt.events - done - n));
      batches.push_back(gen.Next(size));
      n += size;
    }
    // The baseline is the same reference workload whatever --group is: a commit per batch.
    auto into_baseline = [&] {
      for (auto& b : batches) Append(*baseline, std::span<const IngestBatch>(&b, 1));
    };
    if (baseline && round % 2 == 1) into_baseline();
    Append(full, batches);
    if (baseline && round % 2 == 0) into_baseline();
    ++round;
    done += n;
    window_events += n;
    if (window_events >= kWindow || done == opt.events) {
      const double wall = std::chrono::duration<double>(Clock::now() - window_wall_start).count();
      const auto events = static_cast<double>(window_events);
      std::printf("  events %9llu  window %7.0f ev/s (store time)",
                  static_cast<unsigned long long>(done), events / full.window);
      if (baseline)
        std::printf("  baseline %7.0f  full / baseline %.2f", events / baseline->window,
                    baseline->window / full.window);
      else
        std::printf("  %7.0f ev/s (wall, incl. generator)", events / wall);
      std::printf("\n");
      std::fflush(stdout);
      window_events = 0;
      full.window = 0;
      if (baseline) baseline->window = 0;
      window_wall_start = Clock::now();
    }
  }
  for (Target* t : {&full, baseline}) {
    if (!t) continue;
    t->store.reset();  // closes: final checkpoint
    t->bytes = DirBytes(t->dir);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    // An option with two values: whether `v` is the second; anything else ends the run.
    auto is_second = [&](std::string_view v, std::string_view first, std::string_view second) {
      if (v != first && v != second) {
        std::fprintf(stderr, "%s is %.*s or %.*s, not %.*s\n", argv[i - 1],
                     static_cast<int>(first.size()), first.data(), static_cast<int>(second.size()),
                     second.data(), static_cast<int>(v.size()), v.data());
        std::exit(2);
      }
      return v == second;
    };
    if (a == "--events")
      opt.events = std::strtoull(std::string(value()).c_str(), nullptr, 10);
    else if (a == "--batch")
      opt.batch = std::strtoull(std::string(value()).c_str(), nullptr, 10);
    else if (a == "--group")
      opt.group = std::strtoull(std::string(value()).c_str(), nullptr, 10);
    else if (a == "--sync")
      opt.sync_full = value() == "full";
    else if (a == "--no-baseline")
      opt.baseline = false;
    else if (a == "--baseline")
      opt.baseline_full = is_second(value(), "rows", "full");
    else if (a == "--dir")
      opt.dir = value();
    else if (a == "--keep")
      opt.keep = true;
    else if (a == "--no-indexes")
      opt.indexes = false;
    else if (a == "--no-postings" || a == "--no-fts")
      opt.fts = false;
    else if (a == "--layout")
      opt.blocks = is_second(value(), "rows", "blocks");
    else {
      std::fprintf(
          stderr,
          "usage: bench_store_ingest [--events N] [--batch B] [--group K] [--sync full|normal] "
          "[--no-baseline] [--baseline rows|full] [--no-indexes] [--no-postings] "
          "[--layout rows|blocks] [--dir D] [--keep]\n"
          "--baseline full: the baseline is the full store itself with a commit per batch "
          "(measures --group); default rows: rows without any index.\n"
          "--group: batches per transaction of the full store, each from another agent (the "
          "group commit of K agents' queued batches; default 1); the baseline commits each "
          "batch on its own.\n"
          "--layout: how the full run keeps its rows, as column blocks (the server's "
          "default) or as rows with B-tree indexes.\n");
      return 2;
    }
  }
  if (opt.batch == 0 || opt.events == 0 || opt.group == 0) return 2;
  if (opt.dir.empty())
    opt.dir = fs::temp_directory_path() / ("vigil-bench-store-" + std::to_string(::getpid()));
  std::printf(
      "bench_store_ingest: %llu events, batches of %zu, %zu per transaction, synchronous=%s, "
      "dir %s\n",
      static_cast<unsigned long long>(opt.events), opt.batch, opt.group,
      opt.sync_full ? "FULL" : "NORMAL", opt.dir.c_str());

  std::printf("full (%s), %s:\n",
              opt.blocks ? "column blocks, every key in the postings indexes"
                         : "rows, all B-tree and postings indexes",
              !opt.baseline       ? "no baseline"
              : opt.baseline_full ? "each batch also into the baseline (the same full store, a "
                                    "commit per batch), in alternating order"
                                  : "each batch also into the baseline (rows without secondary "
                                    "indexes or postings), in alternating order");
  Generator hosts(42);
  Target full = Open(opt, opt.dir / "full", true, hosts);
  std::optional<Target> base;
  if (opt.baseline) base = Open(opt, opt.dir / "baseline", opt.baseline_full, hosts);
  Run(opt, full, base ? &*base : nullptr);
  const auto events = static_cast<double>(opt.events);
  std::printf("  overall %.0f ev/s (store time), db %.1f MiB (%.0f bytes/event)\n",
              events / full.seconds, static_cast<double>(full.bytes) / 1048576.0,
              static_cast<double>(full.bytes) / events);
  if (base)
    std::printf("  baseline %.0f ev/s (store time), db %.1f MiB\n  full / baseline = %.2f\n",
                events / base->seconds, static_cast<double>(base->bytes) / 1048576.0,
                base->seconds / full.seconds);
  if (!opt.keep) fs::remove_all(opt.dir);
  return 0;
}
