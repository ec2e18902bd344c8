// Hash sweeps on the agent: the files whose SHA-256 is on the list (copies under other names and
// in subdirectories, not a file that differs by one byte), the hash list's validation, the hash
// cache persisted between sweeps (an unchanged tree is not read again, a changed file is), and a
// sweep run as a scan job of kind hash through ScanJobs.
#include "agent/scan/hash_sweep.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "agent/enrich/hash_cache.hpp"
#include "agent/scan/hash_list.hpp"
#include "agent/scan/scan_jobs.hpp"
#include "common/sha256.hpp"
#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFile;

const std::string kContent = "the file we are looking for\n" + std::string(3000, 'q');

struct Tree {
  TempDir dir;
  std::set<std::string> expected;
  Tree() {
    WriteFile(dir / "t/original.bin", kContent);
    WriteFile(dir / "t/renamed.dat", kContent);
    WriteFile(dir / "t/sub/deeper/copy", kContent);
    WriteFile(dir / "t/differs.bin", kContent + "!");
    WriteFile(dir / "t/other.txt", "unrelated");
    for (const char* p : {"t/original.bin", "t/renamed.dat", "t/sub/deeper/copy"})
      expected.insert((dir / p).string());
  }
};

HashSweepOptions Options(const Tree& tree, HashCache* hashes) {
  HashSweepOptions o;
  o.walk.paths = {(tree.dir / "t").string()};
  o.sha256 = {Sha256Hex(kContent), std::string(64, 'a')};
  o.governor.cpu_percent = 0;
  o.governor.idle_io = false;
  o.governor.nice = false;
  o.splay_random = 0;
  o.threads = 2;
  o.hashes = hashes;
  return o;
}

struct Swept {
  std::vector<v1::Event> events;
  ScanSummary summary;
  std::set<std::string> Paths() const {
    std::set<std::string> out;
    for (const auto& e : events)
      if (e.event_action() == kActionHashMatch) out.insert(e.file_path());
    return out;
  }
};

Swept Sweep(HashSweepOptions options) {
  Swept s;
  ScanControl control;
  SystemClock clock;
  HashSweeper sweeper(std::move(options), ScanContext{"sweep-1", "list", "h", "host", "b"});
  auto r = sweeper.Run(control, clock, [&](const v1::Event& e) { s.events.push_back(e); }, {});
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  if (r) s.summary = *r;
  return s;
}

TEST(HashSweep, FindsEveryCopyWithPathSizeHashAndIoc) {
  Tree tree;
  HashCache hashes(1000);
  auto s = Sweep(Options(tree, &hashes));
  EXPECT_EQ(s.Paths(), tree.expected);
  for (const auto& e : s.events) {
    ASSERT_EQ(e.event_action(), kActionHashMatch);
    EXPECT_EQ(e.event_category(), "scan");
    EXPECT_EQ(e.file_size(), static_cast<std::int64_t>(kContent.size()));
    EXPECT_EQ(e.file_hash_sha256(), Sha256Hex(kContent));
    EXPECT_EQ(e.extra().at("vigil.scan.ioc"), "sha256:" + Sha256Hex(kContent));
    EXPECT_EQ(e.vigil_scan_id(), "sweep-1");
    EXPECT_EQ(e.host_name(), "host");
  }
  EXPECT_EQ(s.summary.progress.files_total, 5u);
  EXPECT_EQ(s.summary.progress.files_done, 5u);
  EXPECT_EQ(s.summary.progress.files_hashed, 5u);
  EXPECT_EQ(s.summary.progress.files_cached, 0u);
  EXPECT_EQ(s.summary.progress.findings, 3u);
}

TEST(HashSweep, TheCachePersistsAndAnUnchangedTreeIsNotReadAgain) {
  Tree tree;
  const auto file = tree.dir / "state/hash-cache.bin";
  {
    HashCache hashes(1000);
    auto first = Sweep(Options(tree, &hashes));
    EXPECT_EQ(first.summary.progress.files_hashed, 5u);
    ASSERT_TRUE(hashes.Save(file));
  }
  HashCache reloaded(1000);
  ASSERT_TRUE(reloaded.Load(file));
  EXPECT_EQ(reloaded.Stats().entries, 5u);
  auto second = Sweep(Options(tree, &reloaded));
  EXPECT_EQ(second.Paths(), tree.expected);
  EXPECT_EQ(second.summary.progress.files_hashed, 0u);
  EXPECT_EQ(second.summary.progress.files_cached, 5u);

  // A changed file is hashed again (and now matches); the rest still come from the cache.
  WriteFile(tree.dir / "t/differs.bin", kContent);
  auto third = Sweep(Options(tree, &reloaded));
  EXPECT_EQ(third.summary.progress.files_hashed, 1u);
  EXPECT_EQ(third.summary.progress.files_cached, 4u);
  EXPECT_EQ(third.Paths().size(), 4u);
  EXPECT_TRUE(third.Paths().contains((tree.dir / "t/differs.bin").string()));
}

TEST(HashSweep, ADamagedCacheFileIsAnErrorAndLeavesTheCacheEmpty) {
  TempDir dir;
  WriteFile(dir / "bad.bin", "not a cache");
  HashCache hashes(10);
  auto r = hashes.Load(dir / "bad.bin");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("not a hash cache file"));
  EXPECT_EQ(hashes.Stats().entries, 0u);
  EXPECT_TRUE(hashes.Load(dir / "missing.bin"));  // no file yet: empty
}

TEST(HashSweep, TheListIsValidatedNamingTheBadValue) {
  const std::string good(64, 'A');
  auto ok = ParseSha256List({good, std::string(64, 'a')});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, std::set<std::string>{std::string(64, 'a')});  // lower-cased, deduplicated
  auto short_value = ParseSha256List({good, "abc123"});
  ASSERT_FALSE(short_value);
  EXPECT_EQ(short_value.error().message,
            "sha256 value 2 'abc123': a SHA-256 is 64 hex digits, this has 6 characters");
  auto not_hex = ParseSha256List({std::string(63, '0') + "g"});
  ASSERT_FALSE(not_hex);
  EXPECT_EQ(not_hex.error().message, "sha256 value 1 '" + std::string(63, '0') +
                                         "g': character 64 ('g') is not a hex digit");
  EXPECT_FALSE(ParseSha256List({}));
}

TEST(HashSweep, RunsAsAScanJobOfKindHash) {
  Tree tree;
  std::mutex mu;
  std::vector<v1::Event> events;
  ScanJobs jobs({.state_dir = tree.dir / "state",
                 .host = {},
                 .emit =
                     [&](v1::Event&& e) {
                       std::lock_guard lock(mu);
                       events.push_back(std::move(e));
                     },
                 .progress_interval = std::chrono::milliseconds(0),
                 .max_jobs = 4});
  auto run = [&](const std::string& id) {
    nlohmann::json payload{{"job", id},
                           {"run", 1},
                           {"kind", "hash"},
                           {"sha256", {Sha256Hex(kContent)}},
                           {"paths", {(tree.dir / "t").string()}},
                           {"cpu", 0}};
    auto answer = jobs.Start(payload);
    ASSERT_TRUE(answer) << answer.error().message;
    for (int i = 0; i < 2000 && jobs.Running() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(jobs.Running(), 0u);
  };
  auto last_progress = [&](const std::string& id) {
    std::lock_guard lock(mu);
    v1::Event last;
    for (const auto& e : events)
      if (e.vigil_scan_id() == id && e.event_action() == "scan_progress") last = e;
    return last;
  };
  run("sweep-a");
  auto first = last_progress("sweep-a");
  EXPECT_EQ(first.vigil_scan_status(), "done");
  EXPECT_EQ(first.vigil_scan_kind(), "hash");
  EXPECT_EQ(first.vigil_scan_findings(), 3);
  EXPECT_EQ(first.extra().at("vigil.scan.files_hashed"), "5");
  EXPECT_EQ(first.vigil_scan_rules_version(),
            Sha256ListDigest(std::set<std::string>{Sha256Hex(kContent)}));
  // The job saved the hash cache in the state dir: the next sweep reads nothing.
  EXPECT_TRUE(std::filesystem::exists(tree.dir / "state/scan/hash-cache.bin"));
  run("sweep-b");
  auto second = last_progress("sweep-b");
  EXPECT_EQ(second.vigil_scan_findings(), 3);
  EXPECT_EQ(second.extra().at("vigil.scan.files_hashed"), "0");
  EXPECT_EQ(second.extra().at("vigil.scan.files_cached"), "5");

  auto bad = jobs.Start({{"job", "x"}, {"kind", "hash"}, {"sha256", {"1234"}}, {"paths", {"/"}}});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("sha256 value 1 '1234'"));
}

}  // namespace
}  // namespace vigil::agent::scan
