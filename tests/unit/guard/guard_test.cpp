// The guard's policy planner (which paths get allow rules so that exactly the denied ones are
// refused) on a temporary tree, and the kernel's enforcement of a plan in forked children.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "agent/guard/audit_control.hpp"
#include "agent/guard/denial_listener.hpp"
#include "agent/guard/landlock.hpp"
#include "agent/guard/policy.hpp"

namespace fs = std::filesystem;
using namespace vigil::agent::guard;

namespace {

class GuardTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) / ("guard_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "a/b");
    fs::create_directories(root_ / "a/c");
    fs::create_directories(root_ / "d");
    fs::copy_file("/usr/bin/true", root_ / "a/b/x");
    fs::copy_file("/usr/bin/true", root_ / "a/b/y");
    fs::create_symlink(root_ / "a/b/x", root_ / "e");
    root_ = fs::canonical(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::set<fs::path> Granted(const Plan& plan) {
    return {plan.granted.begin(), plan.granted.end()};
  }

  // Runs body in a forked child and returns its exit code (the restriction stays in the child).
  static int InChild(const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(body());
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
  }

  fs::path root_;
};

TEST_F(GuardTest, PlanGrantsTheSiblingsOfEveryPathToADeniedOne) {
  auto plan = PlanGrants({root_ / "a/b/x"}, root_);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->denied, std::vector<fs::path>{root_ / "a/b/x"});
  // The symlink e is left out: its target is granted or not where it lives.
  EXPECT_EQ(Granted(*plan), (std::set<fs::path>{root_ / "a/b/y", root_ / "a/c", root_ / "d"}));
}

TEST_F(GuardTest, PlanKeepsOutermostDeniedResolvesSymlinksAndReportsMissing) {
  auto nested = PlanGrants({root_ / "a/b/x", root_ / "a"}, root_);
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->denied, std::vector<fs::path>{root_ / "a"});
  EXPECT_EQ(Granted(*nested), (std::set<fs::path>{root_ / "d"}));

  auto via_link = PlanGrants({root_ / "e"}, root_);
  ASSERT_TRUE(via_link);
  EXPECT_EQ(via_link->denied, std::vector<fs::path>{root_ / "a/b/x"});

  auto missing = PlanGrants({root_ / "nope"}, root_);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->missing, std::vector<fs::path>{root_ / "nope"});
  EXPECT_EQ(Granted(*missing), (std::set<fs::path>{root_}));  // nothing denied: all granted

  auto relative = PlanGrants({"a/b"}, root_);
  ASSERT_FALSE(relative);
  EXPECT_NE(relative.error().message.find("'a/b' is not an absolute path"), std::string::npos);
}

TEST_F(GuardTest, PresetsByNameAndUnknownOnesListTheKnown) {
  Policy policy;
  ASSERT_TRUE(AddPreset(policy, "system-readonly"));
  EXPECT_NE(std::ranges::find(policy.deny_write, fs::path("/etc")), policy.deny_write.end());
  ASSERT_TRUE(AddPreset(policy, "no-shell"));
  EXPECT_NE(std::ranges::find(policy.deny_exec, fs::path("/usr/bin/bash")), policy.deny_exec.end());
  auto unknown = AddPreset(policy, "paranoid");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find(
                "unknown preset 'paranoid' (known: no-exec-from-writable, no-outbound, "
                "no-shell, strict, system-readonly)"),
            std::string::npos);
}

TEST_F(GuardTest, TheKernelRefusesExactlyWhatThePolicyDenies) {
  ASSERT_TRUE(LandlockAbi()) << "this test needs Landlock";
  const fs::path x = root_ / "a/b/x", y = root_ / "a/b/y";
  // Execution: x is denied (also through the symlink), y is not; in a grandchild too.
  EXPECT_EQ(InChild([&] {
              Policy p;
              p.deny_exec = {x};
              if (!Restrict(p)) return 90;
              auto run = [](const fs::path& file) {
                pid_t pid = ::fork();
                if (pid == 0) {
                  ::execl(file.c_str(), file.c_str(), nullptr);
                  ::_exit(errno == EACCES ? 13 : 91);
                }
                int status = 0;
                ::waitpid(pid, &status, 0);
                return WEXITSTATUS(status);
              };
              if (run(x) != 13) return 1;
              if (run(root_ / "e") != 13) return 2;
              if (run(y) != 0) return 3;
              return 0;
            }),
            0);
  // Writes: nothing can be created, changed, renamed into or removed beneath d; elsewhere it can.
  std::FILE* f = std::fopen((root_ / "d/old").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_EQ(InChild([&] {
              Policy p;
              p.deny_write = {root_ / "d"};
              if (!Restrict(p)) return 90;
              if (::open((root_ / "d/new").c_str(), O_CREAT | O_WRONLY, 0600) >= 0) return 1;
              if (errno != EACCES) return 2;
              if (::open((root_ / "d/old").c_str(), O_WRONLY) >= 0) return 3;
              if (::unlink((root_ / "d/old").c_str()) == 0) return 4;
              int fd = ::open((root_ / "a/new").c_str(), O_CREAT | O_WRONLY, 0600);
              if (fd < 0) return 5;
              ::close(fd);
              if (::rename((root_ / "a/new").c_str(), (root_ / "d/moved").c_str()) == 0) return 6;
              if (::rename((root_ / "a/new").c_str(), (root_ / "a/c/moved").c_str()) != 0) return 7;
              return 0;
            }),
            0);
  EXPECT_TRUE(fs::exists(root_ / "d/old"));
  EXPECT_FALSE(fs::exists(root_ / "d/moved"));
}

// Outbound TCP: only the allowed port connects; with no port allowed, none does.
TEST_F(GuardTest, OnlyAllowedTcpPortsConnect) {
  auto abi = LandlockAbi();
  ASSERT_TRUE(abi && *abi >= 4) << "this test needs Landlock ABI 4";
  auto listener = [] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 4), 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return std::pair{fd, ntohs(a.sin_port)};
  };
  auto [allowed_fd, allowed] = listener();
  auto [other_fd, other] = listener();
  auto connects = [](std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    int err = errno;
    ::close(fd);
    return r == 0 ? 0 : err;
  };
  EXPECT_EQ(InChild([&] {
              Policy p;
              p.restrict_connect = true;
              p.connect_ports = {allowed};
              if (!Restrict(p)) return 90;
              if (connects(allowed) != 0) return 1;
              if (connects(other) != EACCES) return 2;
              return 0;
            }),
            0);
  EXPECT_EQ(InChild([&] {
              Policy p;
              if (!AddPreset(p, "no-outbound")) return 91;
              if (!Restrict(p)) return 90;
              return connects(allowed) == EACCES && connects(other) == EACCES ? 0 : 1;
            }),
            0);
  ::close(allowed_fd);
  ::close(other_fd);
}

// Records as this kernel wrote them (Landlock ABI 7, from dmesg), parsed and turned into events.
TEST(GuardAudit, ParsesLandlockAndSyscallRecords) {
  auto landlock = ParseAuditRecord(
      kAuditLandlockAccess,
      "audit(1795415403.257:180226): domain=1581200d2 blockers=fs.execute path=\"/usr/bin/id\" "
      "dev=\"vda\" ino=247513");
  ASSERT_TRUE(landlock);
  EXPECT_EQ(landlock->serial, 180226u);
  EXPECT_EQ(landlock->time_ns, 1795415403257000000);
  EXPECT_EQ(landlock->Get("path"), "/usr/bin/id");
  EXPECT_EQ(landlock->Get("blockers"), "fs.execute");
  auto syscall = ParseAuditRecord(
      kAuditSyscall,
      "audit(1795415403.257:180226): arch=c000003e syscall=59 success=no exit=-13 "
      "a0=55e5beb35c28 a1=55e59ec88858 a2=55e59ec88868 a3=8 items=0 ppid=29884 pid=29885 "
      "auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) "
      "ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" key=(null)");
  ASSERT_TRUE(syscall);
  auto e = DenialEvent(*landlock, &*syscall);
  EXPECT_EQ(e.event_category(), "policy");
  EXPECT_EQ(e.event_action(), "exec_denied");
  EXPECT_EQ(e.file_path(), "/usr/bin/id");
  EXPECT_EQ(e.process_pid(), 29885);
  EXPECT_EQ(e.process_parent_pid(), 29884);
  EXPECT_EQ(e.process_executable(), "/usr/bin/dash");
  EXPECT_EQ(e.process_name(), "sh");
  EXPECT_EQ(e.rule_id(), "landlock:1581200d2");
  EXPECT_EQ(e.timestamp(), 1795415403257000000);

  // A path with a space comes hex-encoded; a write denial; damaged records are refused.
  auto hex = ParseAuditRecord(kAuditLandlockAccess,
                              "audit(1.002:3): domain=1 blockers=fs.make_reg "
                              "path=2F746D702F6120620A dev=\"vda\" ino=1");
  ASSERT_TRUE(hex);
  EXPECT_EQ(hex->Get("path"), "/tmp/a b\n");
  EXPECT_EQ(DenialEvent(*hex, nullptr).event_action(), "write_denied");
  EXPECT_FALSE(ParseAuditRecord(kAuditLandlockAccess, "audit(1.002:3) domain=1"));
  EXPECT_FALSE(ParseAuditRecord(kAuditLandlockAccess, "audit(x.002:3): domain=1"));
  EXPECT_FALSE(ParseAuditRecord(kAuditLandlockAccess, "audit(1.002:3): path=\"/unterminated"));
}

// The kernel's own records of a real denial reach a listening DenialListener as a policy event
// naming the denied file and the process that tried.
TEST_F(GuardTest, ARealDenialBecomesAPolicyEvent) {
  ASSERT_TRUE(LandlockAbi()) << "this test needs Landlock";
  ASSERT_TRUE(EnsureAuditEnabled()) << "as guard exec does: Landlock records only with audit on";
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<vigil::v1::Event> events;
  DenialListener listener([&](vigil::v1::Event&& e) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(e));
    cv.notify_all();
  });
  auto started = listener.Start();
  ASSERT_TRUE(started) << started.error().message;
  const fs::path x = root_ / "a/b/x";
  pid_t denied_pid = 0;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  EXPECT_EQ(InChild([&] {
              Policy p;
              p.deny_exec = {x};
              if (!Restrict(p)) return 90;
              pid_t pid = ::fork();
              if (pid == 0) {
                ::execl(x.c_str(), x.c_str(), nullptr);
                ::_exit(errno == EACCES ? 13 : 91);
              }
              (void)!::write(pipe_fds[1], &pid, sizeof pid);
              int status = 0;
              ::waitpid(pid, &status, 0);
              return WEXITSTATUS(status);
            }),
            13);
  ASSERT_EQ(::read(pipe_fds[0], &denied_pid, sizeof denied_pid),
            static_cast<ssize_t>(sizeof denied_pid));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  std::unique_lock lock(mutex);
  auto ours = [&] {
    return std::ranges::find_if(
        events, [&](const vigil::v1::Event& e) { return e.file_path() == x.string(); });
  };
  cv.wait_for(lock, std::chrono::seconds(5), [&] { return ours() != events.end(); });
  ASSERT_NE(ours(), events.end()) << "no policy event for " << x << " (" << events.size()
                                  << " other events)";
  EXPECT_EQ(ours()->event_action(), "exec_denied");
  EXPECT_EQ(ours()->process_pid(), denied_pid);
  EXPECT_EQ(ours()->extra().at("landlock.blockers"), "fs.execute");
  lock.unlock();
  listener.Stop();
  EXPECT_GE(listener.Stats().denials, 1u);
}

}  // namespace
