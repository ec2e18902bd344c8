// Resuming interrupted runs: the Checkpointer's position (contiguous prefix, a changed tree
// starts over, reported files never reported again), a hash sweep resumed from a checkpoint, and
// ScanJobs keeping a job interrupted by its destruction (the agent's stop) and resuming it.
#include "agent/scan/checkpoint.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "agent/scan/hash_sweep.hpp"
#include "agent/scan/scan_jobs.hpp"
#include "common/sha256.hpp"
#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using testing::TempDir;
using testing::WriteFile;

std::vector<FileEntry> Entries(int n) {
  std::vector<FileEntry> files;
  for (int i = 0; i < n; ++i) files.push_back(FileEntry{"/f" + std::to_string(i)});
  return files;
}

TEST(Checkpointer, ThePositionIsTheContiguousPrefixOfFinishedFiles) {
  auto files = Entries(5);
  std::vector<Checkpoint> saved;
  ProgressTracker progress({});
  Checkpointer c(
      nullptr, files, [&](const Checkpoint& p) { saved.push_back(p); }, progress,
      std::chrono::milliseconds(0));
  EXPECT_EQ(c.first(), 0u);
  c.Done(1);  // out of order: the prefix is still empty
  c.Done(0);
  ASSERT_FALSE(saved.empty());
  EXPECT_EQ(saved.back().done, 2u);
  EXPECT_EQ(saved.back().last_path, "/f1");
  c.Reported("/f3", 2);
  EXPECT_EQ(saved.back().reported, std::set<std::string>{"/f3"});
  EXPECT_EQ(saved.back().findings, 2u);
  auto round_trip = Checkpoint::FromJson(saved.back().ToJson());
  EXPECT_EQ(round_trip.done, 2u);
  EXPECT_EQ(round_trip.findings, 2u);

  ProgressTracker resumed_progress({});
  Checkpointer resumed(&round_trip, files, {}, resumed_progress);
  EXPECT_EQ(resumed.first(), 2u);
  EXPECT_EQ(resumed_progress.Snapshot().files_done, 2u);  // the finished prefix counts as done
  EXPECT_EQ(resumed_progress.Snapshot().findings, 2u);
  EXPECT_TRUE(resumed.AlreadyReported("/f3"));
  EXPECT_FALSE(resumed.AlreadyReported("/f4"));

  auto changed = Entries(5);
  changed[1].path = "/other";  // the tree changed: start over, but still do not repeat findings
  ProgressTracker over_progress({});
  Checkpointer over(&round_trip, changed, {}, over_progress);
  EXPECT_EQ(over.first(), 0u);
  EXPECT_TRUE(over.AlreadyReported("/f3"));
}

TEST(Checkpointer, AHashSweepResumesFromItsPositionWithoutRepeatingFindings) {
  TempDir dir;
  const std::string content = "needle";
  for (int i = 0; i < 6; ++i)
    WriteFile(dir / ("t/f" + std::to_string(i)), i % 2 ? content : "hay" + std::to_string(i));
  HashSweepOptions o;
  o.walk.paths = {(dir / "t").string()};
  o.sha256 = {Sha256Hex(content)};
  o.governor.cpu_percent = 0;
  o.splay_random = 0;
  auto run = [&](const Checkpoint* resume, std::vector<v1::Event>& events) {
    auto options = o;
    options.resume = resume;
    Checkpoint last;
    options.checkpoint = [&](const Checkpoint& c) { last = c; };
    ScanControl control;
    SystemClock clock;
    HashSweeper sweeper(options, ScanContext{"s", "", "h", "host", "b"});
    auto r = sweeper.Run(control, clock, [&](const v1::Event& e) { events.push_back(e); }, {});
    EXPECT_TRUE(r);
    return std::make_pair(last, r ? r->progress : Progress{});
  };
  std::vector<v1::Event> all;
  auto [full, p] = run(nullptr, all);
  EXPECT_EQ(full.done, 6u);
  EXPECT_EQ(full.findings, 3u);
  ASSERT_EQ(all.size(), 3u);

  // Stopped after the first 3 files of the walk, with their findings reported, and the first
  // matching file after them reported while in flight (past the saved position).
  std::set<std::string> matching;
  for (const auto& e : all) matching.insert(e.file_path());
  auto walked = WalkFiles(o.walk);
  ASSERT_TRUE(walked);
  const auto& files = walked->files;
  Checkpoint part;
  part.done = 3;
  part.last_path = files[2].path;
  bool in_flight = false;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!matching.contains(files[i].path)) continue;
    if (i >= 3) {
      if (in_flight) break;
      in_flight = true;
    }
    part.reported.insert(files[i].path);
    ++part.findings;
  }
  std::vector<v1::Event> rest;
  auto [end, progress] = run(&part, rest);
  EXPECT_EQ(progress.files_done, 6u);
  EXPECT_EQ(progress.files_hashed, 3u);  // only the files after the position
  EXPECT_EQ(progress.findings, 3u);
  std::set<std::string> again;
  for (const auto& e : rest) again.insert(e.file_path());
  for (const auto& path : part.reported) EXPECT_FALSE(again.contains(path)) << path;
  EXPECT_EQ(again.size() + part.reported.size(), 3u);
  EXPECT_EQ(end.done, 6u);
}

TEST(Checkpointer, ScanJobsKeepAJobTheAgentsStopInterruptedAndResumeIt) {
  TempDir dir;
  const std::string content(200'000, 'x');
  for (int i = 0; i < 10; ++i) WriteFile(dir / ("t/f" + std::to_string(i)), content);
  std::mutex mu;
  std::vector<v1::Event> events;
  ScanJobsOptions options{.state_dir = dir / "state",
                          .host = {},
                          .emit =
                              [&](v1::Event&& e) {
                                std::lock_guard lock(mu);
                                events.push_back(std::move(e));
                              },
                          .progress_interval = std::chrono::milliseconds(0),
                          .max_jobs = 4};
  const nlohmann::json payload{{"job", "7.1"},
                               {"kind", "hash"},
                               {"sha256", {Sha256Hex(content)}},
                               {"paths", {(dir / "t").string()}},
                               {"cpu", 0},
                               {"io", 0.5}};  // 2 MB at 0.5 MB/s: still running when stopped
  {
    ScanJobs jobs(options);
    ASSERT_TRUE(jobs.Start(payload));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }  // the agent stops
  EXPECT_TRUE(std::filesystem::exists(dir / "state/scan/jobs/7.1.job"));
  EXPECT_TRUE(std::filesystem::exists(dir / "state/scan/jobs/7.1.pos"));
  std::size_t before = 0;
  {
    std::lock_guard lock(mu);
    for (const auto& e : events) {
      EXPECT_NE(e.vigil_scan_status(), "cancelled");  // an interruption is not a cancel
      if (e.event_action() == "hash_match") ++before;
    }
  }
  EXPECT_GT(before, 0u);
  EXPECT_LT(before, 10u);

  ScanJobs again(options);
  EXPECT_EQ(again.ResumeInterrupted(), 1u);
  for (int i = 0; i < 3000 && again.Running() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(again.Running(), 0u);
  std::set<std::string> paths;
  std::size_t matches = 0;
  v1::Event last;
  {
    std::lock_guard lock(mu);
    for (const auto& e : events) {
      if (e.event_action() == "hash_match") ++matches, paths.insert(e.file_path());
      if (e.event_action() == "scan_progress") last = e;
    }
  }
  EXPECT_EQ(paths.size(), 10u);
  EXPECT_EQ(matches, 10u);  // none twice
  EXPECT_EQ(last.vigil_scan_status(), "done");
  EXPECT_EQ(last.vigil_scan_files_done(), 10);
  EXPECT_EQ(last.vigil_scan_findings(), 10);
  EXPECT_FALSE(std::filesystem::exists(dir / "state/scan/jobs/7.1.job"));
  EXPECT_EQ(ScanJobs(options).ResumeInterrupted(), 0u);
}

}  // namespace
}  // namespace vigil::agent::scan
