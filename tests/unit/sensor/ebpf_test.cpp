// Tests of the eBPF sensor against the real kernel (root): exec with exact argv, 10 KiB argv
// truncation, no field carried from one record into the next, 200 short-lived `sh -c` runs with
// no miss, sh -> sh -> sleep lineage with /proc's start ticks, fork/exit codes, TCP connect/accept
// over IPv4 and IPv6, file events in a /tmp dir, DNS and UDP (socket layer and syscalls) through a
// loopback responder, persistence events, counters, and the sensor factory.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "agent/sensor/ebpf_source.hpp"
#include "agent/sensor/proc_source.hpp"
#include "agent/sensor/procfs.hpp"
#include "agent/sensor/sensor_factory.hpp"
#include "common/fd.hpp"
#include "test_util.hpp"

namespace vigil::agent {
namespace {

using test::Collector;
using test::RealPath;
using test::Spawn;
namespace fs = std::filesystem;

std::string Marker() {
  std::random_device rd;
  return "vigil-ebpf-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

std::vector<std::string> Args(const v1::Event& e) {
  return {e.process_args().begin(), e.process_args().end()};
}

std::string Extra(const v1::Event& e, const char* key) {
  auto it = e.extra().find(key);
  return it == e.extra().end() ? std::string() : it->second;
}

int RunAndWait(const std::vector<std::string>& argv, pid_t* pid_out = nullptr) {
  auto child = Spawn(argv);
  if (!child) return -1;
  if (pid_out) *pid_out = child->pid;
  return child->Finish();
}

class EbpfTest : public ::testing::Test {
 protected:
  void StartSource(EbpfSourceOptions options = {}) {
    options.snapshot_at_start = false;
    options.persistence_inventory = false;
    options.exclude_pid = -1;  // the test's own sockets and files are the activity under test
    options.poll_interval = std::chrono::milliseconds(20);
    auto src = MakeEbpfSource(options);
    ASSERT_TRUE(src) << src.error().message;
    source_ = std::move(*src);
    EXPECT_EQ(source_->Kind(), "ebpf");
    auto started = source_->Start(collector_.Sink());
    ASSERT_TRUE(started) << started.error().message;
  }
  void TearDown() override {
    if (source_) {
      auto c = source_->Counters();
      EXPECT_EQ(c.dropped, 0u);
      EXPECT_EQ(c.parse_errors, 0u);
      source_->Stop();
    }
  }
  std::optional<v1::Event> Wait(const std::function<bool(const v1::Event&)>& pred) {
    return collector_.WaitFor(pred, std::chrono::seconds(10));
  }
  std::optional<v1::Event> WaitForExit(pid_t pid) {
    return Wait(
        [&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == pid; });
  }
  // The actions of the events about process pid so far, in order.
  std::vector<std::string> ActionsOf(pid_t pid) {
    std::vector<std::string> actions;
    for (const auto& e : collector_.Snapshot())
      if (e.process_pid() == pid) actions.push_back(e.event_action());
    return actions;
  }
  // Where the first event about process pid with this action is among the events so far (-1: none).
  int IndexOf(pid_t pid, const char* action) {
    auto events = collector_.Snapshot();
    for (std::size_t i = 0; i < events.size(); ++i)
      if (events[i].process_pid() == pid && events[i].event_action() == action)
        return static_cast<int>(i);
    return -1;
  }
  // Create, rename, chmod +x, append, unlink in a /tmp dir: one event each, exact fields.
  void CheckFileEvents();
  // A refused finit_module: a failed attempt with the module file and the errno's text.
  void CheckFailedModuleLoad();
  // A source with these syscall hooks reports files, an accept and (with `modules`) module loads.
  void CheckSyscallHooks(EbpfSourceOptions::SyscallHooks hooks, bool modules);
  // Twenty sends to one UDP destination: one flow event.
  void CheckUdpFlows();
  // A query to a resolver on 127.0.0.53 (sendto) and its answer (recvfrom): both, with the answer's
  // records, and the domain on a later connect to the answer's address.
  void CheckDnsOverUdp();
  // DNS over TCP (recv in pieces) to a resolver on 127.0.0.53; the query with one send, or (with
  // `writev_split`) as glibc's resolver sends it: writev of the length prefix and the message.
  void CheckDnsOverTcp(bool writev_split = false);

  Collector collector_;
  std::unique_ptr<EventSource> source_;
};

// ---------------------------------------------------------------- process

TEST_F(EbpfTest, ExecOfAScriptWithKnownArgv) {
  StartSource();
  fs::path dir = fs::temp_directory_path() / Marker();
  fs::create_directories(dir);
  fs::path script = dir / "script.sh";
  { std::ofstream(script) << "#!/bin/sh\nexit 0\n"; }
  fs::permissions(script, fs::perms::owner_all);
  pid_t pid = 0;
  RunAndWait({script.string(), "alpha", "two words", ""}, &pid);
  auto exec = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exec" && e.process_pid() == pid; });
  fs::remove_all(dir);
  ASSERT_TRUE(exec);
  // The kernel runs the interpreter with the script's path in front of the arguments.
  EXPECT_EQ(Args(*exec),
            (std::vector<std::string>{"/bin/sh", script.string(), "alpha", "two words", ""}));
  EXPECT_EQ(exec->process_args_count(), 5);
  EXPECT_FALSE(exec->vigil_process_args_truncated());
  EXPECT_EQ(exec->process_executable(), RealPath("/bin/sh"));
  EXPECT_EQ(exec->process_working_directory(), fs::current_path().string());
  EXPECT_EQ(exec->process_parent_pid(), ::getpid());
  EXPECT_EQ(exec->user_id(), std::to_string(::getuid()));
  EXPECT_EQ(exec->user_effective_id(), std::to_string(::geteuid()));
  EXPECT_EQ(exec->group_id(), std::to_string(::getgid()));
  EXPECT_EQ(exec->event_category(), "process");
  EXPECT_EQ(exec->event_type(), "start");
  EXPECT_EQ(exec->event_dataset(), "vigil.ebpf");
  EXPECT_EQ(Extra(*exec, kParentStartTicksKey),
            std::to_string(procfs::ReadStat(::getpid())->start_ticks));
  // The interpreter's identity as stat(2) reports it, read in the kernel (keys the hash cache).
  struct stat st {};
  ASSERT_EQ(::stat("/bin/sh", &st), 0);
  auto ns = [](const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  EXPECT_EQ(Extra(*exec, kExeIdKey), std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) +
                                         ":" + std::to_string(st.st_size) + ":" +
                                         std::to_string(ns(st.st_mtim)) + ":" +
                                         std::to_string(ns(st.st_ctim)));
}

TEST_F(EbpfTest, TenKiBArgvIsTruncatedAndFlagged) {
  StartSource();
  std::vector<std::string> argv = {"/bin/true"};
  for (int i = 0; i < 10; ++i) argv.push_back(std::string(1023, static_cast<char>('a' + i)));
  pid_t pid = 0;
  RunAndWait(argv, &pid);
  auto exec = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exec" && e.process_pid() == pid; });
  ASSERT_TRUE(exec);
  EXPECT_TRUE(exec->vigil_process_args_truncated());
  EXPECT_EQ(exec->process_args_count(), 11);
  // 8 KiB kept: /bin/true, seven whole arguments and the start of the eighth.
  ASSERT_EQ(exec->process_args_size(), 9);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(exec->process_args(i), argv[static_cast<std::size_t>(i)]);
  EXPECT_EQ(exec->process_args(8), argv[8].substr(0, 8192 - 10 - 7 * 1024));
}

// The source refills one message for every record; the collector's sink leaves it in place (as
// the agent's does), and each record must still get its own fields alone: a truncated exec's argv,
// flag and executable identity are not carried into the fork and exits after it.
TEST_F(EbpfTest, AnEventLeftInPlaceByTheSinkCarriesNothingIntoTheNextRecord) {
  StartSource();
  std::vector<std::string> argv = {"/bin/sh", "-c", "(exit 3); exit 7", "sh"};
  for (int i = 0; i < 10; ++i) argv.push_back(std::string(1023, static_cast<char>('a' + i)));
  pid_t pid = 0;
  EXPECT_EQ(WEXITSTATUS(RunAndWait(argv, &pid)), 7);
  auto exec = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exec" && e.process_pid() == pid; });
  ASSERT_TRUE(exec);
  EXPECT_TRUE(exec->vigil_process_args_truncated());
  ASSERT_GT(exec->process_args_size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(exec->process_args(i), argv[static_cast<std::size_t>(i)]);
  EXPECT_FALSE(Extra(*exec, kExeIdKey).empty());
  auto fork = Wait([&](const v1::Event& e) {
    return e.event_action() == "fork" && e.process_parent_pid() == pid;
  });
  ASSERT_TRUE(fork);
  EXPECT_EQ(fork->process_args_size(), 0);
  EXPECT_FALSE(fork->has_process_args_count());
  EXPECT_FALSE(fork->has_process_command_line());
  EXPECT_FALSE(fork->has_vigil_process_args_truncated());
  EXPECT_EQ(Extra(*fork, kExeIdKey), "");
  for (pid_t who : {static_cast<pid_t>(fork->process_pid()), pid}) {
    auto exit = Wait(
        [&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == who; });
    ASSERT_TRUE(exit) << who;
    EXPECT_EQ(exit->process_exit_code(), who == pid ? 7 : 3);
    EXPECT_EQ(exit->process_args_size(), 0);
    EXPECT_FALSE(exit->has_process_executable());
    EXPECT_FALSE(exit->has_process_working_directory());
    EXPECT_FALSE(exit->has_process_command_line());
    EXPECT_FALSE(exit->has_vigil_process_args_truncated());
    EXPECT_EQ(Extra(*exit, kExeIdKey), "");
  }
}

TEST_F(EbpfTest, TwoHundredShortLivedShellsAreAllCapturedWithArgvAndExe) {
  StartSource();
  const std::string marker = Marker();
  std::map<pid_t, std::string> expected;
  for (int i = 0; i < 200; ++i) {
    std::string cmd = "echo " + marker + "-" + std::to_string(i) + " >/dev/null";
    pid_t pid = 0;
    ASSERT_EQ(RunAndWait({"/bin/sh", "-c", cmd}, &pid), 0);
    expected[pid] = cmd;
  }
  const std::string sh = RealPath("/bin/sh");
  // Until every exec arrived, or 10 s.
  auto count = [&] {
    std::size_t found = 0;
    for (const auto& e : collector_.Snapshot()) {
      if (e.event_action() == "exec" && expected.contains(static_cast<pid_t>(e.process_pid())))
        ++found;
    }
    return found;
  };
  for (int i = 0; i < 500 && count() < expected.size(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::size_t misses = 0;
  std::set<pid_t> seen;
  for (const auto& e : collector_.Snapshot()) {
    auto it = expected.find(static_cast<pid_t>(e.process_pid()));
    if (e.event_action() != "exec" || it == expected.end()) continue;
    seen.insert(it->first);
    EXPECT_EQ(Args(e), (std::vector<std::string>{"/bin/sh", "-c", it->second}));
    EXPECT_EQ(e.process_executable(), sh);
  }
  misses = expected.size() - seen.size();
  EXPECT_EQ(misses, 0u);
}

TEST_F(EbpfTest, ShShSleepChainHasParentsAndProcStartTicks) {
  StartSource();
  const std::string marker = Marker();
  // Trailing ":" keeps each shell from exec'ing its last command in place.
  auto outer = Spawn({"/bin/sh", "-c", "/bin/sh -c 'sleep 3; :' " + marker + "; :"});
  ASSERT_TRUE(outer);
  const pid_t a = outer->pid;
  auto inner = Wait([&](const v1::Event& e) {
    return e.event_action() == "exec" && e.process_parent_pid() == a &&
           e.process_executable() == RealPath("/bin/sh");
  });
  ASSERT_TRUE(inner);
  const pid_t b = static_cast<pid_t>(inner->process_pid());
  auto sleep = Wait([&](const v1::Event& e) {
    return e.event_action() == "exec" && e.process_parent_pid() == b;
  });
  ASSERT_TRUE(sleep);
  const pid_t c = static_cast<pid_t>(sleep->process_pid());
  EXPECT_EQ(Args(*sleep), (std::vector<std::string>{"sleep", "3"}));
  // Start ticks equal /proc's for the process and its parent (read while they live).
  auto sa = procfs::ReadStat(a), sb = procfs::ReadStat(b), sc = procfs::ReadStat(c);
  ASSERT_TRUE(sa && sb && sc);
  EXPECT_EQ(sc->ppid, b);
  EXPECT_EQ(sb->ppid, a);
  EXPECT_EQ(Extra(*inner, kStartTicksKey), std::to_string(sb->start_ticks));
  EXPECT_EQ(Extra(*inner, kParentStartTicksKey), std::to_string(sa->start_ticks));
  EXPECT_EQ(Extra(*sleep, kStartTicksKey), std::to_string(sc->start_ticks));
  EXPECT_EQ(Extra(*sleep, kParentStartTicksKey), std::to_string(sb->start_ticks));
  // dash runs a command with vfork: B's fork was folded into its exec (above, with B's start
  // ticks and A as the parent), and no fork event was sent for B, nor for C.
  ::kill(c, SIGKILL);
  outer->Finish();
  ASSERT_TRUE(
      Wait([&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == a; }));
  for (const auto& e : collector_.Snapshot()) {
    EXPECT_FALSE(e.event_action() == "fork" && (e.process_pid() == b || e.process_pid() == c))
        << e.process_pid();
  }
}

// The kernel leaves a fork's paths out when the child runs what the parent's last record reported
// (VG_FORK_IMAGE_OF_PARENT), and an exec's working directory when it is the one its process's last
// record reported (VG_EXEC_CWD_AS_REPORTED); the source fills them in. A cd since that record makes
// the kernel walk again. Every fork and exec must carry the paths of its moment. dash forks its
// subshells and vforks its commands: the two subshells are fork events, each /bin/true an exec
// whose fork was folded into it (VG_EXEC_FORK_FOLDED), whose working directory is then its
// parent's last reported one — after the cd, the one the second subshell's fork reported.
TEST_F(EbpfTest, ForksAndExecsCarryTheImageAndWorkingDirectoryOfTheirMomentAcrossACd) {
  StartSource();
  fs::path dir = fs::temp_directory_path() / Marker();
  fs::create_directories(dir);
  pid_t pid = 0;
  const std::string script =
      "/bin/true; (exit 3); cd " + dir.string() + " && (exit 4); /bin/true; exit 0";
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c", script}, &pid), 0);
  auto exec = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exec" && e.process_pid() == pid; });
  ASSERT_TRUE(exec);
  const std::string cwd = fs::current_path().string();
  EXPECT_EQ(exec->process_working_directory(), cwd);
  ASSERT_TRUE(Wait(
      [&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == pid; }));
  std::vector<v1::Event> forks, trues;
  for (const auto& e : collector_.Snapshot()) {
    if (e.process_parent_pid() != pid) continue;
    if (e.event_action() == "fork") forks.push_back(e);
    if (e.event_action() == "exec") trues.push_back(e);
  }
  auto by_time = [](const v1::Event& a, const v1::Event& b) {
    return a.timestamp() < b.timestamp();
  };
  std::sort(forks.begin(), forks.end(), by_time);
  std::sort(trues.begin(), trues.end(), by_time);
  const std::vector<std::string> dirs = {cwd, dir.string()};
  ASSERT_EQ(forks.size(), 2u);
  ASSERT_EQ(trues.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(forks[i].process_executable(), RealPath("/bin/sh")) << i;
    EXPECT_EQ(forks[i].process_name(), fs::path(RealPath("/bin/sh")).filename().string()) << i;
    EXPECT_EQ(forks[i].process_working_directory(), dirs[i]) << i;
    EXPECT_EQ(trues[i].process_executable(), RealPath("/bin/true")) << i;
    EXPECT_EQ(trues[i].process_working_directory(), dirs[i]) << i;
  }
  // In order: true, (exit 3), cd, (exit 4), true.
  EXPECT_LT(trues[0].timestamp(), forks[0].timestamp());
  EXPECT_LT(forks[1].timestamp(), trues[1].timestamp());
  fs::remove_all(dir);
}

// With a processes map far smaller than the live processes, the kernel's per-process state is
// evicted all the time: each phase keeps 30 sleeps alive, every one of them reported (its fork and
// exec each store its state), in a map of 16 entries — at least 14 are forgotten while they live. A
// fork or exec whose state is gone carries its paths again, a held fork that is gone leaves its
// exec unfolded. The map forgets; no record may say anything untrue. dash forks each `sleep &` (a
// fork event, then an exec) and vforks each /bin/true (its fork held for its exec); the phase
// (argument a/b, sleep 3/4) says which working directory each must carry.
TEST_F(EbpfTest, AFullProcessesMapForgetsButNeverMisreports) {
  EbpfSourceOptions options;
  options.process_entries = 16;
  options.fork_hold = std::chrono::milliseconds(0);  // every fork record the kernel sends, an event
  StartSource(options);
  fs::path dir = fs::temp_directory_path() / Marker();
  fs::create_directories(dir);
  pid_t pid = 0;
  const std::string phase =
      "for i in 1 2 3 4 5 6 7 8 9 10; do sleep S & sleep S & sleep S & /bin/true P; done; ";
  auto with = [&](std::string text, const char* s, const char* p) {
    text.replace(text.find('P'), 1, p);
    for (std::size_t at; (at = text.find(" S ")) != std::string::npos;) text.replace(at + 1, 1, s);
    return text;
  };
  const std::string script = with(phase, "3", "a") + "(exit 3); cd " + dir.string() + " && " +
                             with(phase, "4", "b") + "(exit 4); wait";
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c", script}, &pid), 0);
  ASSERT_TRUE(Wait(
      [&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == pid; }));
  const std::string cwd = fs::current_path().string();
  const std::string sh = RealPath("/bin/sh"), sleep = RealPath("/bin/sleep"),
                    truth = RealPath("/bin/true");
  std::map<pid_t, std::string> dir_of;  // each child's working directory, from its exec's argv
  std::map<std::string, int> execs;
  for (const auto& e : collector_.Snapshot()) {
    if (e.process_parent_pid() != pid || e.event_action() != "exec") continue;
    const auto args = Args(e);
    ASSERT_EQ(args.size(), 2u) << e.process_command_line();
    const bool first = args[1] == "3" || args[1] == "a";
    const std::string& want = first ? cwd : dir.string();
    EXPECT_EQ(e.process_executable(), args[0] == "sleep" ? sleep : truth) << args[0];
    EXPECT_EQ(e.process_working_directory(), want) << e.process_command_line();
    dir_of[static_cast<pid_t>(e.process_pid())] = want;
    ++execs[e.process_command_line()];
  }
  EXPECT_EQ(execs,
            (std::map<std::string, int>{
                {"/bin/true a", 10}, {"/bin/true b", 10}, {"sleep 3", 30}, {"sleep 4", 30}}));
  int forks = 0;
  std::vector<v1::Event> subshells;
  std::set<pid_t> exited;
  for (const auto& e : collector_.Snapshot()) {
    if (e.process_parent_pid() != pid) continue;
    if (e.event_action() == "exit") exited.insert(static_cast<pid_t>(e.process_pid()));
    if (e.event_action() != "fork") continue;
    EXPECT_EQ(e.process_executable(), sh);
    auto it = dir_of.find(static_cast<pid_t>(e.process_pid()));
    if (it != dir_of.end()) {
      ++forks;  // a sleep's (or an unfolded /bin/true's) fork: its exec says where it ran
      EXPECT_EQ(e.process_working_directory(), it->second);
    } else {
      subshells.push_back(e);
    }
  }
  EXPECT_GE(forks, 60);  // at least every sleep's
  // (exit 3) in the first directory, (exit 4) in the second
  ASSERT_EQ(subshells.size(), 2u);
  if (subshells[1].timestamp() < subshells[0].timestamp()) std::swap(subshells[0], subshells[1]);
  EXPECT_EQ(subshells[0].process_working_directory(), cwd);
  EXPECT_EQ(subshells[1].process_working_directory(), dir.string());
  EXPECT_EQ(exited.size(), 82u);  // every child's exit, whatever the map forgot
  fs::remove_all(dir);
}

// A vfork-style child (posix_spawn) of a parent whose image was reported: its fork is held in the
// kernel and folded into its exec; when it reports something else first (a file a spawn file
// action creates), or exits without an exec, the fork event is sent before that, as usual.
TEST_F(EbpfTest, AVforkChildsForkIsFoldedIntoItsExecOrSentBeforeItsOtherEvents) {
  StartSource();
  const pid_t self = ::getpid();
  const std::string cwd = fs::current_path().string();
  const std::string self_exe = test::ReadLink("/proc/self/exe");
  // A plain fork's record carries this process's paths, which the sensor then takes as reported
  // for it too (VG_FORK_PATHS_ALSO_PARENTS): its spawns' forks can be held from now on.
  pid_t forked = ::fork();
  if (forked == 0) ::_exit(0);
  ASSERT_GT(forked, 0);
  ::waitpid(forked, nullptr, 0);
  auto plain = Wait(
      [&](const v1::Event& e) { return e.event_action() == "fork" && e.process_pid() == forked; });
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->process_executable(), self_exe);

  auto spawn = [&](const char* path, posix_spawn_file_actions_t* actions) {
    pid_t pid = -1;
    char* argv[] = {const_cast<char*>(path), nullptr};
    int rc = ::posix_spawn(&pid, path, actions, nullptr, argv, environ);
    int status = -1;
    if (pid > 0) ::waitpid(pid, &status, 0);
    return std::pair{rc, pid > 0 ? WEXITSTATUS(status) : -1};
  };

  // 1. Spawned and exec'd: one exec event stands for the fork.
  pid_t folded = -1;
  {
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    ASSERT_EQ(::posix_spawn(&folded, "/bin/true", nullptr, nullptr, argv, environ), 0);
    ::waitpid(folded, nullptr, 0);
  }
  auto exec = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exec" && e.process_pid() == folded; });
  ASSERT_TRUE(exec);
  EXPECT_EQ(exec->process_executable(), RealPath("/bin/true"));
  EXPECT_EQ(exec->process_parent_pid(), self);
  EXPECT_EQ(exec->process_working_directory(), cwd);  // the parent's, as reported
  EXPECT_EQ(Extra(*exec, kParentStartTicksKey),
            std::to_string(procfs::ReadStat(self)->start_ticks));
  auto folded_exit = WaitForExit(folded);
  ASSERT_TRUE(folded_exit);
  EXPECT_EQ(Extra(*folded_exit, kStartTicksKey), Extra(*exec, kStartTicksKey));
  EXPECT_EQ(IndexOf(folded, "fork"), -1);

  // 2. An exec that fails: the child exits 127, its fork goes out before its exit.
  EXPECT_EQ(spawn("/nonexistent/vigil-no-such-binary", nullptr).first, ENOENT);
  // posix_spawn reaps such a child itself and returns no pid: find it by its parent and status.
  auto failed_exit = Wait([&](const v1::Event& e) {
    return e.event_action() == "exit" && e.process_parent_pid() == self &&
           e.process_exit_code() == 127;
  });
  ASSERT_TRUE(failed_exit);
  const auto failed = static_cast<pid_t>(failed_exit->process_pid());
  auto failed_fork = Wait(
      [&](const v1::Event& e) { return e.event_action() == "fork" && e.process_pid() == failed; });
  ASSERT_TRUE(failed_fork);
  EXPECT_EQ(failed_fork->process_parent_pid(), self);
  EXPECT_EQ(failed_fork->process_executable(), self_exe);
  EXPECT_EQ(failed_fork->process_working_directory(), cwd);
  EXPECT_EQ(Extra(*failed_fork, kStartTicksKey), Extra(*failed_exit, kStartTicksKey));
  EXPECT_LT(IndexOf(failed, "fork"), IndexOf(failed, "exit"));
  EXPECT_EQ(IndexOf(failed, "exec"), -1);

  // 3. A spawn file action creates a file under /tmp before the exec: fork, file, exec in order.
  fs::path dir = fs::temp_directory_path() / Marker();
  fs::create_directories(dir);
  const std::string out = (dir / "out").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_CREAT | O_WRONLY, 0644);
  const auto [rc3, code3] = spawn("/bin/true", &actions);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc3, 0);
  EXPECT_EQ(code3, 0);
  auto created = Wait([&](const v1::Event& e) {
    return e.event_category() == "file" && e.event_action() == "create" && e.file_path() == out;
  });
  fs::remove_all(dir);
  ASSERT_TRUE(created);
  const auto spawned = static_cast<pid_t>(created->process_pid());
  ASSERT_TRUE(WaitForExit(spawned));
  const int fork_at = IndexOf(spawned, "fork"), file_at = IndexOf(spawned, "create"),
            exec_at = IndexOf(spawned, "exec");
  EXPECT_GE(fork_at, 0);
  EXPECT_LT(fork_at, file_at);
  EXPECT_LT(file_at, exec_at);
}

// A plain fork's child (fork + execve, as a shell runs its commands) is held by the source for its
// exec, which stands for both (its parent the fork's, though that exited since); a child that does
// not exec within the hold, or reports something else first, has its fork event sent before
// anything else about it.
TEST_F(EbpfTest, AForkedChildIsReportedByItsExecOrByItsForkBeforeAnythingElse) {
  StartSource();
  const pid_t self = ::getpid();
  const std::string cwd = fs::current_path().string();
  const std::string self_exe = test::ReadLink("/proc/self/exe");

  // 1. fork + execve: the exec alone.
  pid_t execed = ::fork();
  if (execed == 0) {
    ::execl("/bin/true", "/bin/true", "vigil-fork-exec", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(execed, 0);
  ::waitpid(execed, nullptr, 0);
  ASSERT_TRUE(WaitForExit(execed));
  auto exec = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exec" && e.process_pid() == execed; });
  ASSERT_TRUE(exec);
  EXPECT_EQ(Args(*exec), (std::vector<std::string>{"/bin/true", "vigil-fork-exec"}));
  EXPECT_EQ(exec->process_parent_pid(), self);
  EXPECT_EQ(exec->process_working_directory(), cwd);
  EXPECT_EQ(ActionsOf(execed), (std::vector<std::string>{"exec", "exit"}));

  // 2. A child that does not exec: its fork event comes after the hold, while it still runs.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  UniqueFd release_pipe[2] = {UniqueFd(pipe_fds[0]), UniqueFd(pipe_fds[1])};
  pid_t worker = ::fork();
  if (worker == 0) {
    char c;
    (void)!::read(release_pipe[0].get(), &c, 1);  // until the test has seen its fork
    ::_exit(0);
  }
  ASSERT_GT(worker, 0);
  auto worker_fork = Wait(
      [&](const v1::Event& e) { return e.event_action() == "fork" && e.process_pid() == worker; });
  int status = 0;
  const pid_t still_running = ::waitpid(worker, &status, WNOHANG);
  ASSERT_EQ(::write(release_pipe[1].get(), "x", 1), 1);
  ::waitpid(worker, nullptr, 0);
  ASSERT_TRUE(worker_fork);
  EXPECT_EQ(still_running, 0);  // the fork event did not wait for the exit
  EXPECT_EQ(worker_fork->process_parent_pid(), self);
  EXPECT_EQ(worker_fork->process_executable(), self_exe);
  EXPECT_EQ(worker_fork->process_working_directory(), cwd);
  ASSERT_TRUE(WaitForExit(worker));
  EXPECT_EQ(ActionsOf(worker), (std::vector<std::string>{"fork", "exit"}));

  // 3. A child that creates a file and then execs: fork, file, exec.
  fs::path dir = fs::temp_directory_path() / Marker();
  fs::create_directories(dir);
  const std::string out = (dir / "out").string();
  pid_t writer = ::fork();
  if (writer == 0) {
    int fd = ::open(out.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ::execl("/bin/true", "/bin/true", static_cast<char*>(nullptr));
    ::_exit(fd >= 0 ? 127 : 126);
  }
  ASSERT_GT(writer, 0);
  ::waitpid(writer, nullptr, 0);
  ASSERT_TRUE(WaitForExit(writer));
  fs::remove_all(dir);
  EXPECT_EQ(ActionsOf(writer), (std::vector<std::string>{"fork", "create", "exec", "exit"}));

  // 4. The parent forks and exits at once; its child execs after being reparented: the exec's
  // parent is the one that made it. The parent's own fork goes out before its child's record.
  pid_t parent = ::fork();
  if (parent == 0) {
    const pid_t made_by = ::getpid();
    if (::fork() == 0) {
      while (::getppid() == made_by) ::usleep(1000);  // until its parent exited
      ::execl("/bin/true", "/bin/true", "vigil-orphan", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::_exit(0);
  }
  ASSERT_GT(parent, 0);
  ::waitpid(parent, nullptr, 0);
  auto orphan = Wait([&](const v1::Event& e) {
    return e.event_action() == "exec" && e.process_args_size() == 2 &&
           e.process_args(1) == "vigil-orphan";
  });
  ASSERT_TRUE(orphan);
  EXPECT_EQ(orphan->process_parent_pid(), parent);
  const auto child = static_cast<pid_t>(orphan->process_pid());
  ASSERT_TRUE(WaitForExit(child));
  EXPECT_EQ(ActionsOf(child), (std::vector<std::string>{"exec", "exit"}));
  EXPECT_EQ(ActionsOf(parent), (std::vector<std::string>{"fork", "exit"}));

  // 5. A process execs while its child's fork is held: the child's fork event goes first (the
  // enricher gives it the parent's fields as they were, before the exec).
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  pid_t execer = ::fork();
  if (execer == 0) {
    if (::fork() == 0) {
      char c;
      (void)!::read(gate[0], &c, 1);
      ::_exit(0);
    }
    ::execl("/bin/true", "/bin/true", "vigil-execer", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(execer, 0);
  ::waitpid(execer, nullptr, 0);
  auto kept = Wait([&](const v1::Event& e) {
    return e.event_action() == "fork" && e.process_parent_pid() == execer;
  });
  ASSERT_EQ(::write(gate[1], "x", 1), 1);
  ::close(gate[0]);
  ::close(gate[1]);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->process_executable(), self_exe);
  ASSERT_TRUE(WaitForExit(execer));
  const int child_fork_at = IndexOf(static_cast<pid_t>(kept->process_pid()), "fork");
  const int exec_at = IndexOf(execer, "exec");
  EXPECT_GE(child_fork_at, 0);
  EXPECT_LT(child_fork_at, exec_at);
  EXPECT_EQ(ActionsOf(execer), (std::vector<std::string>{"fork", "exec", "exit"}));
}

// A vfork parent resumes when its child's exec switches memory, before the exec's record is
// written, and may exit first (a daemon's double fork does): the child's exec, folded with its
// fork, still gets the working directory its parent last reported, though the parent's exit was
// read first.
TEST_F(EbpfTest, AVforkChildWhoseParentExitsAtOnceKeepsItsWorkingDirectory) {
  StartSource();
  const std::string cwd = fs::current_path().string();
  std::vector<pid_t> parents;
  for (int i = 0; i < 5; ++i) {
    pid_t parent = ::fork();
    if (parent == 0) {
      if (::vfork() == 0) {
        ::execl("/bin/true", "/bin/true", static_cast<char*>(nullptr));
        ::_exit(127);
      }
      ::_exit(0);
    }
    ASSERT_GT(parent, 0);
    ::waitpid(parent, nullptr, 0);
    parents.push_back(parent);
  }
  for (pid_t parent : parents) {
    auto exec = Wait([&](const v1::Event& e) {
      return e.event_action() == "exec" && e.process_parent_pid() == parent;
    });
    ASSERT_TRUE(exec) << parent;
    EXPECT_EQ(exec->process_executable(), RealPath("/bin/true"));
    EXPECT_EQ(exec->process_working_directory(), cwd) << parent;
  }
}

// The kernel keeps one state per process, whichever thread forks, execs or exits: a process whose
// threads spawn (Python's subprocess: vfork-style children) and change the working directory has
// every child's exec with the truth, the folds the process's last record allows, and one exit,
// its last thread's. (The source's own hold is off: which forks the kernel folds is under test.)
TEST_F(EbpfTest, ThreadsThatSpawnShareTheirProcesssStateAndOnlyTheLastThreadExits) {
  EbpfSourceOptions options;
  options.fork_hold = std::chrono::milliseconds(0);
  StartSource(options);
  fs::path dir = fs::temp_directory_path() / Marker();
  fs::create_directories(dir);
  const std::string program =
      "import os, subprocess, threading\n"
      "def run(arg, chdir=None):\n"
      "    if chdir: os.chdir(chdir)\n"
      "    subprocess.run(['/bin/true', arg], check=True)\n"
      "run('a')\n"
      "t = threading.Thread(target=run, args=('b', '" +
      dir.string() +
      "'))\n"
      "t.start(); t.join()\n"
      "for arg in ('c', 'd'):\n"
      "    t = threading.Thread(target=run, args=(arg,)); t.start(); t.join()\n";
  pid_t pid = 0;
  ASSERT_EQ(RunAndWait({"/usr/bin/python3", "-c", program}, &pid), 0);
  ASSERT_TRUE(Wait(
      [&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == pid; }));
  const std::string cwd = fs::current_path().string();
  std::map<std::string, std::string> dir_of_arg;
  std::map<pid_t, std::string> arg_of_child;
  int exits = 0;
  for (const auto& e : collector_.Snapshot()) {
    if (e.event_action() == "exit" && e.process_pid() == pid) ++exits;
    if (e.process_parent_pid() != pid || e.event_action() != "exec") continue;
    const auto args = Args(e);
    ASSERT_EQ(args.size(), 2u);
    EXPECT_EQ(e.process_executable(), RealPath("/bin/true"));
    dir_of_arg[args[1]] = e.process_working_directory();
    arg_of_child[static_cast<pid_t>(e.process_pid())] = args[1];
  }
  EXPECT_EQ(dir_of_arg,
            (std::map<std::string, std::string>{
                {"a", cwd}, {"b", dir.string()}, {"c", dir.string()}, {"d", dir.string()}}));
  EXPECT_EQ(exits, 1);  // the threads' exits are not the process's
  // A vfork-style child's fork is folded into its exec when it runs what its process last
  // reported; b's ran in the directory its thread had just changed to: sent, with it.
  std::vector<std::string> forks;
  for (const auto& e : collector_.Snapshot()) {
    auto it = arg_of_child.find(static_cast<pid_t>(e.process_pid()));
    if (e.event_action() != "fork" || it == arg_of_child.end()) continue;
    forks.push_back(it->second);
    EXPECT_EQ(e.process_working_directory(), dir.string());
  }
  EXPECT_EQ(forks, std::vector<std::string>{"b"});
  fs::remove_all(dir);
}

TEST_F(EbpfTest, ForkAndExitWithExitCodes) {
  StartSource();
  pid_t pid = 0;
  int status = RunAndWait({"/bin/sh", "-c", "(exit 3); exit 7"}, &pid);
  EXPECT_EQ(WEXITSTATUS(status), 7);
  auto fork = Wait([&](const v1::Event& e) {
    return e.event_action() == "fork" && e.process_parent_pid() == pid;
  });
  ASSERT_TRUE(fork);
  EXPECT_EQ(fork->process_executable(), RealPath("/bin/sh"));
  const auto child = fork->process_pid();
  auto child_exit = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == child; });
  ASSERT_TRUE(child_exit);
  EXPECT_EQ(child_exit->process_exit_code(), 3);
  EXPECT_EQ(Extra(*child_exit, kStartTicksKey), Extra(*fork, kStartTicksKey));
  auto exit = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == pid; });
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->process_exit_code(), 7);
  EXPECT_EQ(exit->event_type(), "end");
  EXPECT_GT(exit->process_end(), 0);
  // Killed by a signal: 128 + signal.
  auto sleeper = Spawn({"/bin/sleep", "30"});
  ASSERT_TRUE(sleeper);
  pid_t spid = sleeper->pid;
  ASSERT_TRUE(Wait(
      [&](const v1::Event& e) { return e.event_action() == "exec" && e.process_pid() == spid; }));
  ::kill(spid, SIGKILL);
  sleeper->Finish();
  auto killed = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exit" && e.process_pid() == spid; });
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->process_exit_code(), 128 + SIGKILL);
}

// ---------------------------------------------------------------- network

struct Endpoint {
  std::string ip;
  int port = 0;
};

Endpoint Local(int fd, int family) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return {buf, ntohs(in->sin_port)};
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
  return {buf, ntohs(in6->sin6_port)};
}

sockaddr_storage Addr(int family, const char* ip, int port, socklen_t& len) {
  sockaddr_storage ss{};
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, ip, &in->sin_addr);
    len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    len = sizeof(sockaddr_in6);
  }
  return ss;
}

// A loopback connect and its accept; the accept event is checked unless !with_accept.
void CheckTcp(EbpfTest* t, Collector& collector, int family, const char* ip,
              bool with_accept = true) {
  UniqueFd listener(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  auto addr = Addr(family, ip, 0, len);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(listener.get(), 8), 0);
  Endpoint server = Local(listener.get(), family);
  UniqueFd client(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto to = Addr(family, ip, server.port, len);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), len), 0);
  Endpoint cl = Local(client.get(), family);
  UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted);
  (void)t;
  const std::string type = family == AF_INET ? "ipv4" : "ipv6";
  auto connect = collector.WaitFor(
      [&](const v1::Event& e) {
        return e.event_action() == "connect" && e.source_port() == cl.port &&
               e.destination_port() == server.port;
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(connect);
  EXPECT_EQ(connect->event_category(), "network");
  EXPECT_EQ(connect->process_pid(), ::getpid());
  EXPECT_EQ(connect->source_ip(), cl.ip);
  EXPECT_EQ(connect->destination_ip(), server.ip);
  EXPECT_EQ(connect->network_direction(), "outbound");
  EXPECT_EQ(connect->network_transport(), "tcp");
  EXPECT_EQ(connect->network_type(), type);
  EXPECT_EQ(connect->event_outcome(), "success");
  EXPECT_FALSE(connect->vigil_destination_external());
  if (!with_accept) return;
  auto accept = collector.WaitFor(
      [&](const v1::Event& e) {
        return e.event_action() == "accept" && e.source_port() == cl.port &&
               e.destination_port() == server.port;
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(accept);
  EXPECT_EQ(accept->process_pid(), ::getpid());
  EXPECT_EQ(accept->source_ip(), cl.ip);
  EXPECT_EQ(accept->destination_ip(), server.ip);
  EXPECT_EQ(accept->network_direction(), "inbound");
  EXPECT_EQ(accept->network_type(), type);
}

TEST_F(EbpfTest, TcpConnectAndAcceptIpv4) {
  StartSource();
  CheckTcp(this, collector_, AF_INET, "127.0.0.1");
}

TEST_F(EbpfTest, TcpConnectAndAcceptIpv6) {
  StartSource();
  CheckTcp(this, collector_, AF_INET6, "::1");
}

TEST_F(EbpfTest, FailedConnectAndExternalPeer) {
  EbpfSourceOptions o;
  o.internal_cidrs = {"10.0.0.0/8"};  // loopback counts as external here
  StartSource(o);
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  auto to = Addr(AF_INET, "127.0.0.1", 1, len);  // nothing listens on port 1
  EXPECT_NE(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), len), 0);
  auto connect = Wait([&](const v1::Event& e) {
    return e.event_action() == "connect" && e.destination_port() == 1 &&
           e.process_pid() == ::getpid();
  });
  ASSERT_TRUE(connect);
  EXPECT_EQ(connect->event_outcome(), "failure");
  EXPECT_TRUE(connect->vigil_destination_external());
}

TEST_F(EbpfTest, UdpFlowsAreRateLimitedPerDestination) {
  StartSource();
  CheckUdpFlows();
}

void EbpfTest::CheckUdpFlows() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  UniqueFd r(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  auto a = Addr(AF_INET, "127.0.0.1", 0, len);
  ASSERT_EQ(::bind(r.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
  Endpoint dst = Local(r.get(), AF_INET);
  auto to = Addr(AF_INET, "127.0.0.1", dst.port, len);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(::sendto(s.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), len), 1);
  }
  auto flow = Wait([&](const v1::Event& e) {
    return e.event_action() == "udp_flow" && e.destination_port() == dst.port;
  });
  ASSERT_TRUE(flow);
  EXPECT_EQ(flow->network_transport(), "udp");
  EXPECT_EQ(flow->destination_ip(), "127.0.0.1");
  EXPECT_EQ(flow->process_pid(), ::getpid());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int flows = 0;
  for (const auto& e : collector_.Snapshot()) {
    if (e.event_action() == "udp_flow" && e.destination_port() == dst.port) ++flows;
  }
  EXPECT_EQ(flows, 1);
}

// ---------------------------------------------------------------- files

void EbpfTest::CheckFileEvents() {
  fs::path dir = fs::path("/tmp") / Marker();
  fs::create_directories(dir);
  const std::string f = (dir / "f").string(), g = (dir / "g").string();
  // Relative paths resolve against the shell's cwd.
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c",
                        "cd " + dir.string() +
                            " && echo x > f && mv f g && chmod 755 g && "
                            "echo y >> g && rm g"}),
            0);
  auto find = [&](const char* action, const std::string& path) {
    return Wait([&](const v1::Event& e) {
      return e.event_category() == "file" && e.event_action() == action && e.file_path() == path;
    });
  };
  auto create = find("create", f);
  ASSERT_TRUE(create);
  EXPECT_EQ(create->event_type(), "creation");
  EXPECT_EQ(create->file_name(), "f");
  auto rename = find("rename", f);
  if (!rename) {
    for (const auto& e : collector_.Snapshot()) {
      if (e.event_category() == "file")
        ADD_FAILURE() << e.event_action() << " " << e.file_path() << " " << e.process_name();
    }
  }
  ASSERT_TRUE(rename);
  EXPECT_EQ(rename->file_target_path(), g);
  auto chmod = find("chmod", g);
  ASSERT_TRUE(chmod);
  EXPECT_EQ(chmod->file_mode(), "0755");
  auto write = find("open_write", g);
  ASSERT_TRUE(write);
  EXPECT_EQ(write->event_type(), "change");
  auto unlink = find("unlink", g);
  ASSERT_TRUE(unlink);
  EXPECT_EQ(unlink->event_type(), "deletion");
  EXPECT_EQ(unlink->process_name(), "rm");
  fs::remove_all(dir);
}

// While the reader is busy (here: held inside its batch-end callback), records pile up in the ring.
// The programs wake the reader once per wakeup_bytes of waiting data, not on every record past the
// first multiple (an interrupt per record in the traced program); and nothing is lost.
TEST_F(EbpfTest, ABusyReaderIsWokenOncePerWakeupBytesNotPerRecord) {
  EbpfSourceOptions options;
  options.snapshot_at_start = false;
  options.persistence_inventory = false;
  options.exclude_pid = -1;
  options.wakeup_bytes = 4096;
  options.poll_interval = std::chrono::milliseconds(20);
  auto made = MakeEbpfSource(options);
  ASSERT_TRUE(made) << made.error().message;
  source_ = std::move(*made);
  // The reader calls the callback after every read until TearDown stops it: the gate outlives
  // this body, and is opened however the body ends.
  struct Gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool held = false, open = false;
    void Open() {
      {
        std::lock_guard lock(mutex);
        open = true;
      }
      cv.notify_all();
    }
  };
  auto gate = std::make_shared<Gate>();
  struct Opener {
    std::shared_ptr<Gate> gate;
    ~Opener() { gate->Open(); }
  } opener{gate};
  source_->SetBatchEnd([gate] {
    std::unique_lock lock(gate->mutex);
    gate->held = true;
    gate->cv.notify_all();
    gate->cv.wait(lock, [&] { return gate->open; });
  });
  ASSERT_TRUE(source_->Start(collector_.Sink()));
  const fs::path dir = fs::path("/tmp") / Marker();
  fs::create_directories(dir);
  {
    std::unique_lock lock(gate->mutex);
    ASSERT_TRUE(gate->cv.wait_for(lock, std::chrono::seconds(10), [&] { return gate->held; }))
        << "the reader never read (the directory's creation is a record)";
  }
  const std::uint64_t wakeups_before = source_->Counters().wakeups;
  constexpr int kFiles = 1000;
  for (int i = 0; i < kFiles; ++i) {
    const std::string path = (dir / ("f" + std::to_string(i))).string();
    UniqueFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd) << path;
    ASSERT_EQ(::unlink(path.c_str()), 0);
  }
  const std::uint64_t wakeups = source_->Counters().wakeups - wakeups_before;
  gate->Open();
  auto count = [&](const char* action) {
    std::size_t n = 0;
    for (const auto& e : collector_.Snapshot())
      n += e.event_category() == "file" && e.event_action() == action &&
           e.file_path().starts_with(dir.string() + "/f");
    return n;
  };
  for (int i = 0; i < 500 && (count("create") < kFiles || count("unlink") < kFiles); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(count("create"), static_cast<std::size_t>(kFiles));
  EXPECT_EQ(count("unlink"), static_cast<std::size_t>(kFiles));
  // 2,000 records of ~100-200 bytes: ~200-400 KB, a wakeup per 4 KiB is 50-100 (CPUs crossing a
  // multiple together may add a few). One per record past the first 4 KiB would be ~1,970.
  EXPECT_GE(wakeups, 20u);
  EXPECT_LE(wakeups, 200u);
  fs::remove_all(dir);
}

TEST_F(EbpfTest, CreateRenameChmodUnlinkInAWatchedDir) {
  StartSource();
  CheckFileEvents();
}

TEST_F(EbpfTest, PathsOutsideThePrefixesAreFilteredInTheKernel) {
  EbpfSourceOptions o;
  o.file_prefixes = {"/nonexistent-prefix/"};
  StartSource(o);
  fs::path dir = fs::path("/tmp") / Marker();
  fs::create_directories(dir);
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c", "echo x > " + (dir / "f").string()}), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (const auto& e : collector_.Snapshot()) {
    EXPECT_NE(e.event_category(), "file") << e.file_path();
  }
  fs::remove_all(dir);
}

// ---------------------------------------------------------------- dns

std::vector<std::uint8_t> DnsQuery(std::uint16_t id, const std::string& name,
                                   std::uint8_t type = 1 /* A */) {
  std::vector<std::uint8_t> q = {static_cast<std::uint8_t>(id >> 8),
                                 static_cast<std::uint8_t>(id),
                                 1,
                                 0,
                                 0,
                                 1,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0};
  std::size_t start = 0;
  while (start <= name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<std::uint8_t>(dot - start));
    q.insert(q.end(), name.begin() + static_cast<long>(start),
             name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  q.push_back(0);
  q.insert(q.end(), {0, type, 0, 1});  // type, IN
  return q;
}

// Receives one query on a UDP resolver socket and, when it asks for an A record, answers it with
// 127.0.0.<last_octet> (TTL 60). False when nothing could be received.
bool AnswerOneQuery(int server, std::uint8_t last_octet) {
  std::uint8_t buf[512];
  sockaddr_storage from{};
  socklen_t flen = sizeof from;
  ssize_t n = ::recvfrom(server, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
  if (n < 12) return false;
  if (buf[n - 3] != 1) return true;  // the question's type (its low byte) is not A
  std::vector<std::uint8_t> resp(buf, buf + n);
  resp[2] = 0x81;
  resp[3] = 0x80;
  resp[7] = 1;  // one answer
  resp.insert(resp.end(), {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, last_octet});
  ::sendto(server, resp.data(), resp.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
  return true;
}

TEST_F(EbpfTest, DnsQueryAndAnswerThroughALoopbackResolver) {
  StartSource();
  CheckDnsOverUdp();
}

void EbpfTest::CheckDnsOverUdp() {
  // A tiny resolver on 127.0.0.53:53 that answers every A query with 127.0.0.1.
  UniqueFd server(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  auto saddr = Addr(AF_INET, "127.0.0.53", 53, len);
  int one = 1;
  ::setsockopt(server.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&saddr), len), 0)
      << std::strerror(errno);
  std::thread responder([&] { AnswerOneQuery(server.get(), 1); });
  const std::string name = "host-" + std::to_string(::getpid()) + ".vigil.test";
  UniqueFd client(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto q = DnsQuery(0x1234, name);
  ASSERT_EQ(::sendto(client.get(), q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&saddr), len),
            static_cast<ssize_t>(q.size()));
  std::uint8_t answer[512];
  ssize_t got = ::recvfrom(client.get(), answer, sizeof answer, 0, nullptr, nullptr);
  responder.join();
  ASSERT_GT(got, 12);

  auto query = Wait([&](const v1::Event& e) {
    return e.event_category() == "dns" && e.event_action() == "query" &&
           e.dns_question_name() == name;
  });
  ASSERT_TRUE(query);
  EXPECT_EQ(query->dns_question_type(), "A");
  EXPECT_EQ(query->destination_ip(), "127.0.0.53");
  EXPECT_EQ(query->destination_port(), 53);
  EXPECT_EQ(query->network_transport(), "udp");
  EXPECT_EQ(query->process_pid(), ::getpid());
  auto ans = Wait([&](const v1::Event& e) {
    return e.event_category() == "dns" && e.event_action() == "answer" &&
           e.dns_question_name() == name;
  });
  ASSERT_TRUE(ans);
  EXPECT_EQ(std::vector<std::string>(ans->dns_resolved_ip().begin(), ans->dns_resolved_ip().end()),
            std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(std::vector<std::string>(ans->dns_answers().begin(), ans->dns_answers().end()),
            std::vector<std::string>{"A 127.0.0.1 60"});
  EXPECT_EQ(ans->dns_response_code(), "NOERROR");
  EXPECT_EQ(ans->destination_ip(), "127.0.0.53");

  // A later connection of this process to the answer's address carries the domain.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto la = Addr(AF_INET, "127.0.0.1", 0, len);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&la), len), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  Endpoint lp = Local(listener.get(), AF_INET);
  UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto to = Addr(AF_INET, "127.0.0.1", lp.port, len);
  ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&to), len), 0);
  auto conn = Wait([&](const v1::Event& e) {
    return e.event_action() == "connect" && e.destination_port() == lp.port;
  });
  ASSERT_TRUE(conn);
  EXPECT_EQ(conn->destination_domain(), name);
}

// DNS over TCP (RFC 7766: a 2-byte length, then the message) to a resolver on 127.0.0.53:53 that
// answers every A query with 127.0.0.2; the client sends and receives with send()/recv() as
// Python's socket module does.
TEST_F(EbpfTest, DnsOverTcpThroughALoopbackResolver) {
  StartSource();
  CheckDnsOverTcp();
}

void EbpfTest::CheckDnsOverTcp(bool writev_split) {
  UniqueFd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  auto saddr = Addr(AF_INET, "127.0.0.53", 53, len);
  int one = 1;
  ::setsockopt(server.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&saddr), len), 0)
      << std::strerror(errno);
  ASSERT_EQ(::listen(server.get(), 4), 0);
  // Reads exactly n bytes (TCP may deliver a message in pieces).
  auto read_n = [](int fd, std::uint8_t* buf, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(fd, buf + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<std::size_t>(r);
    }
    return true;
  };
  std::thread responder([&] {
    UniqueFd conn(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    std::uint8_t buf[514];
    if (!read_n(conn.get(), buf, 2)) return;
    std::size_t n = static_cast<std::size_t>(buf[0] << 8 | buf[1]);
    if (n < 12 || n > 512 || !read_n(conn.get(), buf + 2, n)) return;
    std::vector<std::uint8_t> resp(buf + 2, buf + 2 + n);
    resp[2] = 0x81;
    resp[3] = 0x80;
    resp[7] = 1;  // one answer
    resp.insert(resp.end(), {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2});
    resp.insert(resp.begin(), {static_cast<std::uint8_t>(resp.size() >> 8),
                               static_cast<std::uint8_t>(resp.size() & 0xFF)});
    ::send(conn.get(), resp.data(), resp.size(), MSG_NOSIGNAL);
  });
  const std::string name = "tcp-" + std::to_string(::getpid()) + ".vigil.test";
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&saddr), len), 0);
  auto q = DnsQuery(0x4321, name);
  std::uint8_t prefix[2] = {static_cast<std::uint8_t>(q.size() >> 8),
                            static_cast<std::uint8_t>(q.size() & 0xFF)};
  if (writev_split) {
    iovec parts[2] = {{prefix, 2}, {q.data(), q.size()}};
    ASSERT_EQ(::writev(client.get(), parts, 2), static_cast<ssize_t>(q.size() + 2));
  } else {
    q.insert(q.begin(), prefix, prefix + 2);
    ASSERT_EQ(::send(client.get(), q.data(), q.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(q.size()));
  }
  std::uint8_t answer[600];
  ASSERT_TRUE(read_n(client.get(), answer, 2));
  std::size_t alen = static_cast<std::size_t>(answer[0] << 8 | answer[1]);
  ASSERT_TRUE(read_n(client.get(), answer + 2, alen));
  responder.join();

  auto query = Wait([&](const v1::Event& e) {
    return e.event_category() == "dns" && e.event_action() == "query" &&
           e.dns_question_name() == name;
  });
  ASSERT_TRUE(query);
  EXPECT_EQ(query->dns_question_type(), "A");
  EXPECT_EQ(query->network_transport(), "tcp");
  EXPECT_EQ(query->destination_ip(), "127.0.0.53");
  EXPECT_EQ(query->destination_port(), 53);
  EXPECT_EQ(query->process_pid(), ::getpid());
  auto ans = Wait([&](const v1::Event& e) {
    return e.event_category() == "dns" && e.event_action() == "answer" &&
           e.dns_question_name() == name;
  });
  ASSERT_TRUE(ans);
  EXPECT_EQ(ans->network_transport(), "tcp");
  EXPECT_EQ(std::vector<std::string>(ans->dns_resolved_ip().begin(), ans->dns_resolved_ip().end()),
            std::vector<std::string>{"127.0.0.2"});
  EXPECT_EQ(std::vector<std::string>(ans->dns_answers().begin(), ans->dns_answers().end()),
            std::vector<std::string>{"A 127.0.0.2 60"});
  EXPECT_EQ(ans->destination_ip(), "127.0.0.53");
  EXPECT_EQ(ans->destination_port(), 53);
}

TEST_F(EbpfTest, DnsAndUdpThroughTheSendAndReceiveSyscalls) {
  EbpfSourceOptions o;
  o.socket_tracepoints = false;
  StartSource(o);
  CheckUdpFlows();
  CheckDnsOverUdp();
  CheckDnsOverTcp();
}

TEST_F(EbpfTest, WithoutSyscallHooksDnsAndUdpComeFromTheSocketLayer) {
  if (!KernelHasSocketLayerTracepoints()) GTEST_SKIP() << "no sock_send_length tracepoint";
  EbpfSourceOptions o;
  o.syscall_hooks = EbpfSourceOptions::SyscallHooks::kNone;
  StartSource(o);
  CheckUdpFlows();
  CheckDnsOverUdp();
  CheckDnsOverTcp(/*writev_split=*/true);
}

// glibc's resolver sends a name's A and AAAA queries with one sendmmsg; the socket layer's
// tracepoint runs once per message without saying which: each query is reported once, with its
// own type. An answer peeked at (MSG_PEEK) and then read is one answer. A write() on a connected
// socket is a send too (the send syscall programs never saw it).
TEST_F(EbpfTest, EachQueryOfASendmmsgIsReportedOnceAndAWriteIsASend) {
  if (!KernelHasSocketLayerTracepoints()) GTEST_SKIP() << "no sock_send_length tracepoint";
  StartSource();
  UniqueFd server(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  auto saddr = Addr(AF_INET, "127.0.0.53", 53, len);
  int one = 1;
  ::setsockopt(server.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(server.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&saddr), len), 0)
      << std::strerror(errno);
  const std::string name = "mmsg-" + std::to_string(::getpid()) + ".vigil.test";
  const std::string written = "write-" + std::to_string(::getpid()) + ".vigil.test";
  std::thread responder([&] {
    // The A queries are answered (127.0.0.3), the AAAA query is not.
    for (int i = 0; i < 3 && AnswerOneQuery(server.get(), 3); ++i) {
    }
  });
  UniqueFd client(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto qa = DnsQuery(0x1111, name, 1);
  auto qaaaa = DnsQuery(0x2222, name, 28);
  iovec iov[2] = {{qa.data(), qa.size()}, {qaaaa.data(), qaaaa.size()}};
  mmsghdr msgs[2]{};
  for (int i = 0; i < 2; ++i) {
    msgs[i].msg_hdr.msg_name = &saddr;
    msgs[i].msg_hdr.msg_namelen = len;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  ASSERT_EQ(::sendmmsg(client.get(), msgs, 2, 0), 2);
  std::uint8_t answer[512];
  ASSERT_GT(::recv(client.get(), answer, sizeof answer, MSG_PEEK), 12);
  ASSERT_GT(::recv(client.get(), answer, sizeof answer, 0), 12);
  UniqueFd connected(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(connected.get(), reinterpret_cast<sockaddr*>(&saddr), len), 0);
  auto qw = DnsQuery(0x3333, written, 1);
  ASSERT_EQ(::write(connected.get(), qw.data(), qw.size()), static_cast<ssize_t>(qw.size()));
  responder.join();

  auto dns = [&](const char* action, const std::string& qname, const char* type) {
    return [=](const v1::Event& e) {
      return e.event_category() == "dns" && e.event_action() == action &&
             e.dns_question_name() == qname && (!type || e.dns_question_type() == type);
    };
  };
  ASSERT_TRUE(Wait(dns("query", name, "A")));
  ASSERT_TRUE(Wait(dns("query", name, "AAAA")));
  auto ans = Wait(dns("answer", name, "A"));
  ASSERT_TRUE(ans);
  EXPECT_EQ(std::vector<std::string>(ans->dns_resolved_ip().begin(), ans->dns_resolved_ip().end()),
            std::vector<std::string>{"127.0.0.3"});
  auto write = Wait(dns("query", written, "A"));
  ASSERT_TRUE(write);
  EXPECT_EQ(write->destination_ip(), "127.0.0.53");
  EXPECT_EQ(write->process_pid(), ::getpid());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int a = 0, aaaa = 0, answers = 0;
  for (const auto& e : collector_.Snapshot()) {
    if (dns("query", name, "A")(e)) ++a;
    if (dns("query", name, "AAAA")(e)) ++aaaa;
    if (dns("answer", name, nullptr)(e)) ++answers;
  }
  EXPECT_EQ(a, 1);
  EXPECT_EQ(aaaa, 1);
  EXPECT_EQ(answers, 1);
}

// A connection the client resets (SO_LINGER 0) before the server accepts it: accept() still
// returns it, and the accept event has the full tuple although the kernel already unhashed the
// socket (its local port reads 0 then).
TEST_F(EbpfTest, AcceptOfAConnectionResetBeforeTheAccept) {
  StartSource();
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  auto addr = Addr(AF_INET, "127.0.0.1", 0, len);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(listener.get(), 8), 0);
  Endpoint server = Local(listener.get(), AF_INET);
  Endpoint cl;
  {
    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto to = Addr(AF_INET, "127.0.0.1", server.port, len);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), len), 0);
    cl = Local(client.get(), AF_INET);
    linger lg{1, 0};
    ASSERT_EQ(::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  }  // closed: RST
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted) << std::strerror(errno);
  char byte;
  EXPECT_EQ(::recv(accepted.get(), &byte, 1, 0), -1);  // it was reset indeed
  EXPECT_EQ(errno, ECONNRESET);
  auto accept = Wait([&](const v1::Event& e) {
    return e.event_action() == "accept" && e.source_port() == cl.port;
  });
  ASSERT_TRUE(accept);
  EXPECT_EQ(accept->destination_port(), server.port);
  EXPECT_EQ(accept->source_ip(), "127.0.0.1");
  EXPECT_EQ(accept->destination_ip(), "127.0.0.1");
  EXPECT_EQ(accept->process_pid(), ::getpid());
  EXPECT_EQ(accept->network_direction(), "inbound");
}

// ---------------------------------------------------------------- persistence

TEST_F(EbpfTest, NewSystemdUnitAndCronFileArePersistenceEvents) {
  StartSource();
  const std::string marker = Marker();
  const std::string unit = "/etc/systemd/system/" + marker + ".service";
  const std::string cron = "/etc/cron.d/" + marker;
  fs::create_directories("/etc/systemd/system");
  fs::create_directories("/etc/cron.d");
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c",
                        "printf '[Service]\\nExecStart=/bin/true\\n' > " + unit +
                            " && echo '* * * * * root true' > " + cron}),
            0);
  auto unit_ev = Wait([&](const v1::Event& e) {
    return e.event_category() == "persistence" && e.file_path() == unit;
  });
  auto cron_ev = Wait([&](const v1::Event& e) {
    return e.event_category() == "persistence" && e.file_path() == cron;
  });
  fs::remove(unit);
  fs::remove(cron);
  ASSERT_TRUE(unit_ev);
  EXPECT_EQ(unit_ev->vigil_persistence_mechanism(), "systemd");
  EXPECT_EQ(unit_ev->event_action(), "create");
  ASSERT_TRUE(cron_ev);
  EXPECT_EQ(cron_ev->vigil_persistence_mechanism(), "cron");
}

// finit_module for real on a file that is no module: refused by this kernel (ENOSYS without module
// support, ENOEXEC or EPERM with it), so reported as a failed attempt with the file and the reason.
void EbpfTest::CheckFailedModuleLoad() {
  const std::string path = "/tmp/" + Marker() + ".ko";
  { std::ofstream(path) << "not a module\n"; }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  long rc = ::syscall(SYS_finit_module, fd.get(), "", 0);
  const int err = errno;
  fs::remove(path);
  ASSERT_EQ(rc, -1) << "the kernel loaded a module made of text";
  auto ev = Wait([&](const v1::Event& e) {
    return e.event_action() == "module_load" && e.file_path() == path;
  });
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->event_category(), "persistence");
  EXPECT_EQ(ev->event_type(), "info");
  EXPECT_EQ(ev->event_outcome(), "failure");
  EXPECT_EQ(ev->error_message(), std::strerror(err));
  EXPECT_EQ(ev->vigil_persistence_mechanism(), "kernel_module");
  EXPECT_EQ(ev->file_name(), fs::path(path).filename().string());
  EXPECT_EQ(ev->process_pid(), ::getpid());
}

// Raw hooks: this kernel has no finit_module tracepoint (no module support), so the default
// (per-syscall tracepoints) cannot see the attempt; with module support both do (below).
TEST_F(EbpfTest, FailedFinitModuleIsAFailedAttemptWithItsPathAndReason) {
  EbpfSourceOptions o;
  o.syscall_hooks = EbpfSourceOptions::SyscallHooks::kRaw;
  StartSource(o);
  CheckFailedModuleLoad();
}

// Both ways of hooking the syscalls (the tests above use the default, tracepoints): files, modules
// and accept (the listener's fd from the saved registers at exit) must report the same. A kernel
// without module support has no module syscall tracepoints: nothing to check then.
void EbpfTest::CheckSyscallHooks(EbpfSourceOptions::SyscallHooks hooks, bool modules) {
  EbpfSourceOptions o;
  o.syscall_hooks = hooks;
  StartSource(o);
  // What the hosts list shows.
  EXPECT_EQ(source_->Description(),
            hooks == EbpfSourceOptions::SyscallHooks::kRaw ? "ebpf (raw syscall hooks)" : "ebpf");
  CheckFileEvents();
  CheckTcp(this, collector_, AF_INET, "127.0.0.1");
  if (modules) CheckFailedModuleLoad();
}

TEST_F(EbpfTest, PerSyscallTracepointsReportFilesAcceptsAndModules) {
  const bool modules =
      ::access("/sys/kernel/tracing/events/syscalls/sys_exit_finit_module", F_OK) == 0 ||
      ::access("/sys/kernel/debug/tracing/events/syscalls/sys_exit_finit_module", F_OK) == 0;
  CheckSyscallHooks(EbpfSourceOptions::SyscallHooks::kTracepoints, modules);
}

TEST_F(EbpfTest, RawSyscallHooksReportFilesAcceptsAndModules) {
  CheckSyscallHooks(EbpfSourceOptions::SyscallHooks::kRaw, true);
}

// A 32-bit syscall (int 0x80, ia32 emulation) has its own numbers and registers: ia32 readlink is
// 85, x86-64's creat. Read as the latter, the raw hook took readlink's result (the target's length)
// for a new fd and reported whatever file that fd held. It must report nothing (the per-syscall
// tracepoints never see 32-bit syscalls; docs/sensor.md, "Not seen").
TEST_F(EbpfTest, RawHooksDoNotMistakeA32BitSyscallForA64BitOne) {
#if defined(__x86_64__)
  // The file and the link exist before the sensor starts: their creation is not under test.
  fs::path dir = fs::path("/tmp") / Marker();
  fs::create_directories(dir);
  const std::string victim = (dir / "victim").string();
  { std::ofstream(victim) << "x"; }
  constexpr int kFd = 40;
  UniqueFd opened(::open(victim.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(opened);
  ASSERT_EQ(::dup2(opened.get(), kFd), kFd);
  const std::string link = (dir / "link").string();
  ASSERT_EQ(::symlink(std::string(kFd, 'a').c_str(), link.c_str()), 0);
  StartSource([] {
    EbpfSourceOptions o;
    o.syscall_hooks = EbpfSourceOptions::SyscallHooks::kRaw;
    return o;
  }());
  // int 0x80 takes 32-bit pointers: the path and the buffer below 4 GiB.
  void* low =
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  ASSERT_NE(low, MAP_FAILED);
  char* path = static_cast<char*>(low);
  std::memcpy(path, link.c_str(), link.size() + 1);
  char* buffer = path + 2048;
  long ret = 0;
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(85L), "b"(path), "c"(buffer), "d"(1024L)
               : "memory", "cc", "r8", "r9", "r10", "r11");  // int 0x80 clears r8-r11
  ::munmap(low, 4096);
  ::close(kFd);
  if (ret == -ENOSYS) GTEST_SKIP() << "no ia32 emulation";
  ASSERT_EQ(ret, kFd) << "ia32 readlink";
  const std::string after = Marker();
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c", "exit 0", after}), 0);
  ASSERT_TRUE(Wait([&](const v1::Event& e) {
    return e.event_action() == "exec" && !e.process_args().empty() &&
           e.process_args(e.process_args_size() - 1) == after;
  }));
  for (const auto& e : collector_.Snapshot()) EXPECT_NE(e.file_path(), victim) << e.event_action();
  fs::remove_all(dir);
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

// Without syscall hooks and without the socket layer's tracepoints (a kernel before 6.3), DNS and
// UDP have no source either: the hosts list says so, and a query to a loopback resolver is not
// reported (it would have come before the exec that follows it: one ring, in order).
TEST_F(EbpfTest, WithoutSyscallHooksOrTheSocketLayerTheSensorSaysNoDnsOrUdp) {
  EbpfSourceOptions o;
  o.syscall_hooks = EbpfSourceOptions::SyscallHooks::kNone;
  o.socket_tracepoints = false;
  StartSource(o);
  EXPECT_EQ(source_->Description(), "ebpf (no syscall hooks, no DNS or UDP)");
  UniqueFd client(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  socklen_t len;
  auto to = Addr(AF_INET, "127.0.0.1", 53, len);
  const char query[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01x\x00\x00\x01\x00\x01";
  ASSERT_EQ(
      ::sendto(client.get(), query, sizeof query - 1, 0, reinterpret_cast<sockaddr*>(&to), len),
      static_cast<ssize_t>(sizeof query - 1));
  const std::string after = Marker();
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c", "exit 0", after}), 0);
  ASSERT_TRUE(Wait([&](const v1::Event& e) {
    return e.event_action() == "exec" && !e.process_args().empty() &&
           e.process_args(e.process_args_size() - 1) == after;
  }));
  for (const auto& e : collector_.Snapshot()) {
    EXPECT_FALSE(e.event_category() == "dns" || e.event_action() == "udp_flow")
        << e.event_action() << " " << e.destination_port();
  }
}

// --syscall-hooks none: processes and TCP connects are reported, the syscall events are not (a
// file or accept event would have come before the exec that follows it: one ring, in order).
TEST_F(EbpfTest, WithoutSyscallHooksOnlyProcessesAndConnectsAreReported) {
  EbpfSourceOptions o;
  o.syscall_hooks = EbpfSourceOptions::SyscallHooks::kNone;
  StartSource(o);
  EXPECT_EQ(source_->Description(), "ebpf (no syscall hooks)");
  fs::path dir = fs::path("/tmp") / Marker();
  fs::create_directories(dir);
  const std::string f = (dir / "f").string();
  pid_t pid = 0;
  ASSERT_EQ(
      RunAndWait({"/bin/sh", "-c", "echo x > " + f + " && chmod 755 " + f + " && rm " + f}, &pid),
      0);
  CheckTcp(this, collector_, AF_INET, "127.0.0.1", /*with_accept=*/false);
  const std::string after = Marker();
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c", "exit 0", after}), 0);
  auto exec = Wait([&](const v1::Event& e) {
    return e.event_action() == "exec" && !e.process_args().empty() &&
           e.process_args(e.process_args_size() - 1) == after;
  });
  ASSERT_TRUE(exec);
  auto shell = Wait(
      [&](const v1::Event& e) { return e.event_action() == "exec" && e.process_pid() == pid; });
  ASSERT_TRUE(shell);
  for (const auto& e : collector_.Snapshot()) {
    EXPECT_NE(e.event_category(), "file") << e.event_action() << " " << e.file_path();
    EXPECT_NE(e.event_action(), "accept");
  }
  fs::remove_all(dir);
}

TEST(EbpfSyscallHooksTest, ParsesTheAgentsOption) {
  using Hooks = EbpfSourceOptions::SyscallHooks;
  EXPECT_EQ(ParseSyscallHooks("auto").value(), Hooks::kAuto);
  EXPECT_EQ(ParseSyscallHooks("tracepoint").value(), Hooks::kTracepoints);
  EXPECT_EQ(ParseSyscallHooks("raw").value(), Hooks::kRaw);
  EXPECT_EQ(ParseSyscallHooks("none").value(), Hooks::kNone);
  auto bad = ParseSyscallHooks("kprobe");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("'kprobe'"), std::string::npos);
}

TEST(EbpfInventoryTest, InventoryListsExistingPersistenceFiles) {
  const std::string cron = "/etc/cron.d/" + Marker();
  fs::create_directories("/etc/cron.d");
  { std::ofstream(cron) << "# test\n"; }
  EbpfSourceOptions o;
  o.snapshot_at_start = true;
  o.exclude_pid = -1;
  auto src = MakeEbpfSource(o);
  ASSERT_TRUE(src) << src.error().message;
  Collector collector;
  ASSERT_TRUE((*src)->Start(collector.Sink()));
  auto inv = collector.WaitFor(
      [&](const v1::Event& e) { return e.event_action() == "inventory" && e.file_path() == cron; });
  auto self = collector.WaitFor([&](const v1::Event& e) {
    return e.event_action() == "snapshot" && e.process_pid() == ::getpid();
  });
  (*src)->Stop();
  fs::remove(cron);
  ASSERT_TRUE(inv);
  EXPECT_EQ(inv->event_category(), "persistence");
  EXPECT_EQ(inv->vigil_persistence_mechanism(), "cron");
  ASSERT_TRUE(self);
  EXPECT_EQ(self->event_dataset(), "vigil.ebpf");
}

// ---------------------------------------------------------------- self filter, factory

TEST(EbpfSelfTest, TheAgentsOwnActivityIsNotReported) {
  EbpfSourceOptions o;
  o.snapshot_at_start = false;
  o.persistence_inventory = false;
  o.poll_interval = std::chrono::milliseconds(20);
  auto src = MakeEbpfSource(o);  // exclude_pid 0: this process
  ASSERT_TRUE(src) << src.error().message;
  Collector collector;
  ASSERT_TRUE((*src)->Start(collector.Sink()));
  fs::path dir = fs::path("/tmp") / Marker();
  fs::create_directories(dir);
  { std::ofstream(dir / "own") << "x"; }
  pid_t pid = 0;
  RunAndWait({"/bin/true"}, &pid);
  ASSERT_TRUE(collector.WaitFor([&](const v1::Event& e) { return e.process_pid() == pid; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*src)->Stop();
  fs::remove_all(dir);
  for (const auto& e : collector.Snapshot()) {
    EXPECT_NE(e.process_pid(), ::getpid()) << e.event_category() << " " << e.event_action();
  }
}

TEST(SensorFactoryTest, AutoFallsBackToProcWhenEbpfIsUnavailable) {
  auto choice = MakeSensor("auto", /*simulate_no_ebpf=*/true);
  ASSERT_TRUE(choice) << choice.error().message;
  EXPECT_EQ(choice->source->Kind(), "proc");
  EXPECT_NE(choice->note.find("eBPF unavailable"), std::string::npos) << choice->note;
  EXPECT_NE(choice->note.find("using the /proc connector"), std::string::npos) << choice->note;
}

TEST(SensorFactoryTest, AutoPicksEbpfAndExplicitKindsWork) {
  auto choice = MakeSensor("auto", false);
  ASSERT_TRUE(choice) << choice.error().message;
  EXPECT_EQ(choice->source->Kind(), "ebpf");
  auto proc = MakeSensor("proc", false);
  ASSERT_TRUE(proc);
  EXPECT_EQ(proc->source->Kind(), "proc");
  auto forced = MakeSensor("ebpf", true);
  ASSERT_FALSE(forced);
  EXPECT_NE(forced.error().message.find("eBPF"), std::string::npos);
  EXPECT_FALSE(MakeSensor("bogus", false));
}

// ---------------------------------------------------------------- cost

// Agent-side CPU per exec event: a shell outside this process runs /bin/true in a loop while the
// source decodes; this process's CPU time over the run divided by the exec events it got. Only the
// shell's children count: other /bin/true runs on a busy host are reported too.
TEST(EbpfCostTest, AgentCpuPerExecOnAStormOfBinTrue) {
  EbpfSourceOptions o;
  o.snapshot_at_start = false;
  o.persistence_inventory = false;
  auto src = MakeEbpfSource(o);
  ASSERT_TRUE(src) << src.error().message;
  std::mutex mu;
  std::vector<std::int64_t> parents;  // of each /bin/true exec
  const std::string truth = RealPath("/bin/true");
  ASSERT_TRUE((*src)->Start([&](v1::Event&& e) {
    if (e.event_action() != "exec" || e.process_executable() != truth) return;
    std::lock_guard lock(mu);
    parents.push_back(e.process_parent_pid());
  }));
  pid_t shell = 0;
  auto execs = [&] {
    std::lock_guard lock(mu);
    return static_cast<std::uint64_t>(std::count(parents.begin(), parents.end(), shell));
  };
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  constexpr int kRuns = 2000;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(RunAndWait({"/bin/sh", "-c",
                        "i=0; while [ $i -lt " + std::to_string(kRuns) +
                            " ]; do /bin/true; i=$((i+1)); done"},
                       &shell),
            0);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (int i = 0; i < 200 && execs() < kRuns; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::getrusage(RUSAGE_SELF, &after);
  auto us = [](const timeval& tv) { return tv.tv_sec * 1e6 + static_cast<double>(tv.tv_usec); };
  double cpu =
      (us(after.ru_utime) - us(before.ru_utime)) + (us(after.ru_stime) - us(before.ru_stime));
  const std::uint64_t got = execs();
  EXPECT_EQ(got, static_cast<std::uint64_t>(kRuns));
  auto c = (*src)->Counters();
  (*src)->Stop();
  EXPECT_EQ(c.dropped, 0u);
  std::printf("exec storm: %d execs in %.2fs (%.0f/s); agent CPU %.1f us per exec event\n", kRuns,
              secs, kRuns / secs, cpu / static_cast<double>(std::max<std::uint64_t>(got, 1)));
}

}  // namespace
}  // namespace vigil::agent
