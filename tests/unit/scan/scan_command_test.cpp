// The one-shot command: JSON lines with rule/file (files) and rule/pid (memory), exit codes,
// compile errors.
#include "agent/scan/scan_command.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using ::testing::HasSubstr;

int RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), "vigil-agent");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return RunScanCommand(static_cast<int>(argv.size()), argv.data());
}

TEST(ScanCommand, FilesJsonLines) {
  testing::TempDir dir;
  testing::WriteFile(dir / "t/a.txt", "SOMETHING_BAD");
  testing::WriteFile(dir / "t/b.txt", "fine");
  testing::WriteFile(dir / "r/bad.yar",
                     "rule bad : t1 { strings: $x = \"SOMETHING_BAD\" condition: $x }");
  ::testing::internal::CaptureStdout();
  const int rc =
      RunCli({"scan", "files", "--rules", (dir / "r").string(), "--paths", (dir / "t").string(),
              "--format", "json", "--cpu", "0", "--state-dir", (dir / "state").string()});
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 1);
  std::istringstream lines(out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 1u) << out;
  EXPECT_EQ(rows[0]["rule"], "bad");
  EXPECT_EQ(rows[0]["file"], (dir / "t/a.txt").string());
  EXPECT_EQ(rows[0]["yara.rule"], "bad");
  EXPECT_EQ(rows[0]["yara.namespace"], "r/bad");
  EXPECT_EQ(rows[0]["event.category"], "scan");
  EXPECT_EQ(rows[0]["file.size"], 13);
  EXPECT_EQ(rows[0]["file.hash.sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(std::filesystem::exists(dir / "state/scan/file-cache.bin"));
}

TEST(ScanCommand, MemoryJsonHasRuleAndPid) {
  testing::TempDir dir;
  // The child's environment holds the marker; the rule file is written after the fork.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string mark = "VIGIL";
    mark += "CMDTEST";
    mark = "VIGIL_T=" + mark;
    char* envp[] = {mark.data(), nullptr};
    execle("/bin/sleep", "sleep", "100", nullptr, envp);
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string m = "VIGIL";
  testing::WriteFile(dir / "m.yar", "rule m { strings: $a = \"" + m + "CMDTEST\" condition: $a }");
  ::testing::internal::CaptureStdout();
  const int rc = RunCli({"scan", "memory", "--rules", (dir / "m.yar").string(), "--pids",
                         std::to_string(pid), "--format", "json", "--cpu", "0"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  if (out.empty()) GTEST_SKIP() << "sleep exited before the scan";
  EXPECT_EQ(rc, 1);
  auto row = nlohmann::json::parse(out.substr(0, out.find('\n')));
  EXPECT_EQ(row["rule"], "m");
  EXPECT_EQ(row["pid"], pid);
  EXPECT_EQ(row["process.pid"], pid);
}

TEST(ScanCommand, BadRulesExitTwoWithLine) {
  testing::TempDir dir;
  testing::WriteFile(dir / "bad.yar", "rule x {\n condition: nonsense_id\n}\n");
  ::testing::internal::CaptureStderr();
  const int rc =
      RunCli({"scan", "files", "--rules", (dir / "bad.yar").string(), "--paths", "/tmp"});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 2);
  EXPECT_THAT(err, HasSubstr((dir / "bad.yar").string() + ":2: undefined identifier"));
}

}  // namespace
}  // namespace vigil::agent::scan
