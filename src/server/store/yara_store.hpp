// YARA rule sets kept by the server: every upload of a name is a new version (sources stored
// compressed, validated by compiling before they are stored), so a scan job names exactly the
// rules it ran with. Its own SQLite connection to the store's database file (WAL).
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {

struct YaraSource {
  std::string name_space;
  std::string origin;  // the uploader's path, for messages
  std::string text;
};

struct YaraRuleSetInfo {
  std::string name;
  std::int64_t version = 0;  // 1, 2, ... per name
  std::string sha256;        // the compiled set's version digest (namespaces + sources)
  std::int64_t rule_count = 0;
  std::int64_t files = 0;
  std::int64_t bytes = 0;  // of sources
  std::string owner;
  std::int64_t created_ns = 0;
};

class YaraRuleStore {
 public:
  static Result<std::unique_ptr<YaraRuleStore>> Open(const std::filesystem::path& db_path);

  // Stores a new version of name (the caller compiled it); returns its info. Uploading the same
  // sources as the latest version returns that version unchanged.
  Result<YaraRuleSetInfo> Add(const std::string& name, const std::vector<YaraSource>& sources,
                              const std::string& sha256, std::int64_t rule_count,
                              const std::string& owner);
  // Latest version of every set that is not removed.
  Result<std::vector<YaraRuleSetInfo>> List();
  // Every version of name, newest first (empty: unknown or removed).
  Result<std::vector<YaraRuleSetInfo>> Versions(const std::string& name);
  // The sources of name at version (0 = latest).
  Result<std::optional<std::pair<YaraRuleSetInfo, std::vector<YaraSource>>>> Get(
      const std::string& name, std::int64_t version = 0);
  // Removes every version of name; false when there was none.
  Result<bool> Remove(const std::string& name);

 private:
  explicit YaraRuleStore(sqlite::DbPtr db) : db_(std::move(db)) {}
  std::mutex mu_;
  sqlite::DbPtr db_;
};

// Rule set names: 1-64 of letters, digits, '.', '_', '-'.
bool ValidRuleSetName(const std::string& name);

}  // namespace vigil::store
