// The CPU cap is a real measurement: a scan capped at 5% of one core for ~10 s, measured from
// /proc/self/stat (every thread of this process), uses 3-6% of a core. Also the I/O cap.
#include "agent/scan/governor.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using namespace std::chrono_literals;

double ProcessCpuSeconds() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    rest >> field;
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Enough work to keep a capped scanner busy: copies of a big rule set's worth of data.
void MakeWork(const std::filesystem::path& dir) {
  std::string blob;
  for (int i = 0; i < 4 << 20; ++i) blob.push_back(static_cast<char>((i * 2654435761u) >> 13));
  for (int i = 0; i < 64; ++i) testing::WriteFile(dir / ("w" + std::to_string(i)), blob);
}

// The check: a scan capped at 5 % for 30 s uses 3-6 % of a core, measured from /proc.
void MeasureCap(int threads, std::chrono::seconds span) {
  testing::TempDir dir;
  MakeWork(dir.path());
  // Regex-heavy rules make each 4 MB file cost real CPU.
  auto rules = testing::Rules(
      "rule r1 { strings: $a = /[a-f]{3}[0-9]{2}[^x]{2}z/ $b = /\\x00\\x01.{0,4}\\xff/ "
      "condition: any of them and #a > 100000 }\n"
      "rule r2 { strings: $c = /([A-Z][a-z]){2,4}[0-9]/ condition: #c > 1000000 }\n");
  auto options = testing::Uncapped({dir.path().string()});
  options.governor.cpu_percent = 5;
  options.threads = threads;
  ScanControl control;
  SystemClock clock;
  FileScanner scanner(rules, options, {});
  std::optional<Result<ScanSummary>> summary;
  const double cpu0 = ProcessCpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::thread t([&] { summary = scanner.Run(control, clock, {}, {}); });
  std::this_thread::sleep_for(span);
  const double cpu1 = ProcessCpuSeconds();
  const auto t1 = std::chrono::steady_clock::now();
  control.Cancel();
  t.join();
  const double wall = std::chrono::duration<double>(t1 - t0).count();
  const double pct = 100.0 * (cpu1 - cpu0) / wall;
  ASSERT_TRUE(summary && summary->has_value());
  EXPECT_GT((*summary)->throttled.count(), 0);
  EXPECT_FALSE((*summary)->progress.files_done == (*summary)->progress.files_total)
      << "the work ran out before the measurement ended";
  std::printf("cpu cap 5%% with %d thread(s): %.2f%% of a core over %.1f s\n", threads, pct, wall);
  EXPECT_GE(pct, 3.0);
  EXPECT_LE(pct, 6.0);
}

TEST(Governor, CpuCapHoldsOneThread) { MeasureCap(1, 10s); }
TEST(Governor, CpuCapHoldsForAllThreadsTogether) { MeasureCap(2, 30s); }

TEST(Governor, IoCapLimitsReadRate) {
  testing::TempDir dir;
  for (int i = 0; i < 8; ++i)
    testing::WriteFile(dir / ("f" + std::to_string(i)), std::string(1 << 20, 'a'));
  auto rules = testing::Rules("rule r { condition: false }");
  auto options = testing::Uncapped({dir.path().string()});
  options.governor.io_mbps = 4;  // 8.4 MB at 4 MB/s, minus a 1 MB burst: about 1.8 s
  const auto t0 = std::chrono::steady_clock::now();
  auto c = testing::ScanFiles(rules, options);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c.summary.progress.files_done, 8u);
  EXPECT_GT(secs, 1.5);
  EXPECT_LT(secs, 4.0);
}

TEST(Governor, StretchedTimeout) {
  EXPECT_EQ(StretchedTimeout(60, 1.0), 60);
  EXPECT_EQ(StretchedTimeout(60, 0.05), 1200);
  EXPECT_EQ(StretchedTimeout(0, 0.05), 0);
}

}  // namespace
}  // namespace vigil::agent::scan
