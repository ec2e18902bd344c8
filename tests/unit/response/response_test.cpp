// Unit tests of response actions: ActionStore (real SQLite), CommandChannel's journal, the
// isolation nft script and the quarantine vault (real files).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/response/isolate.hpp"
#include "agent/response/quarantine.hpp"
#include "agent/uplink/command_channel.hpp"
#include "common/sha256.hpp"
#include "server/store/action_store.hpp"

namespace vigil {
namespace {

namespace fs = std::filesystem;

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vigil-response-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

using ActionStoreTest = TempDir;

TEST_F(ActionStoreTest, QueueDeliverCompleteAndAudit) {
  auto store = store::ActionStore::Open(dir_ / "vigil.db");
  ASSERT_TRUE(store) << store.error().message;
  auto& s = **store;
  auto a = s.Create({.actor = "alice",
                     .type = "kill",
                     .params = R"({"entity_id":"e1","tree":true})",
                     .reason = "malware",
                     .agent_ids = {"agt-1", "agt-2"},
                     .payload = {}});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->targets.size(), 2u);
  EXPECT_EQ(a->status, "pending");

  auto q1 = s.Undelivered("agt-1", false);
  ASSERT_TRUE(q1);
  ASSERT_EQ(q1->size(), 1u);
  EXPECT_EQ((*q1)[0].type, "kill");
  EXPECT_EQ((*q1)[0].payload, R"({"entity_id":"e1","tree":true})");
  ASSERT_TRUE(s.MarkSent((*q1)[0].id));
  // Sent but unanswered: redelivered on a new channel, not to the live one.
  EXPECT_EQ(s.Undelivered("agt-1", true)->size(), 0u);
  EXPECT_EQ(s.Undelivered("agt-1", false)->size(), 1u);
  // Another agent cannot answer agt-1's command.
  EXPECT_FALSE(*s.Complete("agt-2", (*q1)[0].id, true, "", "{}"));
  EXPECT_TRUE(*s.Complete("agt-1", (*q1)[0].id, true, "", R"({"killed":[]})"));
  // The first answer stands.
  EXPECT_TRUE(*s.Complete("agt-1", (*q1)[0].id, false, "late", ""));
  EXPECT_EQ(s.Undelivered("agt-1", false)->size(), 0u);

  auto q2 = s.Undelivered("agt-2", false);
  ASSERT_EQ(q2->size(), 1u);
  ASSERT_TRUE(s.Complete("agt-2", (*q2)[0].id, false, "no such process", ""));
  auto got = s.Get(a->id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->status, "failed");
  EXPECT_EQ((*got)->actor, "alice");
  EXPECT_EQ((*got)->reason, "malware");
  EXPECT_EQ((*got)->targets[0].status, "done");
  EXPECT_EQ((*got)->targets[0].result, R"({"killed":[]})");
  EXPECT_EQ((*got)->targets[1].error, "no such process");

  // Following: nothing after the current sequence; a new action shows up.
  const auto seq = s.Sequence();
  EXPECT_EQ(s.List(seq, 100)->size(), 0u);
  ASSERT_TRUE(s.Create({.actor = "bob",
                        .type = "release",
                        .params = "{}",
                        .reason = "",
                        .agent_ids = {"agt-1"},
                        .payload = {}}));
  auto after = s.List(seq, 100);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].actor, "bob");
  EXPECT_EQ(s.List(0, 100)->size(), 2u);
}

TEST_F(ActionStoreTest, FleetWideActionsReachHostsThatEnrollLater) {
  auto store = store::ActionStore::Open(dir_ / "vigil.db");
  ASSERT_TRUE(store) << store.error().message;
  auto& s = **store;
  const std::string block = R"({"sha256":["aa"]})", unblock = R"({"sha256":["bb"]})";
  ASSERT_TRUE(s.Create({.actor = "alice",
                        .type = "block-hash",
                        .params = block,
                        .reason = "r",
                        .agent_ids = {"agt-1"},
                        .payload = {},
                        .fleet_wide = true}));
  // Not a standing order: a kill of all hosts is for the hosts of that moment only.
  ASSERT_TRUE(s.Create({.actor = "alice",
                        .type = "kill",
                        .params = "{}",
                        .reason = "r",
                        .agent_ids = {"agt-1"},
                        .payload = {}}));
  auto unblocked = s.Create({.actor = "bob",
                             .type = "unblock-hash",
                             .params = unblock,
                             .reason = "r",
                             .agent_ids = {"agt-1"},
                             .payload = {},
                             .fleet_wide = true});
  ASSERT_TRUE(unblocked);

  EXPECT_EQ(*s.AdoptFleetWide("agt-1"), 0);  // already a target of both
  const auto seq = s.Sequence();
  EXPECT_EQ(*s.AdoptFleetWide("agt-2"), 2);
  EXPECT_GT(s.Sequence(), seq);              // followers of the audit log see it
  EXPECT_EQ(*s.AdoptFleetWide("agt-2"), 0);  // once
  auto queued = s.Undelivered("agt-2", false);
  ASSERT_TRUE(queued);
  ASSERT_EQ(queued->size(), 2u);
  EXPECT_EQ((*queued)[0].type, "block-hash");  // in the order the actions were taken
  EXPECT_EQ((*queued)[0].payload, block);
  EXPECT_EQ((*queued)[1].type, "unblock-hash");
  EXPECT_EQ((*queued)[1].payload, unblock);
  auto got = s.Get(unblocked->id);
  ASSERT_TRUE(got && *got);
  ASSERT_EQ((*got)->targets.size(), 2u);
  EXPECT_EQ((*got)->targets[1].agent_id, "agt-2");
  EXPECT_EQ((*got)->status, "pending");
  // Survives a restart of the server.
  store->reset();
  auto reopened = store::ActionStore::Open(dir_ / "vigil.db");
  ASSERT_TRUE(reopened);
  EXPECT_EQ(*(*reopened)->AdoptFleetWide("agt-3"), 2);
}

TEST_F(ActionStoreTest, AuditLogIsAppendOnly) {
  {
    auto store = store::ActionStore::Open(dir_ / "vigil.db");
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->Create({.actor = "a",
                                  .type = "release",
                                  .params = "{}",
                                  .reason = "r",
                                  .agent_ids = {"x"},
                                  .payload = {}}));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "vigil.db").c_str(), &db), SQLITE_OK);
  for (const char* sql : {"DELETE FROM actions", "UPDATE actions SET actor='mallory'",
                          "DELETE FROM action_log", "UPDATE action_log SET what='done'"}) {
    char* err = nullptr;
    EXPECT_NE(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << sql;
    ASSERT_NE(err, nullptr);
    EXPECT_NE(std::string(err).find("append-only"), std::string::npos) << err;
    sqlite3_free(err);
  }
  sqlite3_close(db);
}

using CommandJournalTest = TempDir;

TEST_F(CommandJournalTest, RedeliveredCommandRunsOnceAcrossRestarts) {
  int runs = 0;
  auto make = [&] {
    auto c = std::make_unique<agent::CommandChannel>(agent::CommandChannelOptions{
        .journal = dir_ / "commands.journal", .agent_version = "test", .report = {}});
    c->Register("count", [&](const nlohmann::json& p) {
      ++runs;
      return agent::CommandOutcome{true, "", {{"n", p.value("n", 0)}}};
    });
    return c;
  };
  {
    auto c = make();
    ASSERT_TRUE(c->Start());
    auto o = c->Execute("cmd-1", "count", R"({"n":7})");
    EXPECT_TRUE(o.ok);
    EXPECT_EQ(o.result["n"], 7);
    auto again = c->Execute("cmd-1", "count", R"({"n":7})");
    EXPECT_TRUE(again.ok);
    EXPECT_EQ(again.result["n"], 7);
    EXPECT_EQ(runs, 1);
    auto unknown = c->Execute("cmd-2", "nope", "{}");
    EXPECT_FALSE(unknown.ok);
    EXPECT_NE(unknown.error.find("nope"), std::string::npos);
    c->Stop();
  }
  {
    auto c = make();  // the agent restarted: the journal answers
    ASSERT_TRUE(c->Start());
    auto o = c->Execute("cmd-1", "count", R"({"n":7})");
    EXPECT_TRUE(o.ok);
    EXPECT_EQ(o.result["n"], 7);
    EXPECT_EQ(runs, 1);
    c->Stop();
  }
  // A command that started but never finished (the agent died) is not run again.
  {
    std::ofstream(dir_ / "commands.journal", std::ios::app)
        << R"({"id":"cmd-3","state":"started","type":"count"})"
        << "\n";
    auto c = make();
    ASSERT_TRUE(c->Start());
    auto o = c->Execute("cmd-3", "count", "{}");
    EXPECT_FALSE(o.ok);
    EXPECT_NE(o.error.find("not run a second time"), std::string::npos);
    EXPECT_EQ(runs, 1);
    c->Stop();
  }
}

TEST(IsolationScript, KeepsServerDnsAndAllowList) {
  agent::response::IsolationRules rules{.server_ips = {"10.0.0.1", "fd00::1"},
                                        .server_port = 8444,
                                        .resolvers = {"10.0.0.53"},
                                        .allow = {"192.168.1.0/24"}};
  auto script = agent::response::IsolationScript(rules);
  for (const char* want : {"table inet vigil_isolation {", "policy drop;", "iif \"lo\" accept",
                           "ip daddr { 10.0.0.1 } tcp dport 8444 accept",
                           "ip6 daddr { fd00::1 } tcp dport 8444 accept",
                           "ip saddr { 10.0.0.1 } tcp sport 8444 accept",
                           "ip daddr { 10.0.0.53 } meta l4proto { tcp, udp } th dport 53 accept",
                           "ip daddr { 192.168.1.0/24 } accept", "chain forward"})
    EXPECT_NE(script.find(want), std::string::npos) << want << "\n" << script;
}

using QuarantineTest = TempDir;

TEST_F(QuarantineTest, RoundTripIsByteIdenticalWithMetadata) {
  const fs::path file = dir_ / "evil.sh";
  std::string content = "#!/bin/sh\necho evil\n";
  for (int i = 0; i < 1000; ++i) content += static_cast<char>(i * 7);
  std::ofstream(file, std::ios::binary) << content;
  ASSERT_EQ(::chmod(file.c_str(), 04751), 0);
  timespec times[2] = {{1'600'000'000, 123}, {1'600'000'100, 456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);

  agent::response::Quarantine vault(dir_ / "vault");
  auto added = vault.Add(file.string());
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_FALSE(fs::exists(file));
  const std::string id = (*added)["id"];
  EXPECT_EQ((*added)["sha256"], Sha256Hex(content));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "vault" / (id + ".bin")).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0400u);
  ASSERT_EQ(::stat((dir_ / "vault").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  auto list = vault.List();
  ASSERT_TRUE(list);
  ASSERT_EQ((*list)["entries"].size(), 1u);
  EXPECT_EQ((*list)["entries"][0]["path"], file.string());

  auto restored = vault.Restore(id);
  ASSERT_TRUE(restored) << restored.error().message;
  std::ifstream in(file, std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(back, content);
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04751u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'600'000'100);
  EXPECT_EQ(st.st_mtim.tv_nsec, 456789);
  EXPECT_EQ((*vault.List())["entries"].size(), 0u);
  EXPECT_FALSE(vault.Restore(id));  // gone from the vault
  EXPECT_FALSE(vault.Restore("../../etc/passwd"));
}

}  // namespace
}  // namespace vigil
