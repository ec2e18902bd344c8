// DeriveIsolation over a real ActionStore (SQLite in a temp dir): a host is isolated once its
// agent confirmed an isolate, released by a confirmed release, a newer action still on its way is
// pending, and a failed one is reported without changing the state.
#include "server/api/host_state.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace vigil::server {
namespace {

namespace fs = std::filesystem;

class HostStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vigil-host-state-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto opened = store::ActionStore::Open(dir_ / "vigil.db");
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  // Creates an action on agents; returns its id.
  std::int64_t Act(const std::string& type, std::vector<std::string> agents) {
    auto a = store_->Create({.actor = "alice",
                             .type = type,
                             .params = "{}",
                             .reason = "test",
                             .agent_ids = std::move(agents),
                             .payload = {}});
    EXPECT_TRUE(a) << a.error().message;
    return a ? a->id : 0;
  }
  // The agent answers its oldest undelivered command.
  void Answer(const std::string& agent, bool ok, const std::string& error = "") {
    auto q = store_->Undelivered(agent, false);
    ASSERT_TRUE(q && !q->empty());
    ASSERT_TRUE(*store_->Complete(agent, q->front().id, ok, error, "{}"));
  }
  std::map<std::string, HostIsolation> State() {
    auto all = store_->List(0, 1000);
    EXPECT_TRUE(all);
    return DeriveIsolation(*all);
  }
  fs::path dir_;
  std::unique_ptr<store::ActionStore> store_;
};

TEST_F(HostStateTest, ConfirmedPendingAndFailed) {
  Act("kill", {"a1"});  // other actions do not count
  Answer("a1", true);
  EXPECT_TRUE(State().empty());

  const auto isolate = Act("isolate", {"a1", "a2"});
  auto s = State();
  EXPECT_FALSE(s["a1"].isolated);
  EXPECT_EQ(s["a1"].pending, "isolate");
  EXPECT_EQ(s["a1"].pending_action, isolate);

  Answer("a1", true);
  Answer("a2", false, "nft: permission denied");
  s = State();
  EXPECT_TRUE(s["a1"].isolated);
  EXPECT_EQ(s["a1"].action, isolate);
  EXPECT_GT(s["a1"].since_ns, 0);
  EXPECT_EQ(s["a1"].pending, "");
  EXPECT_FALSE(s["a2"].isolated);
  EXPECT_EQ(s["a2"].failed, "nft: permission denied");
  EXPECT_EQ(s["a2"].pending, "");

  const auto release = Act("release", {"a1"});
  s = State();
  EXPECT_TRUE(s["a1"].isolated) << "still isolated until the agent confirms the release";
  EXPECT_EQ(s["a1"].pending, "release");
  Answer("a1", true);
  s = State();
  EXPECT_FALSE(s["a1"].isolated);
  EXPECT_EQ(s["a1"].action, release);
  EXPECT_EQ(s["a1"].pending, "");
}

}  // namespace
}  // namespace vigil::server
