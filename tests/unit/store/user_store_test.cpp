// Unit tests of the console's users and sessions: argon2id hashes, login, session expiry and
// logout, role changes, password changes ending sessions, and the commit listener of the store.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "server/store/store.hpp"
#include "server/store/user_store.hpp"

namespace vigil::store {
namespace {

namespace fs = std::filesystem;

class UserStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vigil-user-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto users = UserStore::Open(dir_ / "vigil.db");
    ASSERT_TRUE(users) << users.error().message;
    users_ = std::move(*users);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::unique_ptr<UserStore> users_;
};

TEST_F(UserStoreTest, LoginWithTheRightPasswordOnly) {
  ASSERT_TRUE(users_->AddUser("alice", "correct horse", Role::Analyst));
  auto wrong = users_->Login("alice", "wrong horse", 60'000'000'000);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message, "wrong user name or password");
  auto unknown = users_->Login("bob", "correct horse", 60'000'000'000);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "wrong user name or password");

  auto session = users_->Login("alice", "correct horse", 60'000'000'000);
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ(session->token.size(), 64u);
  EXPECT_EQ(session->csrf.size(), 64u);
  EXPECT_NE(session->token, session->csrf);
  auto who = users_->Authenticate(session->token);
  ASSERT_TRUE(who && *who);
  EXPECT_EQ((*who)->user, "alice");
  EXPECT_EQ((*who)->role, Role::Analyst);
  EXPECT_EQ((*who)->csrf, session->csrf);
  // A token that differs in one digit is not a session.
  std::string other = session->token;
  other[0] = other[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(*users_->Authenticate(other));
}

TEST_F(UserStoreTest, RulesForNamesAndPasswords) {
  auto short_password = users_->AddUser("alice", "short", Role::Viewer);
  ASSERT_FALSE(short_password);
  EXPECT_NE(short_password.error().message.find("at least 8"), std::string::npos);
  EXPECT_FALSE(users_->AddUser("bad name", "long enough", Role::Viewer));
  EXPECT_FALSE(users_->AddUser("", "long enough", Role::Viewer));
  ASSERT_TRUE(users_->AddUser("alice", "long enough", Role::Viewer));
  auto again = users_->AddUser("alice", "long enough 2", Role::Admin);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("exists already"), std::string::npos);
  EXPECT_EQ(*users_->CountUsers(), 1u);
}

TEST_F(UserStoreTest, StoredAsArgon2idHashes) {
  ASSERT_TRUE(users_->AddUser("alice", "correct horse", Role::Viewer));
  auto list = users_->ListUsers();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  // The hash is not part of the record handed out; read it from the file.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "vigil.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT password_hash FROM users", -1, &stmt, nullptr);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  std::string hash = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
  EXPECT_EQ(hash.find("correct horse"), std::string::npos);
}

TEST_F(UserStoreTest, SessionsExpireAndEndAtLogout) {
  ASSERT_TRUE(users_->AddUser("alice", "correct horse", Role::Viewer));
  auto brief = users_->Login("alice", "correct horse", 1'000'000);  // 1 ms
  ASSERT_TRUE(brief);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(*users_->Authenticate(brief->token));

  auto session = users_->Login("alice", "correct horse", 60'000'000'000);
  ASSERT_TRUE(session);
  EXPECT_TRUE(*users_->Authenticate(session->token));
  ASSERT_TRUE(users_->Logout(session->token));
  EXPECT_FALSE(*users_->Authenticate(session->token));
}

TEST_F(UserStoreTest, RoleChangesApplyAtOncePasswordChangesEndSessions) {
  ASSERT_TRUE(users_->AddUser("alice", "correct horse", Role::Viewer));
  auto session = users_->Login("alice", "correct horse", 60'000'000'000);
  ASSERT_TRUE(session);
  ASSERT_TRUE(users_->SetRole("alice", Role::Admin));
  EXPECT_EQ((*users_->Authenticate(session->token))->role, Role::Admin);
  ASSERT_TRUE(users_->SetPassword("alice", "battery staple"));
  EXPECT_FALSE(*users_->Authenticate(session->token));
  EXPECT_FALSE(users_->Login("alice", "correct horse", 60'000'000'000));
  EXPECT_TRUE(users_->Login("alice", "battery staple", 60'000'000'000));
  ASSERT_TRUE(users_->RemoveUser("alice"));
  EXPECT_FALSE(users_->RemoveUser("alice"));
  EXPECT_FALSE(users_->SetRole("alice", Role::Viewer));
}

TEST(ConstantTimeEquals, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

TEST(CommitListener, SeesEachAppendAfterItCommitted) {
  fs::path dir = fs::temp_directory_path() / ("vigil-listener-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto store = OpenSqliteStore({dir / "vigil.db", false});
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->RegisterAgent("agt-1", "h"));
    std::vector<std::uint64_t> stored;
    std::uint64_t counted_in_db = 0;
    (*store)->AddCommitListener(
        [&](std::span<const IngestBatch> batches, const std::vector<AppendResult>& results) {
          ASSERT_EQ(batches.size(), results.size());
          stored.push_back(results[0].stored);
          counted_in_db = *(*store)->CountEvents(std::nullopt);  // already visible: committed
        });
    IngestBatch batch{.agent_id = "agt-1", .spool_epoch = 1, .first_sequence = 1, .events = {}};
    for (int i = 0; i < 3; ++i) {
      v1::Event e;
      e.set_timestamp(1'000 + i);
      e.set_event_category("process");
      batch.events.push_back(e);
    }
    ASSERT_TRUE((*store)->Append(std::span(&batch, 1)));
    ASSERT_TRUE((*store)->Append(std::span(&batch, 1)));  // resent: all duplicates
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_EQ(stored[0], 3u);
    EXPECT_EQ(stored[1], 0u);
    EXPECT_EQ(counted_in_db, 3u);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vigil::store
