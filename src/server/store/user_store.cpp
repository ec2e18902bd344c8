// Users and sessions for the console (see user_store.hpp).
#include "server/store/user_store.hpp"

#include <sodium.h>

#include <array>
#include <variant>

#include "common/sha256.hpp"
#include "common/time.hpp"

namespace vigil::store {
namespace {

using sqlite::ColumnText;
using sqlite::Exec;
using sqlite::Prepare;

constexpr int kBusyTimeoutMs = 10000;

Result<sqlite::StmtPtr> Bind(sqlite3* db, std::string_view sql,
                             std::initializer_list<std::variant<std::int64_t, std::string>> args) {
  auto stmt = Prepare(db, sql);
  if (!stmt) return stmt;
  int i = 1;
  for (const auto& a : args) {
    if (const auto* n = std::get_if<std::int64_t>(&a))
      sqlite3_bind_int64(stmt->get(), i, *n);
    else {
      const auto& s = std::get<std::string>(a);
      sqlite3_bind_text(stmt->get(), i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    ++i;
  }
  return stmt;
}

Result<int> Step(sqlite3* db, sqlite3_stmt* stmt, std::string_view what) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sqlite::DbFail(db, std::string(what));
  return rc;
}

Result<void> CheckName(const std::string& name) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") !=
          std::string::npos)
    return Fail("a user name is 1-64 letters, digits, '.', '_', '-' or '@'");
  return {};
}

}  // namespace

Result<std::string> RandomToken() {
  std::array<unsigned char, 32> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return ToHex(bytes.data(), bytes.size());
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::unique_ptr<UserStore>> UserStore::Open(const std::filesystem::path& db_path) {
  if (sodium_init() < 0) return Fail("libsodium cannot be initialised");
  auto users = std::make_unique<UserStore>();
  auto db = sqlite::Open(db_path.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return std::unexpected(db.error());
  users->db_ = std::move(*db);
  sqlite3* d = users->db_.get();
  sqlite3_busy_timeout(d, kBusyTimeoutMs);
  if (auto r = Exec(d, R"(
    PRAGMA journal_mode=WAL;
    CREATE TABLE IF NOT EXISTS users (
      name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
      created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,
      last_login_ns INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS sessions (
      sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
      created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
  )");
      !r)
    return Fail(db_path.string() + ": users and sessions: " + r.error().message);
  auto dummy = users->Hash("not a password of anybody's");
  if (!dummy) return std::unexpected(dummy.error());
  users->dummy_hash_ = *dummy;
  return users;
}

Result<void> UserStore::CheckPassword(const std::string& password) const {
  if (password.size() < kMinPasswordLength)
    return Fail("a password needs at least " + std::to_string(kMinPasswordLength) + " characters");
  if (password.size() > kMaxPasswordLength)
    return Fail("a password has at most " + std::to_string(kMaxPasswordLength) + " characters");
  return {};
}

Result<std::string> UserStore::Hash(const std::string& password) const {
  std::array<char, crypto_pwhash_STRBYTES> out{};
  // argon2id (libsodium's default for crypto_pwhash_str), interactive limits: 64 MiB, 2 passes.
  if (crypto_pwhash_str(out.data(), password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return Fail("hashing the password failed (out of memory?)");
  return std::string(out.data());
}

Result<void> UserStore::AddUser(const std::string& name, const std::string& password, Role role) {
  if (auto r = CheckName(name); !r) return r;
  if (auto r = CheckPassword(password); !r) return r;
  auto hash = Hash(password);
  if (!hash) return std::unexpected(hash.error());
  std::lock_guard lock(mu_);
  sqlite3* d = db_.get();
  const std::int64_t now = NowNs();
  auto stmt = Bind(d,
                   "INSERT INTO users (name, password_hash, role, created_ns, updated_ns) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                   {name, *hash, std::string(RoleName(role)), now, now});
  if (!stmt) return std::unexpected(stmt.error());
  if (auto r = Step(d, stmt->get(), "add user"); !r) return std::unexpected(r.error());
  if (sqlite3_changes(d) == 0) return Fail("a user named '" + name + "' exists already");
  return {};
}

Result<void> UserStore::SetPassword(const std::string& name, const std::string& password) {
  if (auto r = CheckPassword(password); !r) return r;
  auto hash = Hash(password);
  if (!hash) return std::unexpected(hash.error());
  std::lock_guard lock(mu_);
  sqlite3* d = db_.get();
  auto stmt = Bind(d, "UPDATE users SET password_hash = ?, updated_ns = ? WHERE name = ?",
                   {*hash, NowNs(), name});
  if (!stmt) return std::unexpected(stmt.error());
  if (auto r = Step(d, stmt->get(), "set password"); !r) return std::unexpected(r.error());
  if (sqlite3_changes(d) == 0) return Fail("no user named '" + name + "'");
  // A new password ends every session opened with the old one.
  auto end = Bind(d, "DELETE FROM sessions WHERE user = ?", {name});
  if (!end) return std::unexpected(end.error());
  if (auto r = Step(d, end->get(), "end sessions"); !r) return std::unexpected(r.error());
  return {};
}

Result<void> UserStore::SetRole(const std::string& name, Role role) {
  std::lock_guard lock(mu_);
  sqlite3* d = db_.get();
  auto stmt = Bind(d, "UPDATE users SET role = ?, updated_ns = ? WHERE name = ?",
                   {std::string(RoleName(role)), NowNs(), name});
  if (!stmt) return std::unexpected(stmt.error());
  if (auto r = Step(d, stmt->get(), "set role"); !r) return std::unexpected(r.error());
  if (sqlite3_changes(d) == 0) return Fail("no user named '" + name + "'");
  return {};
}

Result<void> UserStore::RemoveUser(const std::string& name) {
  std::lock_guard lock(mu_);
  sqlite3* d = db_.get();
  auto stmt = Bind(d, "DELETE FROM users WHERE name = ?", {name});
  if (!stmt) return std::unexpected(stmt.error());
  if (auto r = Step(d, stmt->get(), "remove user"); !r) return std::unexpected(r.error());
  if (sqlite3_changes(d) == 0) return Fail("no user named '" + name + "'");
  auto end = Bind(d, "DELETE FROM sessions WHERE user = ?", {name});
  if (!end) return std::unexpected(end.error());
  if (auto r = Step(d, end->get(), "end sessions"); !r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<UserRecord>> UserStore::ListUsers() {
  std::lock_guard lock(mu_);
  sqlite3* d = db_.get();
  auto stmt = Prepare(
      d, "SELECT name, role, created_ns, updated_ns, last_login_ns FROM users ORDER BY name");
  if (!stmt) return std::unexpected(stmt.error());
  std::vector<UserRecord> out;
  for (;;) {
    auto rc = Step(d, stmt->get(), "list users");
    if (!rc) return std::unexpected(rc.error());
    if (*rc != SQLITE_ROW) break;
    out.push_back({.name = std::string(ColumnText(stmt->get(), 0)),
                   .role = ParseRole(ColumnText(stmt->get(), 1)).value_or(Role::Viewer),
                   .created_ns = sqlite3_column_int64(stmt->get(), 2),
                   .updated_ns = sqlite3_column_int64(stmt->get(), 3),
                   .last_login_ns = sqlite3_column_int64(stmt->get(), 4)});
  }
  return out;
}

Result<std::size_t> UserStore::CountUsers() {
  std::lock_guard lock(mu_);
  auto n = sqlite::QueryInt(db_.get(), "SELECT count(*) FROM users");
  if (!n) return std::unexpected(n.error());
  return static_cast<std::size_t>(*n);
}

Result<NewSession> UserStore::Login(const std::string& name, const std::string& password,
                                    std::int64_t ttl_ns) {
  std::string hash;
  std::optional<Role> role;
  {
    std::lock_guard lock(mu_);
    sqlite3* d = db_.get();
    auto stmt = Bind(d, "SELECT password_hash, role FROM users WHERE name = ?", {name});
    if (!stmt) return std::unexpected(stmt.error());
    auto rc = Step(d, stmt->get(), "login");
    if (!rc) return std::unexpected(rc.error());
    if (*rc == SQLITE_ROW) {
      hash = ColumnText(stmt->get(), 0);
      role = ParseRole(ColumnText(stmt->get(), 1));
    }
  }
  // Verify outside the lock (argon2id takes a while); unknown users cost the same work.
  const std::string& against = role ? hash : dummy_hash_;
  const bool ok = password.size() <= kMaxPasswordLength &&
                  crypto_pwhash_str_verify(against.c_str(), password.data(), password.size()) == 0;
  if (!ok || !role) return Fail("wrong user name or password");

  auto token = RandomToken();
  auto csrf = RandomToken();
  if (!token || !csrf) return Fail("no random bytes for a session");
  const std::int64_t now = NowNs();
  NewSession session{
      .token = *token, .csrf = *csrf, .user = name, .role = *role, .expires_ns = now + ttl_ns};
  std::lock_guard lock(mu_);
  sqlite3* d = db_.get();
  // Expired sessions are swept at each login, so the table stays small.
  auto sweep = Bind(d, "DELETE FROM sessions WHERE expires_ns <= ?", {now});
  if (!sweep) return std::unexpected(sweep.error());
  if (auto r = Step(d, sweep->get(), "sweep sessions"); !r) return std::unexpected(r.error());
  auto stmt = Bind(d,
                   "INSERT INTO sessions (sha256, user, csrf, created_ns, expires_ns) "
                   "VALUES (?, ?, ?, ?, ?)",
                   {Sha256Hex(session.token), name, session.csrf, now, session.expires_ns});
  if (!stmt) return std::unexpected(stmt.error());
  if (auto r = Step(d, stmt->get(), "open session"); !r) return std::unexpected(r.error());
  auto seen = Bind(d, "UPDATE users SET last_login_ns = ? WHERE name = ?", {now, name});
  if (!seen) return std::unexpected(seen.error());
  if (auto r = Step(d, seen->get(), "last login"); !r) return std::unexpected(r.error());
  return session;
}

Result<std::optional<SessionInfo>> UserStore::Authenticate(const std::string& token) {
  if (token.size() != 64) return std::optional<SessionInfo>();
  std::lock_guard lock(mu_);
  sqlite3* d = db_.get();
  auto stmt = Bind(d,
                   "SELECT s.user, u.role, s.csrf, s.expires_ns FROM sessions s "
                   "JOIN users u ON u.name = s.user WHERE s.sha256 = ? AND s.expires_ns > ?",
                   {Sha256Hex(token), NowNs()});
  if (!stmt) return std::unexpected(stmt.error());
  auto rc = Step(d, stmt->get(), "session");
  if (!rc) return std::unexpected(rc.error());
  if (*rc != SQLITE_ROW) return std::optional<SessionInfo>();
  return std::optional<SessionInfo>(
      SessionInfo{.user = std::string(ColumnText(stmt->get(), 0)),
                  .role = ParseRole(ColumnText(stmt->get(), 1)).value_or(Role::Viewer),
                  .csrf = std::string(ColumnText(stmt->get(), 2)),
                  .expires_ns = sqlite3_column_int64(stmt->get(), 3)});
}

Result<void> UserStore::Logout(const std::string& token) {
  std::lock_guard lock(mu_);
  sqlite3* d = db_.get();
  auto stmt = Bind(d, "DELETE FROM sessions WHERE sha256 = ?", {Sha256Hex(token)});
  if (!stmt) return std::unexpected(stmt.error());
  if (auto r = Step(d, stmt->get(), "logout"); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace vigil::store
