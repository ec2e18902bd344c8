// Scan jobs as the command channel runs them: a job's findings and progress events reach the
// pipeline with the job's id, the command is answered at once, pause/cancel work by job id, and bad
// payloads or rules fail the command with the reason.
#include "agent/scan/scan_jobs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "agent/scan/rule_package.hpp"
#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using nlohmann::json;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFile;

constexpr char kMarkerRule[] =
    "rule job_marker { strings: $m = \"VIGIL-JOB-MARKER\" condition: $m }\n";

struct Collected {
  std::mutex mu;
  std::vector<v1::Event> events;
  std::vector<v1::Event> Snapshot() {
    std::lock_guard lock(mu);
    return events;
  }
};

json Payload(const std::string& job, const std::vector<std::string>& paths,
             const std::string& rule_text = kMarkerRule) {
  std::vector<RuleSource> sources{{"marker", "marker.yar", rule_text}};
  auto compiled = RuleSet::FromSources(sources);
  return {{"job", job},
          {"run", 1},
          {"kind", "files"},
          {"rules",
           {{"name", "m"},
            {"version", 1},
            {"sha256", compiled ? (*compiled)->version() : ""},
            {"sources", PackSources(sources)}}},
          {"paths", paths},
          {"cpu", 0},
          {"threads", 2}};
}

void WaitIdle(const ScanJobs& jobs) {
  for (int i = 0; i < 2000 && jobs.Running() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(jobs.Running(), 0u);
}

TEST(ScanJobs, FindingsAndProgressCarryTheJobId) {
  TempDir dir;
  WriteFile(dir / "tree/a.txt", "nothing here\n");
  WriteFile(dir / "tree/sub/b.bin", "xx VIGIL-JOB-MARKER xx\n");
  WriteFile(dir / "tree/sub/c.txt", "VIGIL-JOB-MARKER\n");
  Collected got;
  ScanJobs jobs({.state_dir = dir / "state",
                 .host = {},
                 .emit =
                     [&](v1::Event&& e) {
                       std::lock_guard lock(got.mu);
                       got.events.push_back(std::move(e));
                     },
                 .progress_interval = std::chrono::milliseconds(0),
                 .max_jobs = 4});
  auto answer = jobs.Start(Payload("job-1", {(dir / "tree").string()}));
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ((*answer)["accepted"], "job-1");
  WaitIdle(jobs);

  std::set<std::string> found;
  std::vector<std::string> statuses;
  v1::Event last;
  for (const auto& e : got.Snapshot()) {
    EXPECT_EQ(e.event_category(), "scan");
    EXPECT_EQ(e.vigil_scan_id(), "job-1");
    if (e.event_action() == "yara_match") found.insert(e.file_path());
    if (e.event_action() == "scan_progress") {
      statuses.push_back(e.vigil_scan_status());
      last = e;
    }
  }
  EXPECT_EQ(found, (std::set<std::string>{(dir / "tree/sub/b.bin").string(),
                                          (dir / "tree/sub/c.txt").string()}));
  ASSERT_FALSE(statuses.empty());
  EXPECT_EQ(statuses.front(), "running");
  EXPECT_EQ(statuses.back(), "done");
  EXPECT_EQ(last.vigil_scan_files_total(), 3);
  EXPECT_EQ(last.vigil_scan_files_done(), 3);
  EXPECT_EQ(last.vigil_scan_findings(), 2);
  EXPECT_EQ(last.vigil_scan_kind(), "files");
}

TEST(ScanJobs, CancelByJobIdEndsAWaitingScan) {
  TempDir dir;
  WriteFile(dir / "tree/a.txt", "VIGIL-JOB-MARKER\n");
  Collected got;
  ScanJobs jobs({.state_dir = dir / "state",
                 .host = {},
                 .emit =
                     [&](v1::Event&& e) {
                       std::lock_guard lock(got.mu);
                       got.events.push_back(std::move(e));
                     },
                 .progress_interval = std::chrono::milliseconds(0),
                 .max_jobs = 4});
  auto payload = Payload("job-2", {(dir / "tree").string()});
  payload["splay_seconds"] = 3600;  // waits up to an hour before it starts
  ASSERT_TRUE(jobs.Start(payload));
  auto again = jobs.Start(payload);  // a redelivered command does not start a second scan
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["already_running"], true);
  EXPECT_EQ(jobs.Running(), 1u);

  auto unknown = jobs.Control({{"job", "nope"}, {"op", "cancel"}});
  ASSERT_FALSE(unknown);
  EXPECT_THAT(unknown.error().message, HasSubstr("no scan nope is running"));
  auto bad_op = jobs.Control({{"job", "job-2"}, {"op", "explode"}});
  ASSERT_FALSE(bad_op);
  EXPECT_THAT(bad_op.error().message, HasSubstr("pause, resume or cancel"));

  ASSERT_TRUE(jobs.Control({{"job", "job-2"}, {"op", "cancel"}}));
  WaitIdle(jobs);
  auto events = got.Snapshot();
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().vigil_scan_status(), "waiting");
  EXPECT_EQ(events.back().vigil_scan_status(), "cancelled");
  for (const auto& e : events) EXPECT_NE(e.event_action(), "yara_match");
}

TEST(ScanJobs, BadPayloadsAndRulesFailTheCommandWithTheReason) {
  TempDir dir;
  ScanJobs jobs({.state_dir = dir / "state",
                 .host = {},
                 .emit = [](v1::Event&&) {},
                 .progress_interval = std::chrono::milliseconds(0),
                 .max_jobs = 4});
  auto no_kind = jobs.Start({{"job", "x"}});
  ASSERT_FALSE(no_kind);
  EXPECT_THAT(no_kind.error().message, HasSubstr("malformed payload"));

  auto bad_rules = Payload("x", {"/tmp"}, "rule broken { condition: $nope }\n");
  auto r = jobs.Start(bad_rules);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("marker.yar:1: undefined string \"$nope\""));

  auto tampered = Payload("x", {"/tmp"});
  tampered["rules"]["sha256"] = std::string(64, '0');
  r = jobs.Start(tampered);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("is not the job's"));

  auto no_paths = Payload("x", {});
  r = jobs.Start(no_paths);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("needs \"paths\""));
  EXPECT_EQ(jobs.Running(), 0u);
}

}  // namespace
}  // namespace vigil::agent::scan
