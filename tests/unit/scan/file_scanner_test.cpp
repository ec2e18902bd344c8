// File scan: findings with their fields, excludes, symlinks, special trees, size limit, threads,
// timeouts reported without stopping the scan, progress.
#include "agent/scan/file_scanner.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>

#include "common/sha256.hpp"
#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFile;

std::set<std::string> Paths(const std::vector<v1::Event>& events) {
  std::set<std::string> out;
  for (const auto& e : events)
    if (e.event_action() == kActionMatch) out.insert(e.file_path());
  return out;
}

TEST(FileScanner, FindingCarriesRuleNamespaceTagsStringsPathSizeAndHash) {
  TempDir dir;
  const std::string content = "xxHELLOxxWORLDxxHELLO";
  WriteFile(dir / "t/a.bin", content);
  WriteFile(dir / "rules/greet.yar",
            "rule greeting : tag1 tag2 { strings: $h = \"HELLO\" $w = \"WORLD\" condition: all of "
            "them }\n");
  std::vector<std::filesystem::path> in{dir / "rules/greet.yar"};
  auto rules = RuleSet::Load(in);
  ASSERT_TRUE(rules);
  auto c = testing::ScanFiles(*rules, testing::Uncapped({(dir / "t").string()}));
  ASSERT_EQ(c.events.size(), 1u);
  const auto& e = c.events[0];
  EXPECT_EQ(e.event_category(), "scan");
  EXPECT_EQ(e.yara_rule(), "greeting");
  EXPECT_EQ(e.yara_namespace(), "greet");
  EXPECT_THAT(e.yara_tags(), ::testing::ElementsAre("tag1", "tag2"));
  EXPECT_THAT(e.yara_strings(), ::testing::ElementsAre("$h@2", "$h@16", "$w@9"));
  EXPECT_EQ(e.file_path(), (dir / "t/a.bin").string());
  EXPECT_EQ(e.file_size(), static_cast<std::int64_t>(content.size()));
  EXPECT_EQ(e.file_hash_sha256(), Sha256Hex(content));
  EXPECT_EQ(e.vigil_scan_rules_version(), (*rules)->version());
  EXPECT_EQ(c.summary.progress.files_done, 1u);
  EXPECT_EQ(c.summary.progress.findings, 1u);
}

TEST(FileScanner, ExcludesSymlinksSizeLimitAndPseudoFileSystems) {
  TempDir dir;
  TempDir outside;
  WriteFile(outside / "secret", "MARK");
  WriteFile(dir / "t/keep.txt", "MARK");
  WriteFile(dir / "t/skip.log", "MARK");
  WriteFile(dir / "t/cache/x.txt", "MARK");
  WriteFile(dir / "t/big.txt", "MARK" + std::string(5000, 'z'));
  std::filesystem::create_symlink(outside / "secret", dir / "t/link-file");
  std::filesystem::create_directory_symlink(outside.path(), dir / "t/link-dir");
  auto rules = testing::Rules("rule m { strings: $a = \"MARK\" condition: $a }");
  auto options = testing::Uncapped({(dir / "t").string(), "/proc/self", "/dev/null"});
  options.walk.excludes = {"*.log", (dir / "t/cache").string()};
  options.walk.max_size = 1000;
  auto c = testing::ScanFiles(rules, options);
  EXPECT_EQ(Paths(c.events), std::set<std::string>{(dir / "t/keep.txt").string()});
  EXPECT_EQ(c.summary.walk.symlinks, 2u);
  EXPECT_EQ(c.summary.walk.too_large, 1u);
  EXPECT_EQ(c.summary.walk.excluded, 2u);
  EXPECT_TRUE(IsExcluded("/a/b/c.log", {"*.log"}));
  EXPECT_FALSE(IsExcluded("/a/b/c.txt", {"*.log"}));
}

TEST(FileScanner, GlobsAndThreads) {
  TempDir dir;
  std::set<std::string> expected;
  for (int i = 0; i < 40; ++i) {
    const auto p = dir / ("d" + std::to_string(i % 4)) / ("f" + std::to_string(i));
    WriteFile(p, i % 2 ? "MARK" : "clean");
    if (i % 2) expected.insert(p.string());
  }
  auto rules = testing::Rules("rule m { strings: $a = \"MARK\" condition: $a }");
  auto options = testing::Uncapped({(dir / "d[0-3]").string()});
  options.threads = 4;
  auto c = testing::ScanFiles(rules, options);
  EXPECT_EQ(Paths(c.events), expected);
  EXPECT_EQ(c.summary.progress.files_done, 40u);
}

TEST(FileScanner, TimeoutIsReportedAndTheScanGoesOn) {
  TempDir dir;
  WriteFile(dir / "t/slow.txt", std::string(30000, 'A'));
  WriteFile(dir / "t/z-match.txt", "NEEDLE");
  auto rules = testing::Rules(
      "rule slow { strings: $a = \"AAAA\" condition: for all i in (1..#a) : "
      "(for all j in (1..#a) : (@a[j] >= @a[i] - 100000000)) }\n"
      "rule needle { strings: $n = \"NEEDLE\" condition: $n }\n");
  auto options = testing::Uncapped({(dir / "t").string()});
  options.timeout_seconds = 1;
  auto c = testing::ScanFiles(rules, options);
  int timeouts = 0, needles = 0;
  for (const auto& e : c.events) {
    if (e.event_action() == kActionTimeout) {
      ++timeouts;
      EXPECT_EQ(e.file_path(), (dir / "t/slow.txt").string());
      EXPECT_THAT(e.error_message(), HasSubstr("timed out"));
      EXPECT_FALSE(e.has_yara_rule());
    }
    if (e.yara_rule() == "needle") ++needles;
  }
  EXPECT_EQ(timeouts, 1);
  EXPECT_EQ(needles, 1);
  EXPECT_EQ(c.summary.progress.timeouts, 1u);
  EXPECT_EQ(c.summary.progress.files_done, 2u);
}

TEST(FileScanner, ProgressIsReported) {
  TempDir dir;
  for (int i = 0; i < 5; ++i) WriteFile(dir / ("f" + std::to_string(i)), std::string(1000, 'x'));
  auto rules = testing::Rules("rule m { condition: false }");
  ScanControl control;
  SystemClock clock;
  FileScanner scanner(rules, testing::Uncapped({dir.path().string()}), {});
  std::vector<Progress> reports;
  auto s = scanner.Run(control, clock, {}, [&](const Progress& p) { reports.push_back(p); });
  ASSERT_TRUE(s);
  ASSERT_FALSE(reports.empty());
  const auto& last = reports.back();
  EXPECT_TRUE(last.finished);
  EXPECT_EQ(last.files_total, 5u);
  EXPECT_EQ(last.files_done, 5u);
  EXPECT_EQ(last.bytes_total, 5000u);
  EXPECT_EQ(last.bytes_done, 5000u);
  ASSERT_TRUE(last.eta.has_value());
  EXPECT_EQ(last.eta->count(), 0);
}

}  // namespace
}  // namespace vigil::agent::scan
