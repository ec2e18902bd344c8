// The guard's policy planner (which paths get allow rules so that exactly the denied ones are
// refused) on a temporary tree, and the kernel's enforcement of a plan in forked children.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

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
  EXPECT_NE(unknown.error().message.find("unknown preset 'paranoid' (known: no-exec-from-writable, "
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

}  // namespace
