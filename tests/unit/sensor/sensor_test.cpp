// Tests of the event sources against the real kernel (they run as root): the netlink process
// connector source (exec, fork, exit, truncation, snapshot, process chains), the /proc parsers, and
// the JSONL replay source.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "agent/sensor/proc_source.hpp"
#include "agent/sensor/procfs.hpp"
#include "agent/sensor/replay_source.hpp"
#include "test_util.hpp"

namespace vigil::agent {
namespace {

using test::Child;
using test::Collector;
using test::RealPath;
using test::Spawn;

std::string UniqueMarker() {
  std::random_device rd;
  return "vigil-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

std::vector<std::string> Args(const v1::Event& e) {
  return {e.process_args().begin(), e.process_args().end()};
}

bool Is(const v1::Event& e, std::string_view action, pid_t pid) {
  return e.event_action() == action && e.process_pid() == pid;
}

class ProcSourceTest : public ::testing::Test {
 protected:
  void StartSource(bool snapshot = false) {
    auto src = MakeProcSource({.snapshot_at_start = snapshot});
    ASSERT_TRUE(src) << src.error().message;
    source_ = std::move(*src);
    EXPECT_EQ(source_->Kind(), "proc");
    auto started = source_->Start(collector_.Sink());
    ASSERT_TRUE(started) << started.error().message;
  }
  void TearDown() override {
    if (source_) source_->Stop();
  }

  Collector collector_;
  std::unique_ptr<EventSource> source_;
};

TEST_F(ProcSourceTest, ExecForkAndExitOfAShell) {
  StartSource();
  const std::string marker = UniqueMarker();
  // The shell waits on its stdin so its /proc entry is still there when the exec event is read;
  // closing the pipe lets it exit 7.
  const std::vector<std::string> argv = {"/bin/sh", "-c", "read -r _; exit 7", marker};
  auto child = Spawn(argv);
  ASSERT_TRUE(child);
  const pid_t pid = child->pid;

  auto exec = collector_.WaitFor([&](const v1::Event& e) { return Is(e, "exec", pid); });
  ASSERT_TRUE(exec) << "no exec event for pid " << pid;
  EXPECT_EQ(exec->process_executable(), RealPath("/bin/sh"));
  EXPECT_EQ(exec->process_name(), procfs::BaseName(RealPath("/bin/sh")));
  EXPECT_EQ(Args(*exec), argv);
  EXPECT_EQ(exec->process_args_count(), static_cast<std::int64_t>(argv.size()));
  EXPECT_FALSE(exec->vigil_process_args_truncated());
  EXPECT_EQ(exec->process_command_line(), "/bin/sh -c read -r _; exit 7 " + marker);
  EXPECT_EQ(exec->process_parent_pid(), ::getpid());
  EXPECT_EQ(exec->event_category(), "process");
  EXPECT_EQ(exec->event_type(), "start");
  EXPECT_EQ(exec->event_dataset(), "vigil.proc");
  EXPECT_EQ(exec->user_id(), std::to_string(::getuid()));
  EXPECT_EQ(exec->user_effective_id(), std::to_string(::geteuid()));
  EXPECT_EQ(exec->group_id(), std::to_string(::getgid()));
  EXPECT_EQ(exec->process_working_directory(), std::filesystem::current_path().string());
  EXPECT_TRUE(exec->extra().contains(kStartTicksKey));
  EXPECT_TRUE(exec->extra().contains(kParentStartTicksKey));
  auto self = procfs::ReadStat(::getpid());
  ASSERT_TRUE(self);
  EXPECT_EQ(exec->extra().at(kParentStartTicksKey), std::to_string(self->start_ticks));
  EXPECT_GT(exec->process_start(), 0);
  EXPECT_LE(exec->process_start(), exec->timestamp());
  EXPECT_FALSE(exec->vigil_process_cgroup().empty());
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  EXPECT_LE(exec->timestamp(), now);
  EXPECT_GT(exec->timestamp(), now - 60'000'000'000);

  auto fork = collector_.WaitFor([&](const v1::Event& e) { return Is(e, "fork", pid); });
  ASSERT_TRUE(fork);
  EXPECT_EQ(fork->process_parent_pid(), ::getpid());
  EXPECT_EQ(fork->event_type(), "start");
  // Fork and exec of one process carry the same start ticks (one entity per process lifetime).
  EXPECT_EQ(fork->extra().at(kStartTicksKey), exec->extra().at(kStartTicksKey));

  const int status = child->Finish();
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 7);
  auto exit = collector_.WaitFor([&](const v1::Event& e) { return Is(e, "exit", pid); });
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->process_exit_code(), 7);
  EXPECT_EQ(exit->event_type(), "end");
  EXPECT_GT(exit->process_end(), 0);
  EXPECT_EQ(exit->process_parent_pid(), ::getpid());
  EXPECT_EQ(source_->Counters().parse_errors, 0u);
  EXPECT_GE(source_->Counters().events, 3u);
}

TEST_F(ProcSourceTest, ExitCodeOfAKilledProcess) {
  StartSource();
  auto child = Spawn({"/bin/sh", "-c", "kill -9 $$", UniqueMarker()});
  ASSERT_TRUE(child);
  const pid_t pid = child->pid;
  child->Finish();
  auto exit = collector_.WaitFor([&](const v1::Event& e) { return Is(e, "exit", pid); });
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->process_exit_code(), 128 + 9);
}

TEST_F(ProcSourceTest, ThreadsAreNotReportedAsProcesses) {
  StartSource();
  std::atomic<pid_t> tid{0};
  std::thread t([&] { tid = ::gettid(); });
  t.join();
  // A marker process afterwards: once its exec arrives, the thread's events would have too.
  auto child = Spawn({"/bin/sh", "-c", "read -r _", UniqueMarker()});
  ASSERT_TRUE(child);
  const pid_t pid = child->pid;
  ASSERT_TRUE(collector_.WaitFor([&](const v1::Event& e) { return Is(e, "exec", pid); }));
  child->Finish();
  ASSERT_TRUE(collector_.WaitFor([&](const v1::Event& e) { return Is(e, "exit", pid); }));
  for (const auto& e : collector_.Snapshot()) EXPECT_NE(e.process_pid(), tid.load());
}

TEST_F(ProcSourceTest, LongCommandLineIsTruncatedAndCounted) {
  StartSource();
  const std::string marker = UniqueMarker();
  const std::string big(100 * 1024, 'A');
  const std::vector<std::string> argv = {"/bin/sh", "-c", "read -r _", marker, big, "after"};
  auto child = Spawn(argv);
  ASSERT_TRUE(child);
  const pid_t pid = child->pid;
  auto exec = collector_.WaitFor([&](const v1::Event& e) { return Is(e, "exec", pid); });
  ASSERT_TRUE(exec);
  EXPECT_TRUE(exec->vigil_process_args_truncated());
  EXPECT_EQ(exec->process_args_count(), static_cast<std::int64_t>(argv.size()));
  ASSERT_EQ(exec->process_args_size(), 5);  // "after" is past the cut
  EXPECT_EQ(exec->process_args(3), marker);
  EXPECT_LT(exec->process_args(4).size(), big.size());
  EXPECT_TRUE(big.starts_with(exec->process_args(4)));
  std::size_t kept = 0;
  for (const auto& a : exec->process_args()) kept += a.size() + 1;
  EXPECT_LE(kept, procfs::kMaxCmdlineBytes + 1);
  EXPECT_LE(exec->process_command_line().size(), procfs::kMaxCmdlineBytes);
}

TEST_F(ProcSourceTest, SnapshotIncludesThisProcessAfterItsParent) {
  StartSource(/*snapshot=*/true);
  const pid_t self = ::getpid();
  auto mine = collector_.WaitFor([&](const v1::Event& e) { return Is(e, "snapshot", self); });
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->event_type(), "info");
  EXPECT_EQ(mine->process_executable(), test::ReadLink("/proc/self/exe"));
  EXPECT_EQ(mine->process_parent_pid(), ::getppid());
  EXPECT_TRUE(mine->extra().contains(kStartTicksKey));

  auto events = collector_.Snapshot();
  std::map<std::int64_t, std::size_t> position;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].event_action() == "snapshot") position.emplace(events[i].process_pid(), i);
  }
  // Every parent that is in the snapshot comes before its child.
  for (const auto& [pid, i] : position) {
    auto parent = position.find(events[i].process_parent_pid());
    if (parent != position.end()) {
      EXPECT_LT(parent->second, i) << "pid " << pid;
    }
    EXPECT_NE(events[i].process_parent_pid(), 2) << "kernel thread in snapshot: " << pid;
  }
}

TEST_F(ProcSourceTest, ChainOfShellsHasCorrectParents) {
  StartSource();
  const std::string marker = UniqueMarker();
  auto child = Spawn({"/bin/sh", "-c", "sh -c \"sleep 1\"", marker});
  ASSERT_TRUE(child);
  const pid_t top = child->pid;
  const std::string sleep_exe = RealPath("/bin/sleep");
  auto sleep = collector_.WaitFor([&](const v1::Event& e) {
    return e.event_action() == "exec" && e.process_executable() == sleep_exe &&
           e.process_args_size() == 2 && e.process_args(1) == "1" && e.process_parent_pid() != 0;
  });
  ASSERT_TRUE(sleep);
  // Walk up from sleep through the exec events to the spawned shell, then to this test.
  auto execs = collector_.Snapshot();
  auto exec_of = [&](std::int64_t pid) -> const v1::Event* {
    for (const auto& e : execs) {
      if (e.event_action() == "exec" && e.process_pid() == pid) return &e;
    }
    return nullptr;
  };
  const v1::Event* inner = exec_of(sleep->process_parent_pid());
  ASSERT_NE(inner, nullptr) << "no exec of sleep's parent " << sleep->process_parent_pid();
  EXPECT_EQ(inner->process_executable(), RealPath("/bin/sh"));
  EXPECT_EQ(Args(*inner), (std::vector<std::string>{"sh", "-c", "sleep 1"}));
  EXPECT_EQ(inner->process_parent_pid(), top);
  const v1::Event* outer = exec_of(top);
  ASSERT_NE(outer, nullptr);
  EXPECT_EQ(outer->process_parent_pid(), ::getpid());
  // Fork events agree with the exec events.
  auto fork = collector_.WaitFor(
      [&](const v1::Event& e) { return Is(e, "fork", static_cast<pid_t>(inner->process_pid())); });
  ASSERT_TRUE(fork);
  EXPECT_EQ(fork->process_parent_pid(), top);
  child->Finish();
}

TEST_F(ProcSourceTest, StopIsPrompt) {
  StartSource();
  auto begin = std::chrono::steady_clock::now();
  source_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(1));
  source_->Stop();  // idempotent
  source_.reset();
}

TEST_F(ProcSourceTest, StartTwiceFails) {
  StartSource();
  EXPECT_FALSE(source_->Start([](v1::Event&&) {}));
}

// ---------------------------------------------------------------- /proc parsers

TEST(Procfs, ParseStatWithAwkwardComm) {
  std::string text =
      "1234 (a) (b c)) S 77 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
  auto st = procfs::ParseStat(text);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->comm, "a) (b c)");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 77);
  EXPECT_EQ(st->flags, 4194560u);
  EXPECT_EQ(st->start_ticks, 987654u);
  EXPECT_FALSE(st->IsKernelThread());
  EXPECT_FALSE(procfs::ParseStat("1234 (x) S 1 2"));
  EXPECT_FALSE(procfs::ParseStat("garbage"));
}

TEST(Procfs, ParseCmdline) {
  using namespace std::string_literals;
  auto full = procfs::ParseCmdline("ls\0-l\0\0"s, 7, 3);
  EXPECT_EQ(full.args, (std::vector<std::string>{"ls", "-l", ""}));
  EXPECT_EQ(full.count, 3u);
  EXPECT_FALSE(full.truncated);
  EXPECT_EQ(full.Joined(), "ls -l ");
  auto retitled = procfs::ParseCmdline("nginx: worker"s, 13, 0);  // setproctitle, no NUL
  EXPECT_EQ(retitled.args, (std::vector<std::string>{"nginx: worker"}));
  EXPECT_EQ(retitled.count, 1u);
  auto cut = procfs::ParseCmdline("a\0bb"s, 10, 3);
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.args, (std::vector<std::string>{"a", "bb"}));
  EXPECT_EQ(cut.count, 3u);
}

TEST(Procfs, ContainerIdFromCgroup) {
  const std::string id(64, 'a');
  EXPECT_EQ(procfs::ContainerIdFromCgroup("/system.slice/docker-" + id + ".scope"), id);
  EXPECT_EQ(procfs::ContainerIdFromCgroup("/kubepods/burstable/pod1234/" + id), id);
  EXPECT_EQ(procfs::ContainerIdFromCgroup("/user.slice/user-1000.slice/session-2.scope"), "");
  EXPECT_EQ(procfs::ContainerIdFromCgroup("/x/" + id + "0"), "");  // 65 digits: not an id
}

TEST(Procfs, StartTicksOfThisProcess) {
  auto st = procfs::ReadStat(::getpid());
  ASSERT_TRUE(st);
  auto start = procfs::StartTicksToNs(st->start_ticks);
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  EXPECT_LE(start, now + 1'000'000'000);
  EXPECT_GT(start, now - 3600'000'000'000);  // this test started less than an hour ago
  auto status = procfs::ReadStatus(::getpid());
  ASSERT_TRUE(status);
  EXPECT_EQ(status->ppid, ::getppid());
  EXPECT_EQ(status->uid, ::getuid());
  EXPECT_EQ(status->euid, ::geteuid());
}

// ---------------------------------------------------------------- replay

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / (UniqueMarker() + ".jsonl");
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void Write(const std::string& text) { std::ofstream(path_) << text; }

  std::filesystem::path path_;
};

TEST_F(ReplayTest, GoodLinesAreDeliveredAndAMalformedOneIsCounted) {
  Write(
      R"({"@timestamp": "2026-01-02T03:04:05.5Z", "event.category": "process", "event.action": "exec", "process.pid": 42, "process.args": ["ls", "-l"]})"
      "\n"
      R"({"event.category": "network", "source.port": 1234, "custom.field": "kept"})"
      "\n"
      "{this is not json\n"
      "\n"
      R"({"event": {"category": "dns", "action": "query"}, "dns.question.name": "example.com"})"
      "\n");
  auto src = MakeReplaySource({.file = path_});
  ASSERT_TRUE(src) << src.error().message;
  EXPECT_EQ((*src)->Kind(), "replay");
  Collector collector;
  ASSERT_TRUE((*src)->Start(collector.Sink()));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!(*src)->Done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE((*src)->Done());
  (*src)->Stop();
  auto events = collector.Snapshot();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ((*src)->Counters().events, 3u);
  EXPECT_EQ((*src)->Counters().parse_errors, 1u);
  EXPECT_EQ(events[0].process_pid(), 42);
  EXPECT_EQ(events[0].process_args_size(), 2);
  EXPECT_EQ(events[0].timestamp() % 1'000'000'000, 500'000'000);
  EXPECT_GT(events[1].timestamp(), 0);  // missing @timestamp: now
  EXPECT_EQ(events[1].extra().at("custom.field"), "kept");
  EXPECT_EQ(events[2].dns_question_name(), "example.com");
}

TEST_F(ReplayTest, PacedReplayStopsPromptly) {
  std::string text;
  for (int i = 0; i < 50; ++i)
    text += R"({"event.category": "process", "process.pid": 1})"
            "\n";
  Write(text);
  auto src = MakeReplaySource({.file = path_, .events_per_second = 2});
  ASSERT_TRUE(src);
  Collector collector;
  ASSERT_TRUE((*src)->Start(collector.Sink()));
  ASSERT_TRUE(collector.WaitFor([](const v1::Event&) { return true; }));
  auto begin = std::chrono::steady_clock::now();
  (*src)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::milliseconds(500));
  EXPECT_LT(collector.Snapshot().size(), 50u);
  EXPECT_TRUE((*src)->Done());
}

TEST_F(ReplayTest, MissingFileFails) { EXPECT_FALSE(MakeReplaySource({.file = path_ / "nope"})); }

}  // namespace
}  // namespace vigil::agent
