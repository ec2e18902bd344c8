// The unchanged-file cache: skip on rescan, rescan after modification or a rule-set change,
// bounded, persisted.
#include "agent/scan/scan_cache.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using testing::TempDir;
using testing::WriteFile;

TEST(ScanCache, SkipsUnchangedAndRescansChangedFiles) {
  TempDir dir;
  WriteFile(dir / "tree/clean1.txt", "nothing here");
  WriteFile(dir / "tree/clean2.txt", "nothing here either");
  WriteFile(dir / "tree/bad.txt", "EVIL_MARKER");
  auto rules = testing::Rules("rule evil { strings: $a = \"EVIL_MARKER\" condition: $a }");
  ScanCache cache;
  auto options = testing::Uncapped({(dir / "tree").string()});
  options.cache = &cache;

  auto first = testing::ScanFiles(rules, options);
  EXPECT_EQ(first.events.size(), 1u);
  EXPECT_EQ(first.summary.progress.files_cached, 0u);
  EXPECT_EQ(cache.size(), 2u);  // only clean files are remembered

  auto second = testing::ScanFiles(rules, options);
  EXPECT_EQ(second.events.size(), 1u);  // the file with a finding is scanned again
  EXPECT_EQ(second.summary.progress.files_cached, 2u);

  // Modified: rescanned (and now it matches).
  WriteFile(dir / "tree/clean1.txt", "now EVIL_MARKER too");
  auto third = testing::ScanFiles(rules, options);
  EXPECT_EQ(third.events.size(), 2u);
  EXPECT_EQ(third.summary.progress.files_cached, 1u);

  // Another rule set: nothing is skipped.
  auto other = testing::Rules("rule evil2 { strings: $a = \"either\" condition: $a }");
  auto fourth = testing::ScanFiles(other, options);
  EXPECT_EQ(fourth.summary.progress.files_cached, 0u);
  EXPECT_EQ(fourth.events.size(), 1u);
}

TEST(ScanCache, MetadataChangeInvalidates) {
  TempDir dir;
  WriteFile(dir / "f", "x");
  struct stat st {};
  ASSERT_EQ(stat((dir / "f").c_str(), &st), 0);
  FileIdentity id{st.st_dev, st.st_ino, static_cast<std::uint64_t>(st.st_size), 1, 2};
  ScanCache cache;
  cache.MarkClean(id, 7);
  EXPECT_TRUE(cache.IsClean(id, 7));
  EXPECT_FALSE(cache.IsClean(id, 8));
  auto touched = id;
  touched.ctime_ns = 3;  // e.g. content rewritten and mtime restored: ctime still moves
  EXPECT_FALSE(cache.IsClean(touched, 7));
}

TEST(ScanCache, BoundedAndPersisted) {
  TempDir dir;
  ScanCache cache(3);
  for (std::uint64_t i = 1; i <= 5; ++i) cache.MarkClean(FileIdentity{1, i, i, 0, 0}, 9);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.IsClean(FileIdentity{1, 1, 1, 0, 0}, 9));  // oldest evicted
  EXPECT_TRUE(cache.IsClean(FileIdentity{1, 5, 5, 0, 0}, 9));
  ASSERT_TRUE(cache.Save(dir / "state/cache.bin"));
  ScanCache loaded(3);
  ASSERT_TRUE(loaded.Load(dir / "state/cache.bin"));
  EXPECT_EQ(loaded.size(), 3u);
  EXPECT_TRUE(loaded.IsClean(FileIdentity{1, 4, 4, 0, 0}, 9));
  EXPECT_TRUE(loaded.IsClean(FileIdentity{1, 3, 3, 0, 0}, 9));
  // A missing file is an empty cache; a damaged one is an error.
  ScanCache empty;
  EXPECT_TRUE(empty.Load(dir / "none.bin"));
  testing::WriteFile(dir / "junk.bin", "garbage!garbage");
  EXPECT_FALSE(empty.Load(dir / "junk.bin"));
  EXPECT_EQ(empty.size(), 0u);
}

}  // namespace
}  // namespace vigil::agent::scan
