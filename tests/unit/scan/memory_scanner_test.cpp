// Memory scan of child processes: a marker in the heap, in a process whose binary was deleted,
// and in a memfd-backed executable mapping; the targets keep running and are never stopped.
#include "agent/scan/memory_scanner.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "agent/scan/proc_maps.hpp"
#include "agent/sensor/procfs.hpp"
#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using namespace std::chrono_literals;

// The marker is made at run time from a random number, so neither this binary nor the parent's
// memory before the fork holds its text.
std::uint64_t RandomTag() {
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) | rd();
}
void WriteMarker(char* out, std::uint64_t tag) {  // 24 bytes, no terminator needed
  const char prefix[] = {'v', 'g', 'M', 'K', '-', '-', '-', '-'};
  std::memcpy(out, prefix, 8);
  for (int i = 0; i < 16; ++i) out[8 + i] = "0123456789abcdef"[(tag >> (4 * i)) & 0xf];
}
std::string Marker(std::uint64_t tag) {
  std::string s(24, '\0');
  WriteMarker(s.data(), tag);
  return s;
}
std::string MarkerRule(std::uint64_t tag) {
  return "rule marker { strings: $m = \"" + Marker(tag) + "\" condition: $m }";
}

class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  char State() const {
    auto s = procfs::ReadStat(pid_);
    return s ? s->state : '?';
  }

 private:
  pid_t pid_;
};

std::vector<v1::Event> ScanPid(pid_t pid, const std::string& rule) {
  std::vector<v1::Event> events;
  MemoryScanOptions options;
  options.pids = {pid};
  options.governor.cpu_percent = 0;
  options.splay_random = 0;
  ScanControl control;
  SystemClock clock;
  MemoryScanner scanner(testing::Rules(rule), options, ScanContext{"t", "", "host", "h", "boot"});
  auto s = scanner.Run(control, clock, [&](const v1::Event& e) { events.push_back(e); }, {});
  EXPECT_TRUE(s.has_value());
  return events;
}

void WaitFor(const std::function<bool()>& ready) {
  for (int i = 0; i < 200 && !ready(); ++i) std::this_thread::sleep_for(10ms);
}

TEST(MemoryScanner, FindsMarkerInHeapOfRunningProcess) {
  const std::uint64_t tag = RandomTag();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char> heap(1 << 16);  // well above the small-buffer size: on the heap
    WriteMarker(heap.data() + 1000, tag);
    (void)!write(ready[1], "r", 1);
    for (;;) pause();
  }
  Child child(pid);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  close(ready[1]);
  auto events = ScanPid(pid, MarkerRule(tag));
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];
  EXPECT_EQ(e.yara_rule(), "marker");
  EXPECT_EQ(e.process_pid(), pid);
  EXPECT_EQ(e.process_entity_id().size(), 32u) << e.process_entity_id();
  EXPECT_FALSE(e.process_executable().empty());
  EXPECT_EQ(e.vigil_memory_permissions(), "rw-p");
  EXPECT_FALSE(e.vigil_memory_file_backed());
  EXPECT_TRUE(e.vigil_memory_address().starts_with("0x"));
  ASSERT_EQ(e.yara_strings_size(), 1);
  EXPECT_TRUE(e.yara_strings(0).starts_with("$m@0x"));
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_NE(child.State(), 'T');
  EXPECT_NE(child.State(), 't');
}

TEST(MemoryScanner, FindsMarkerInProcessWhoseBinaryWasDeleted) {
  const std::uint64_t tag = RandomTag();
  testing::TempDir dir;
  const auto copy = dir / "sleeper";
  std::filesystem::copy_file("/bin/sleep", copy);
  std::filesystem::permissions(copy, std::filesystem::perms::owner_all);
  const std::string env = "VIGIL_TEST_MARK=" + Marker(tag);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    char arg1[] = "1000";
    char* argv[] = {const_cast<char*>(copy.c_str()), arg1, nullptr};
    char* envp[] = {const_cast<char*>(env.c_str()), nullptr};
    execve(copy.c_str(), argv, envp);
    _exit(127);
  }
  Child child(pid);
  WaitFor([&] { return procfs::ReadExe(pid).value_or("") == copy.string(); });
  ASSERT_EQ(procfs::ReadExe(pid).value_or(""), copy.string());
  std::filesystem::remove(copy);
  WaitFor([&] { return procfs::ReadExe(pid).value_or("").ends_with("(deleted)"); });
  auto events = ScanPid(pid, MarkerRule(tag));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].process_pid(), pid);
  EXPECT_EQ(events[0].process_executable(), copy.string() + " (deleted)");
  EXPECT_EQ(events[0].vigil_memory_permissions(), "rw-p");  // the stack holds the environment
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_NE(child.State(), 'T');
}

TEST(MemoryScanner, FindsMarkerInMemfdExecutableMapping) {
  const std::uint64_t tag = RandomTag();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = memfd_create("vigil-test", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 4096) != 0) _exit(1);
    void* w = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (w == MAP_FAILED) _exit(2);
    WriteMarker(static_cast<char*>(w) + 100, tag);
    munmap(w, 4096);
    void* x = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    if (x == MAP_FAILED) _exit(3);
    (void)!write(ready[1], "r", 1);
    for (;;) pause();
  }
  Child child(pid);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  close(ready[1]);
  auto events = ScanPid(pid, MarkerRule(tag));
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];
  EXPECT_EQ(e.vigil_memory_permissions(), "r-xp");
  EXPECT_TRUE(e.vigil_memory_file_backed());
  EXPECT_EQ(e.file_path(), "/memfd:vigil-test (deleted)");
  EXPECT_EQ(e.vigil_memory_size(), 4096);
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_NE(child.State(), 'T');
}

TEST(MemoryScanner, VanishedProcessIsTolerated) {
  auto events = ScanPid(999'999'999, "rule r { condition: true }");
  EXPECT_TRUE(events.empty());
}

TEST(ProcMaps, ParsesAndSelectsRegions) {
  const auto regions = ParseMaps(
      "55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]\n"
      "7f0000000000-7f0000001000 r-xp 00001000 fd:01 1234                       /usr/bin/x\n"
      "7f0000002000-7f0000003000 r-xs 00000000 00:01 99                         /memfd:m "
      "(deleted)\n"
      "7f0000004000-7f0000005000 rw-s 00000000 00:05 17                         /dev/dri/card0\n"
      "7f0000006000-7f0000007000 ---p 00000000 00:00 0 \n"
      "7ffd00000000-7ffd00002000 r--p 00000000 00:00 0                          [vvar]\n"
      "7f0000008000-7f0000009000 rw-s 00000000 00:01 5                          /dev/zero "
      "(deleted)\n"
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n");
  ASSERT_EQ(regions.size(), 8u);
  EXPECT_EQ(regions[0].path, "[heap]");
  EXPECT_EQ(regions[0].size(), 0x21000u);
  EXPECT_FALSE(regions[0].file_backed());
  EXPECT_TRUE(regions[1].file_backed());
  EXPECT_EQ(regions[1].inode, 1234u);
  EXPECT_TRUE(regions[2].file_backed());
  EXPECT_FALSE(regions[6].file_backed());
  std::vector<bool> scan;
  for (const auto& r : regions) scan.push_back(ShouldScanRegion(r, 1 << 30));
  EXPECT_EQ(scan, (std::vector<bool>{true, true, true, false, false, false, true, false}));
  EXPECT_FALSE(ShouldScanRegion(regions[0], 0x1000));  // above the size limit
}

}  // namespace
}  // namespace vigil::agent::scan
