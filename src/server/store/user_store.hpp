// The console's people: user accounts (argon2id password hashes, libsodium's crypto_pwhash_str)
// and their login sessions (random tokens, only a SHA-256 of each stored, with an absolute
// expiry and a per-session CSRF token). Own SQLite connection to the store's database file, own
// tables (users, sessions); see docs/security.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "server/store/sqlite_util.hpp"
#include "server/store/store.hpp"

namespace vigil::store {

struct UserRecord {
  std::string name;
  Role role = Role::Viewer;
  std::int64_t created_ns = 0;
  std::int64_t updated_ns = 0;
  std::int64_t last_login_ns = 0;
};

// What a login hands out: the cookie's secret and the CSRF token the page sends back.
struct NewSession {
  std::string token;  // goes into the HttpOnly cookie; only its SHA-256 is stored
  std::string csrf;   // sent by the page in X-CSRF-Token on every non-GET request
  std::string user;
  Role role = Role::Viewer;
  std::int64_t expires_ns = 0;
};

// A valid session, as the API's authentication sees it (the role is the user's current one).
struct SessionInfo {
  std::string user;
  Role role = Role::Viewer;
  std::string csrf;
  std::int64_t expires_ns = 0;
};

class UserStore {
 public:
  static constexpr std::size_t kMinPasswordLength = 8;
  static constexpr std::size_t kMaxPasswordLength = 1024;

  // Opens (and creates) the tables in the store's database file. Use this, not the constructor.
  static Result<std::unique_ptr<UserStore>> Open(const std::filesystem::path& db_path);
  UserStore() = default;

  // Names are 1-64 letters, digits, '.', '_', '-', '@'. Errors say which rule was broken.
  Result<void> AddUser(const std::string& name, const std::string& password, Role role);
  Result<void> SetPassword(const std::string& name, const std::string& password);  // ends sessions
  Result<void> SetRole(const std::string& name, Role role);
  Result<void> RemoveUser(const std::string& name);  // ends its sessions
  Result<std::vector<UserRecord>> ListUsers();
  Result<std::size_t> CountUsers();

  // Checks the password (constant work whether or not the user exists) and opens a session.
  // The error is the same for an unknown user and a wrong password.
  Result<NewSession> Login(const std::string& name, const std::string& password,
                           std::int64_t ttl_ns);
  // The session behind a cookie token, if it exists and has not expired.
  Result<std::optional<SessionInfo>> Authenticate(const std::string& token);
  Result<void> Logout(const std::string& token);

 private:
  Result<void> CheckPassword(const std::string& password) const;
  Result<std::string> Hash(const std::string& password) const;

  std::mutex mu_;  // guards db_
  sqlite::DbPtr db_;
  std::string dummy_hash_;  // verified against for unknown users, so timing does not tell
};

// Secrets for sessions: 32 random bytes as hex.
Result<std::string> RandomToken();
// Equal strings, in time that does not depend on where they differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace vigil::store
