// Tests of the enricher: entity ids across fork/exec/exit and pid reuse, parent attribution from
// the process table and from /proc, executable hashes (checked against an independent OpenSSL
// digest), the hash cache's keys and LRU bound, user names, and pass-through of events it does not
// know.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "agent/enrich/enricher.hpp"
#include "agent/enrich/hash_cache.hpp"
#include "agent/enrich/process_table.hpp"
#include "agent/sensor/proc_source.hpp"
#include "agent/sensor/procfs.hpp"
#include "common/entity_id.hpp"
#include "test_util.hpp"

namespace vigil::agent {
namespace {

// Pids above the kernel's largest pid_max (2^22): never a live process on this host.
constexpr std::int64_t kFakePid = 9'000'000;

HostInfo TestHost() { return {"host-1", "boot-1", "testhost", "test os"}; }

Enricher MakeEnricher(std::size_t max_processes = 32768, std::size_t hash_entries = 8192) {
  return Enricher({.host = TestHost(),
                   .agent_id = "agent-1",
                   .max_processes = max_processes,
                   .hash_cache_entries = hash_entries});
}

v1::Event ProcessEvent(std::string_view action, std::int64_t pid,
                       std::optional<std::uint64_t> ticks = std::nullopt) {
  v1::Event e;
  e.set_timestamp(1);
  e.set_event_category("process");
  e.set_event_action(std::string(action));
  e.set_event_type(action == "exit" ? "end" : "start");
  e.set_process_pid(pid);
  if (ticks) (*e.mutable_extra())[kStartTicksKey] = std::to_string(*ticks);
  return e;
}

// An exec of pid (started at `ticks`) whose parent is ppid, started at `parent_ticks`.
v1::Event ChildExec(std::int64_t pid, std::uint64_t ticks, std::int64_t ppid,
                    std::uint64_t parent_ticks) {
  auto e = ProcessEvent("exec", pid, ticks);
  e.set_process_parent_pid(ppid);
  (*e.mutable_extra())[kParentStartTicksKey] = std::to_string(parent_ticks);
  return e;
}

// SHA-256 of a file's bytes, read here and digested with OpenSSL EVP directly.
std::string IndependentSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kDigits[digest[i] >> 4]);
    hex.push_back(kDigits[digest[i] & 15]);
  }
  return hex;
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("vigil-enrich-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

TEST(Enricher, StampsHostAndAgent) {
  auto enricher = MakeEnricher();
  v1::Event e;
  e.set_event_category("network");
  enricher.Enrich(e);
  EXPECT_EQ(e.host_id(), "host-1");
  EXPECT_EQ(e.host_name(), "testhost");
  EXPECT_EQ(e.agent_id(), "agent-1");

  v1::Event other;
  other.set_host_id("elsewhere");
  other.set_agent_id("agent-9");
  enricher.Enrich(other);
  EXPECT_EQ(other.host_id(), "elsewhere");
  EXPECT_EQ(other.agent_id(), "agent-9");
}

TEST(Enricher, EntityIdIsStablePerLifetimeAndDiffersOnPidReuse) {
  auto enricher = MakeEnricher();
  const std::string expected = ProcessEntityId("host-1", "boot-1", kFakePid, 100);

  auto fork = ProcessEvent("fork", kFakePid, 100);
  enricher.Enrich(fork);
  EXPECT_EQ(fork.process_entity_id(), expected);
  EXPECT_FALSE(fork.extra().contains(kStartTicksKey));  // consumed

  auto exec = ProcessEvent("exec", kFakePid, 100);
  enricher.Enrich(exec);
  EXPECT_EQ(exec.process_entity_id(), expected);  // exec keeps the fork's identity

  auto exec_no_ticks = ProcessEvent("exec", kFakePid);  // /proc already gone: table answers
  enricher.Enrich(exec_no_ticks);
  EXPECT_EQ(exec_no_ticks.process_entity_id(), expected);

  auto exit = ProcessEvent("exit", kFakePid);
  enricher.Enrich(exit);
  EXPECT_EQ(exit.process_entity_id(), expected);

  auto reused = ProcessEvent("exec", kFakePid, 250);  // same pid, a later process
  enricher.Enrich(reused);
  EXPECT_FALSE(reused.process_entity_id().empty());
  EXPECT_NE(reused.process_entity_id(), expected);
  EXPECT_EQ(reused.process_entity_id(), ProcessEntityId("host-1", "boot-1", kFakePid, 250));

  // An exec at a reused pid whose exit was missed replaces the stale entry.
  auto again = ProcessEvent("exec", kFakePid, 400);
  enricher.Enrich(again);
  EXPECT_EQ(again.process_entity_id(), ProcessEntityId("host-1", "boot-1", kFakePid, 400));
}

TEST(Enricher, ParentFieldsComeFromTheTable) {
  auto enricher = MakeEnricher();
  auto parent = ProcessEvent("exec", kFakePid, 50);
  parent.set_process_name("bash");
  parent.set_process_executable("/usr/bin/bash");
  parent.set_process_command_line("bash -l");
  parent.set_process_start(123456789);
  enricher.Enrich(parent);

  auto child = ChildExec(kFakePid + 1, 60, kFakePid, 50);
  enricher.Enrich(child);
  EXPECT_EQ(child.process_parent_entity_id(), parent.process_entity_id());
  EXPECT_EQ(child.process_parent_name(), "bash");
  EXPECT_EQ(child.process_parent_executable(), "/usr/bin/bash");
  EXPECT_EQ(child.process_parent_command_line(), "bash -l");
  EXPECT_EQ(child.process_parent_start(), 123456789);
  EXPECT_FALSE(child.extra().contains(kParentStartTicksKey));

  // A fork child inherits its parent's command line; its exit is attributed from the table.
  auto fork = ProcessEvent("fork", kFakePid + 2, 70);
  fork.set_process_parent_pid(kFakePid);
  enricher.Enrich(fork);
  EXPECT_EQ(fork.process_command_line(), "bash -l");
  EXPECT_EQ(fork.process_parent_name(), "bash");

  auto exit = ProcessEvent("exit", kFakePid + 1);
  exit.set_process_name("truncated-comm");
  const auto before = enricher.Stats().processes;
  enricher.Enrich(exit);
  EXPECT_EQ(exit.process_entity_id(), child.process_entity_id());
  EXPECT_EQ(exit.process_parent_pid(), kFakePid);
  EXPECT_EQ(exit.process_parent_entity_id(), parent.process_entity_id());
  EXPECT_EQ(enricher.Stats().processes, before - 1);  // removed after the exit

  // A network event of the parent gets its identity.
  v1::Event net;
  net.set_event_category("network");
  net.set_process_pid(kFakePid);
  enricher.Enrich(net);
  EXPECT_EQ(net.process_entity_id(), parent.process_entity_id());
  EXPECT_EQ(net.process_executable(), "/usr/bin/bash");
}

// A source may leave a fork's image out (the eBPF source when its own memory of the parent was
// full): the executable and name come from the parent's entry; what the fork carries itself
// stays.
TEST(Enricher, AForkWithoutItsImageGetsItsParents) {
  auto enricher = MakeEnricher();
  auto parent = ProcessEvent("exec", kFakePid, 50);
  parent.set_process_name("python3.11");
  parent.set_process_executable("/usr/bin/python3.11");
  parent.set_process_working_directory("/srv/app");
  enricher.Enrich(parent);

  auto fork = ProcessEvent("fork", kFakePid + 1, 60);
  fork.set_process_parent_pid(kFakePid);
  fork.set_process_name("python3");  // the source's 15-byte comm
  enricher.Enrich(fork);
  EXPECT_EQ(fork.process_executable(), "/usr/bin/python3.11");
  EXPECT_EQ(fork.process_name(), "python3.11");
  EXPECT_FALSE(fork.has_process_working_directory());  // not kept in the table

  auto walked = ProcessEvent("fork", kFakePid + 2, 61);
  walked.set_process_parent_pid(kFakePid);
  walked.set_process_name("python3.12");
  walked.set_process_executable("/usr/bin/python3.12");  // what the fork carries stays
  walked.set_process_working_directory("/tmp");
  enricher.Enrich(walked);
  EXPECT_EQ(walked.process_executable(), "/usr/bin/python3.12");
  EXPECT_EQ(walked.process_working_directory(), "/tmp");

  // The fork's own entry has the image too, for its children.
  auto grandchild = ProcessEvent("fork", kFakePid + 3, 62);
  grandchild.set_process_parent_pid(kFakePid + 1);
  enricher.Enrich(grandchild);
  EXPECT_EQ(grandchild.process_executable(), "/usr/bin/python3.11");
}

// A child's exec can be read after its parent's exit (a vfork parent resumes when the child's exec
// switches memory, before the exec's record is written; a daemon's double fork): the parent is
// still named from the recently exited processes, by pid and start ticks, not a later process
// with its pid.
TEST(Enricher, AParentThatJustExitedIsStillNamed) {
  auto enricher = MakeEnricher();
  auto parent = ProcessEvent("exec", kFakePid, 50);
  parent.set_process_name("crashpad");
  parent.set_process_executable("/usr/lib/chromium/crashpad");
  parent.set_process_command_line("crashpad --daemonize");
  enricher.Enrich(parent);
  auto parent_exit = ProcessEvent("exit", kFakePid, 50);
  enricher.Enrich(parent_exit);

  auto child = ChildExec(kFakePid + 1, 60, kFakePid, 50);
  enricher.Enrich(child);
  EXPECT_EQ(child.process_parent_entity_id(), parent.process_entity_id());
  EXPECT_EQ(child.process_parent_executable(), "/usr/lib/chromium/crashpad");
  EXPECT_EQ(child.process_parent_command_line(), "crashpad --daemonize");

  // Another process that had the pid (other start ticks) is not that parent.
  auto other = ChildExec(kFakePid + 2, 70, kFakePid, 51);
  enricher.Enrich(other);
  EXPECT_FALSE(other.has_process_parent_executable());
  EXPECT_NE(other.process_parent_entity_id(), parent.process_entity_id());
}

TEST(Enricher, ParentMissingFromTheTableIsReadFromProc) {
  auto enricher = MakeEnricher();
  auto self = procfs::ReadStat(::getpid());
  ASSERT_TRUE(self);
  auto child = ProcessEvent("exec", kFakePid, 10);
  child.set_process_parent_pid(::getpid());
  enricher.Enrich(child);
  EXPECT_EQ(child.process_parent_entity_id(),
            ProcessEntityId("host-1", "boot-1", ::getpid(), self->start_ticks));
  EXPECT_EQ(child.process_parent_executable(), test::ReadLink("/proc/self/exe"));
  EXPECT_EQ(child.process_parent_start(), procfs::StartTicksToNs(self->start_ticks));
  EXPECT_GE(enricher.Stats().proc_lookups, 1u);
}

TEST(Enricher, ExecutableHashMatchesAnIndependentDigestAndIsCached) {
  auto enricher = MakeEnricher();
  const std::string sh = test::RealPath("/bin/sh");
  auto child = test::Spawn({"/bin/sh", "-c", "read -r _"});
  ASSERT_TRUE(child);
  // The spawned child may still be between fork and exec: wait until /proc/PID/exe is the shell.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (test::ReadLink("/proc/" + std::to_string(child->pid) + "/exe") != sh &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto exec = ProcessEvent("exec", child->pid, 1);
  exec.set_process_executable(sh);
  enricher.Enrich(exec);
  EXPECT_EQ(exec.process_hash_sha256(), IndependentSha256(sh));
  auto stats = enricher.Stats();
  EXPECT_EQ(stats.hash_misses, 1u);
  EXPECT_EQ(stats.hash_hits, 0u);

  auto snapshot = ProcessEvent("snapshot", child->pid, 1);
  snapshot.set_process_executable(sh);
  enricher.Enrich(snapshot);
  EXPECT_EQ(snapshot.process_hash_sha256(), exec.process_hash_sha256());
  EXPECT_EQ(enricher.Stats().hash_misses, 1u);  // unchanged: a cache hit
  EXPECT_EQ(enricher.Stats().hash_hits, 1u);
  child->Finish();

  // The process is gone: the executable path is the fallback, still the same cached file.
  auto late = ProcessEvent("exec", kFakePid, 5);
  late.set_process_executable(sh);
  enricher.Enrich(late);
  EXPECT_EQ(late.process_hash_sha256(), IndependentSha256(sh));
  EXPECT_EQ(enricher.Stats().hash_misses, 1u);

  // Fork events are not hashed (the child still runs its parent's image).
  auto fork = ProcessEvent("fork", kFakePid + 7, 5);
  fork.set_process_executable(sh);
  enricher.Enrich(fork);
  EXPECT_FALSE(fork.has_process_hash_sha256());
}

// kExeIdKey's value for a file, from stat(2): what the eBPF sensor sends with an exec.
std::string ExeId(const std::string& path, std::int64_t mtime_shift = 0) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  auto ns = [](const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(ns(st.st_mtim) + mtime_shift) + ":" +
         std::to_string(ns(st.st_ctim));
}

// An exec carrying the executable's identity is hashed from the cache with no /proc or path
// access: here neither the pid nor the path exists, and only the right identity finds the hash.
TEST(Enricher, ExecWithTheExecutablesIdentityIsHashedFromTheCacheAlone) {
  auto enricher = MakeEnricher();
  const std::string sh = test::RealPath("/bin/sh");
  auto digest = enricher.Hashes().Sha256Path(sh);
  ASSERT_TRUE(digest);
  ASSERT_EQ(*digest, IndependentSha256(sh));

  auto exec = ProcessEvent("exec", kFakePid, 3);
  exec.set_process_executable("/nonexistent/vigil-test/sh");
  (*exec.mutable_extra())[kExeIdKey] = ExeId(sh);
  enricher.Enrich(exec);
  EXPECT_EQ(exec.process_hash_sha256(), *digest);
  EXPECT_FALSE(exec.extra().contains(kExeIdKey));  // consumed
  EXPECT_EQ(enricher.Stats().hash_hits, 1u);

  auto other = ProcessEvent("exec", kFakePid + 1, 3);
  other.set_process_executable("/nonexistent/vigil-test/sh");
  (*other.mutable_extra())[kExeIdKey] = ExeId(sh, 1);  // another version of the file
  enricher.Enrich(other);
  EXPECT_FALSE(other.has_process_hash_sha256());

  for (const char* bad : {"1:2:3:4", "1:2:3:4:5:6", "a:2:3:4:5", ""}) {
    auto e = ProcessEvent("exec", kFakePid + 2, 3);
    (*e.mutable_extra())[kExeIdKey] = bad;
    enricher.Enrich(e);
    EXPECT_FALSE(e.has_process_hash_sha256()) << bad;
    EXPECT_FALSE(e.extra().contains(kExeIdKey)) << bad;
  }
  EXPECT_EQ(enricher.Stats().errors, 0u);
}

TEST(HashCache, RewrittenFileGetsANewHash) {
  TempDir dir;
  const auto file = dir / "bin";
  std::ofstream(file) << "first version";
  HashCache cache(16);
  auto h1 = cache.Sha256Path(file);
  ASSERT_TRUE(h1) << h1.error().message;
  EXPECT_EQ(*h1, IndependentSha256(file));
  auto h1b = cache.Sha256Path(file);
  ASSERT_TRUE(h1b);
  EXPECT_EQ(*h1b, *h1);
  EXPECT_EQ(cache.Stats().hits, 1u);
  EXPECT_EQ(cache.Stats().misses, 1u);

  std::ofstream(file, std::ios::trunc) << "second, longer version";
  auto h2 = cache.Sha256Path(file);
  ASSERT_TRUE(h2);
  EXPECT_NE(*h2, *h1);
  EXPECT_EQ(*h2, IndependentSha256(file));
  EXPECT_EQ(cache.Stats().misses, 2u);

  // Same size, mtime put back: the ctime still tells the file changed.
  struct stat before {};
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  std::ofstream(file, std::ios::trunc) << "second, LONGER version";
  timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  auto h3 = cache.Sha256Path(file);
  ASSERT_TRUE(h3);
  EXPECT_EQ(*h3, IndependentSha256(file));
  EXPECT_NE(*h3, *h2);

  EXPECT_FALSE(cache.Sha256Path(dir / "missing"));
  EXPECT_FALSE(cache.Sha256Path("/proc"));  // not a regular file
  EXPECT_EQ(cache.Stats().errors, 2u);
}

TEST(HashCache, LruBoundHolds) {
  TempDir dir;
  HashCache cache(3);
  for (int i = 0; i < 5; ++i) {
    std::ofstream(dir / std::to_string(i)) << "file " << i;
    ASSERT_TRUE(cache.Sha256Path(dir / std::to_string(i)));
    EXPECT_LE(cache.Stats().entries, 3u);
  }
  auto stats = cache.Stats();
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.evictions, 2u);
  EXPECT_EQ(stats.misses, 5u);
  ASSERT_TRUE(cache.Sha256Path(dir / "4"));  // recent: a hit
  EXPECT_EQ(cache.Stats().hits, 1u);
  ASSERT_TRUE(cache.Sha256Path(dir / "0"));  // evicted: hashed again
  EXPECT_EQ(cache.Stats().misses, 6u);
  EXPECT_EQ(cache.Stats().entries, 3u);
}

TEST(ProcessTable, LruBoundHolds) {
  ProcessTable table(2);
  table.Upsert(1).name = "one";
  table.Upsert(2).name = "two";
  ASSERT_NE(table.Find(1), nullptr);  // 1 is now the most recent
  table.Upsert(3).name = "three";     // evicts 2
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.evictions(), 1u);
  EXPECT_EQ(table.Find(2), nullptr);
  EXPECT_EQ(table.Find(1)->name, "one");
  table.Erase(1);
  EXPECT_EQ(table.size(), 1u);
}

TEST(Enricher, ProcessTableIsBounded) {
  auto enricher = MakeEnricher(/*max_processes=*/4);
  for (int i = 0; i < 10; ++i) {
    auto e = ProcessEvent("fork", kFakePid + i, 1000 + i);
    enricher.Enrich(e);
    EXPECT_LE(enricher.Stats().processes, 4u);
  }
  EXPECT_EQ(enricher.Stats().process_evictions, 6u);
  EXPECT_EQ(enricher.Stats().events, 10u);
}

TEST(Enricher, UserAndGroupNames) {
  auto enricher = MakeEnricher();
  auto e = ProcessEvent("exec", kFakePid, 1);
  e.set_user_id("0");
  e.set_user_effective_id("0");
  e.set_group_id("0");
  enricher.Enrich(e);
  EXPECT_EQ(e.user_name(), "root");
  EXPECT_EQ(e.user_effective_name(), "root");
  EXPECT_EQ(e.group_name(), "root");

  auto unknown = ProcessEvent("exec", kFakePid + 1, 1);
  unknown.set_user_id("3999999");
  unknown.set_group_id("not-a-number");
  enricher.Enrich(unknown);
  EXPECT_FALSE(unknown.has_user_name());
  EXPECT_FALSE(unknown.has_group_name());
}

TEST(Enricher, UnknownAndForeignEventsPassThrough) {
  auto enricher = MakeEnricher();
  v1::Event odd;
  odd.set_event_category("other");
  (*odd.mutable_extra())["vendor.field"] = "x";
  v1::Event copy = odd;
  enricher.Enrich(odd);
  copy.set_host_id("host-1");
  copy.set_host_name("testhost");
  copy.set_agent_id("agent-1");
  EXPECT_EQ(odd.SerializeAsString(), copy.SerializeAsString());

  // Recorded on another host: stamped nothing local, the source-internal keys still removed.
  auto foreign = ProcessEvent("exec", ::getpid(), 77);
  foreign.set_host_id("other-host");
  foreign.set_user_id("0");
  enricher.Enrich(foreign);
  EXPECT_FALSE(foreign.has_process_entity_id());
  EXPECT_FALSE(foreign.has_process_hash_sha256());
  EXPECT_FALSE(foreign.has_user_name());
  EXPECT_TRUE(foreign.extra().empty());
  EXPECT_EQ(enricher.Stats().processes, 0u);

  // Garbage in the ticks key is dropped, not trusted.
  auto bad = ProcessEvent("exec", kFakePid, std::nullopt);
  (*bad.mutable_extra())[kStartTicksKey] = "12abc";
  enricher.Enrich(bad);
  EXPECT_FALSE(bad.has_process_entity_id());
  EXPECT_TRUE(bad.extra().empty());
  EXPECT_EQ(enricher.Stats().errors, 0u);
}

}  // namespace
}  // namespace vigil::agent
